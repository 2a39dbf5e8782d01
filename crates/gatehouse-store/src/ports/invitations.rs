//! Invitations: the SQL of `InvitationStore`. An invitation lives only while its inviter holds a
//! role that could issue it: creating and accepting one lock the org row and judge the inviter's
//! role as it stands inside the transaction, and a demotion or removal deletes the pending
//! invitations the member could no longer issue (`kill_invitations`, called from `orgs.rs`).

use super::prelude::*;

pub(crate) const INVITATION_COLUMNS: &str = "i.id, i.org_id, i.email, i.email_key, i.role, i.created_by, i.created_at, i.expires_at, i.accepted_at";

/// An invitation as the database returns it (the columns of [`INVITATION_COLUMNS`]).
#[derive(FromRow)]
struct InvitationRow {
    id: String,
    org_id: String,
    email: String,
    email_key: String,
    role: String,
    created_by: String,
    created_at: i64,
    expires_at: i64,
    accepted_at: Option<i64>,
}

/// An invitation joined with its org.
#[derive(FromRow)]
struct InvitationOrgRow {
    #[sqlx(flatten)]
    invitation: InvitationRow,
    #[sqlx(flatten)]
    org: OrgRow,
}

impl InvitationRow {
    fn into_invitation(self) -> Result<Invitation> {
        Ok(Invitation {
            id: parse_id(&self.id)?,
            org_id: parse_id(&self.org_id)?,
            email: self.email,
            email_key: self.email_key,
            role: parse_role(&self.role)?,
            created_by: parse_id(&self.created_by)?,
            created_at: time_of(self.created_at),
            expires_at: time_of(self.expires_at),
            accepted_at: self.accepted_at.map(time_of),
        })
    }
}

impl InvitationOrgRow {
    fn into_pair(self) -> Result<(Invitation, Org)> {
        Ok((self.invitation.into_invitation()?, self.org.into_org()?))
    }
}

impl<D: Dialect> SqlStore<D>
where
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i32: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + ColumnIndex<DbRow<D>>,
    usize: ColumnIndex<DbRow<D>>,
    for<'q> &'q [u8]: Encode<'q, D::Db>,
    str: Type<D::Db>,
    [u8]: Type<D::Db>,
{
    /// Locks the org row; `false` when the org is gone.
    pub(crate) async fn lock_org(tx: &mut Tx<D>, org: OrgId) -> Result<bool> {
        let lock = format!("SELECT id FROM orgs WHERE id = $1{}", D::FOR_UPDATE);
        Ok(sqlx::query(AssertSqlSafe(lock))
            .bind(org.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .is_some())
    }

    /// Whether `inviter` (inside the locked org) still holds a role that may issue `role`.
    pub(crate) async fn may_issue(
        tx: &mut Tx<D>,
        org: OrgId,
        inviter: UserId,
        role: Role,
    ) -> Result<bool> {
        Ok(Self::role_in(tx, org, inviter)
            .await?
            .is_some_and(|held| gatehouse_core::role::check_invite(held, role).is_ok()))
    }

    /// Deletes the pending invitations `inviter` made in `org` that `role` could not issue
    /// (`None`: the inviter left the org, so all of them).
    pub(crate) async fn kill_invitations(
        tx: &mut Tx<D>,
        org: OrgId,
        inviter: UserId,
        role: Option<Role>,
    ) -> Result<()> {
        for dead in [Role::Member, Role::Admin, Role::Owner] {
            if role.is_some_and(|held| gatehouse_core::role::check_invite(held, dead).is_ok()) {
                continue;
            }
            sqlx::query(
                "DELETE FROM invitations WHERE org_id = $1 AND created_by = $2 AND role = $3 AND accepted_at IS NULL",
            )
            .bind(org.to_string())
            .bind(inviter.to_string())
            .bind(dead.as_str())
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }
}

#[async_trait]
impl<D: Dialect> InvitationStore for SqlStore<D>
where
    <D::Db as Database>::Arguments: IntoArguments<D::Db>,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> String: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> i32: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Vec<u8>: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Option<i64>: Encode<'q, D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + ColumnIndex<DbRow<D>>,
    usize: ColumnIndex<DbRow<D>>,
    for<'q> &'q [u8]: Encode<'q, D::Db>,
    str: Type<D::Db>,
    [u8]: Type<D::Db>,
{
    async fn create_invitation(
        &self,
        i: &Invitation,
        token_digest: &[u8],
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.org_tx(i.org_id, true).await?;
        if !Self::lock_org(&mut tx, i.org_id).await?
            || Self::role_in(&mut tx, i.org_id, i.created_by)
                .await?
                .is_none()
        {
            return Err(Error::NotFound);
        }
        if !Self::may_issue(&mut tx, i.org_id, i.created_by, i.role).await? {
            return Err(Error::Forbidden(
                gatehouse_core::error::ForbiddenReason::Forbidden,
            ));
        }
        sqlx::query(
            "INSERT INTO invitations (id, org_id, email, email_key, role, token_digest, created_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(i.id.to_string())
        .bind(i.org_id.to_string())
        .bind(&i.email)
        .bind(&i.email_key)
        .bind(i.role.as_str())
        .bind(token_digest)
        .bind(i.created_by.to_string())
        .bind(unix(i.created_at))
        .bind(unix(i.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn invitation_by_digest(&self, digest: &[u8]) -> Result<Option<(Invitation, Org)>> {
        let mut tx = self.read_tx().await?;
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        D::set_local(&mut tx, INVITATION_SETTING, &hex).await?;
        let sql = format!(
            "SELECT {INVITATION_COLUMNS}, {ORG_COLUMNS} FROM invitations i JOIN orgs o ON o.id = i.org_id \
             WHERE i.token_digest = $1"
        );
        let row: Option<InvitationOrgRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.map(InvitationOrgRow::into_pair).transpose()
    }

    async fn has_pending_invitation(&self, email_key: &str, now: OffsetDateTime) -> Result<bool> {
        let mut tx = self.read_tx().await?;
        D::set_local(&mut tx, INVITED_EMAIL_SETTING, email_key).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM invitations WHERE email_key = $1 AND accepted_at IS NULL \
             AND expires_at > $2",
        )
        .bind(email_key)
        .bind(unix(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(n > 0)
    }

    async fn pending_invitations(
        &self,
        org: OrgId,
        now: OffsetDateTime,
    ) -> Result<Vec<Invitation>> {
        let mut tx = self.org_tx(org, false).await?;
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations i \
             WHERE i.org_id = $1 AND i.accepted_at IS NULL AND i.expires_at > $2 ORDER BY i.created_at, i.id"
        );
        let rows: Vec<InvitationRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(unix(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        rows.into_iter()
            .map(InvitationRow::into_invitation)
            .collect()
    }

    async fn invitation(
        &self,
        org: OrgId,
        id: gatehouse_core::ids::InvitationId,
    ) -> Result<Option<Invitation>> {
        let mut tx = self.org_tx(org, false).await?;
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations i WHERE i.org_id = $1 AND i.id = $2"
        );
        let row: Option<InvitationRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.map(InvitationRow::into_invitation).transpose()
    }

    async fn revoke_invitation(
        &self,
        org: OrgId,
        id: gatehouse_core::ids::InvitationId,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.org_tx(org, true).await?;
        let gone = sqlx::query(
            "DELETE FROM invitations WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL",
        )
        .bind(org.to_string())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if D::rows_affected(&gone) != 1 {
            return Ok(false);
        }
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn accept_invitation(
        &self,
        i: &Invitation,
        invitee: &Invitee,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()> {
        let mut tx = self.org_tx(i.org_id, true).await?;
        // The org row lock orders this accept with every role change of the inviter.
        if !Self::lock_org(&mut tx, i.org_id).await? {
            return Err(Error::NotFound);
        }
        let spent = sqlx::query(
            "UPDATE invitations SET accepted_at = $1 \
             WHERE id = $2 AND org_id = $3 AND accepted_at IS NULL AND expires_at > $1",
        )
        .bind(unix(at))
        .bind(i.id.to_string())
        .bind(i.org_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if D::rows_affected(&spent) != 1
            || !Self::may_issue(&mut tx, i.org_id, i.created_by, i.role).await?
        {
            return Err(Error::NotFound);
        }
        let user = match invitee {
            Invitee::Existing(id) => *id,
            Invitee::New(new) => {
                Self::bind_user(sqlx::query(INSERT_USER), new)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict_or(e, ConflictReason::EmailTaken))?;
                new.id
            }
        };
        Self::insert_member(&mut tx, i.org_id, user, i.role, unix(at)).await?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(user)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(user));
        Ok(())
    }
}
