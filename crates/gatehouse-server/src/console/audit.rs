//! An org's audit log: filter by category and action, page through the chain, a verify badge
//! (the page's script asks `GET /v1/orgs/{org}/audit/verify`; without script, "verify now"
//! renders the same report), and the chain as JSON lines to download.

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::Result;
use gatehouse_core::audit::StoredEvent;
use gatehouse_core::service::audit::MAX_LIMIT;
use gatehouse_core::service::{AuditService, OrgAccess, SessionPrincipal};
use serde::Deserialize;
use serde_json::Value;

use super::extract::SignedIn;
use super::orgs::org_access;
use super::page::{self, Chrome, Notice};
use crate::error::ApiResult;
use crate::state::AppState;

/// Events on a page unless `limit` says otherwise (at most [`MAX_LIMIT`]).
pub(super) const PAGE_SIZE: u32 = 100;
/// At most this many events are read to fill one filtered page.
const SCAN_LIMIT: usize = 20_000;
const CATEGORIES: [&str; 2] = ["audit", "security"];

/// One event as a table row.
pub struct EventRow {
    pub seq: i64,
    pub at: String,
    pub action: String,
    pub outcome: String,
    pub actor: String,
    pub ip: String,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The fields a row shows, read from the event's stored body.
pub(super) fn event_row(e: &StoredEvent) -> EventRow {
    let v: Value = serde_json::from_str(&e.body).unwrap_or(Value::Null);
    let actor = v.get("actor").map_or(String::new(), |a| {
        let kind = text(a, "type");
        match a.get("id").and_then(Value::as_str) {
            Some(id) => format!("{kind} {id}"),
            None => kind,
        }
    });
    EventRow {
        seq: e.seq,
        at: text(&v, "at"),
        action: text(&v, "action"),
        outcome: text(&v, "outcome"),
        actor,
        ip: text(&v, "ip"),
    }
}

/// The page's filters and position (`?category=&action=&after=&limit=`).
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub after: Option<i64>,
    #[serde(default)]
    pub limit: Option<u32>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub org_id: String,
    pub categories: [&'static str; 2],
    pub category: String,
    pub action: String,
    pub events: Vec<EventRow>,
    pub next_after: Option<i64>,
}

/// Up to `want` events of the chain after `after` in `category` whose action is `action` (any
/// when empty), and the `after` of the next page when there may be more.
pub async fn matching(
    audit: &AuditService,
    access: &OrgAccess,
    q: &AuditQuery,
    want: usize,
) -> Result<(Vec<EventRow>, Option<i64>)> {
    let mut rows = Vec::new();
    let mut after = q.after.unwrap_or(0);
    let mut scanned = 0;
    loop {
        let mut listing = audit
            .list(access, Some(&q.category), after, Some(MAX_LIMIT))?
            .in_pages_of(MAX_LIMIT);
        let mut read = 0;
        loop {
            let events = listing.next_page().await?;
            if events.is_empty() {
                break;
            }
            for e in &events {
                read += 1;
                scanned += 1;
                after = e.seq;
                let row = event_row(e);
                if q.action.is_empty() || row.action == q.action {
                    rows.push(row);
                    if rows.len() == want {
                        return Ok((rows, Some(after)));
                    }
                }
            }
        }
        if read < MAX_LIMIT as usize {
            return Ok((rows, None));
        }
        if scanned >= SCAN_LIMIT {
            return Ok((rows, Some(after)));
        }
    }
}

/// The page, built (without the frame's request-specific parts) from a chain listing.
pub(super) async fn audit_page(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    q: &AuditQuery,
    notice: Option<Notice>,
) -> ApiResult<AuditPage> {
    let want = q.limit.unwrap_or(PAGE_SIZE).clamp(1, MAX_LIMIT) as usize;
    let (events, next_after) = matching(&state.audit, access, q, want).await?;
    Ok(AuditPage {
        chrome: Chrome::in_org(state, session, access, "audit", "Audit log").with(notice),
        org_id: access.org().id.to_string(),
        categories: CATEGORIES,
        category: q.category.clone(),
        action: q.action.clone(),
        events,
        next_after,
    })
}

/// `GET /console/orgs/{org}/audit?category=&action=&after=&limit=`.
pub(super) async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let access = org_access(&state, &me.session, &org).await?;
    Ok(page::ok(
        &audit_page(&state, &me.session, &access, &q, None).await?,
    ))
}

/// `GET /console/orgs/{org}/audit/verify`: the chain verified now, as a notice on the page
/// (verification changes nothing, so a GET is right).
pub(super) async fn verify(
    State(state): State<AppState>,
    me: SignedIn,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = org_access(&state, &me.session, &org).await?;
    let report = state.audit.verify_org(&access).await?;
    let notice = if report.valid {
        Notice::ok(format!(
            "The chain verifies: {} events, head seq {}.",
            report.events, report.head_seq
        ))
    } else {
        Some(Notice {
            kind: "error",
            text: format!(
                "The chain is broken at seq {}.",
                report.first_bad_seq.unwrap_or_default()
            ),
        })
    };
    let q = AuditQuery::default();
    Ok(page::ok(
        &audit_page(&state, &me.session, &access, &q, notice).await?,
    ))
}

/// `GET /console/orgs/{org}/audit/export`: the whole chain as JSON lines (the format of
/// `gatehouse audit export`), read a page at a time while the browser downloads it.
pub(super) async fn export(
    State(state): State<AppState>,
    me: SignedIn,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = org_access(&state, &me.session, &org).await?;
    let first = state.audit.list(&access, None, 0, Some(MAX_LIMIT))?;
    let lines = futures_util::stream::unfold(
        (Some(first), state.clone(), access, 0_i64),
        |(listing, state, access, after)| async move {
            let mut listing = listing?;
            let mut events = match listing.next_page().await {
                Ok(p) => p,
                Err(e) => {
                    return Some((
                        Err(std::io::Error::other(e.to_string())),
                        (None, state, access, after),
                    ));
                }
            };
            if events.is_empty() {
                // This listing is spent: a full one may have more behind it.
                let next = state
                    .audit
                    .list(&access, None, after, Some(MAX_LIMIT))
                    .ok()?;
                listing = next;
                events = match listing.next_page().await {
                    Ok(p) if !p.is_empty() => p,
                    Ok(_) => return None,
                    Err(e) => {
                        return Some((
                            Err(std::io::Error::other(e.to_string())),
                            (None, state, access, after),
                        ));
                    }
                };
            }
            let last = events.last().map_or(after, |e| e.seq);
            let mut chunk = String::new();
            for e in &events {
                chunk.push_str(&e.to_json_text());
                chunk.push('\n');
            }
            Some((Ok(Bytes::from(chunk)), (Some(listing), state, access, last)))
        },
    );
    let mut response = Body::from_stream(lines).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"audit-{org}.jsonl\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
