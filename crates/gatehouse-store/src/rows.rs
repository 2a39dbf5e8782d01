//! Conversions shared by both backends: ids, times, roles, and sqlx errors to core errors.

use gatehouse_core::Error;
use gatehouse_core::error::ConflictReason;
use gatehouse_core::role::Role;
use time::OffsetDateTime;

pub(crate) fn parse_id<T: std::str::FromStr>(s: &str) -> Result<T, Error> {
    s.parse()
        .map_err(|_| Error::internal(format!("stored id is not a UUID: {s}")))
}

pub(crate) fn time_of(secs: i64) -> OffsetDateTime {
    gatehouse_core::clock::from_unix(secs)
}

pub(crate) fn parse_role(s: &str) -> Result<Role, Error> {
    Role::parse(s).ok_or_else(|| Error::internal(format!("stored role is unknown: {s}")))
}

/// Connection trouble fails closed as `Unavailable`; anything else is `Internal`.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => Error::Unavailable(e.to_string()),
        sqlx::Error::Database(ref d) if is_connection_class(d.code().as_deref()) => {
            Error::Unavailable(e.to_string())
        }
        other => Error::Internal(other.to_string()),
    }
}

/// PostgreSQL class 08 (connection exception), 57P (operator intervention: shutdown),
/// SQLite 5/6 (busy, locked).
fn is_connection_class(code: Option<&str>) -> bool {
    matches!(code, Some(c) if c.starts_with("08") || c.starts_with("57P") || c == "5" || c == "6")
}

pub(crate) fn is_unique(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// A unique violation becomes `Conflict(what)`; other errors as `db_err`.
pub(crate) fn conflict_or(e: sqlx::Error, what: ConflictReason) -> Error {
    if is_unique(&e) {
        Error::Conflict(what)
    } else {
        db_err(e)
    }
}
