//! Orgs and members: the SQL of `OrgStore`. Membership changes lock the org row and judge the
//! change on the roles read inside the transaction, so two concurrent demotions can never leave
//! an org without an owner; the invitations the target can no longer issue die with the change.

use super::prelude::*;

pub(crate) const ORG_COLUMNS: &str = "o.id AS o_id, o.name AS o_name, o.created_at AS o_created_at";

pub(crate) const MEMBER_SELECT: &str = "SELECT m.user_id, u.email, u.name, m.role, m.created_at \
     FROM org_members m JOIN users u ON u.id = m.user_id";

/// An org as the database returns it (the `o_`-prefixed columns of [`ORG_COLUMNS`]).
#[derive(FromRow)]
pub(crate) struct OrgRow {
    o_id: String,
    o_name: String,
    o_created_at: i64,
}

/// An org with the user's role in it.
#[derive(FromRow)]
struct MembershipRow {
    #[sqlx(flatten)]
    org: OrgRow,
    role: String,
}

/// A member as [`MEMBER_SELECT`] returns it.
#[derive(FromRow)]
struct MemberRow {
    user_id: String,
    email: String,
    name: Option<String>,
    role: String,
    created_at: i64,
}

impl OrgRow {
    pub(crate) fn into_org(self) -> Result<Org> {
        Ok(Org {
            id: parse_id(&self.o_id)?,
            name: self.o_name,
            created_at: time_of(self.o_created_at),
        })
    }
}

impl MembershipRow {
    fn into_membership(self) -> Result<Membership> {
        Ok(Membership {
            org: self.org.into_org()?,
            role: parse_role(&self.role)?,
        })
    }
}

impl MemberRow {
    fn into_member(self) -> Result<Member> {
        Ok(Member {
            user_id: parse_id(&self.user_id)?,
            email: self.email,
            name: self.name,
            role: parse_role(&self.role)?,
            joined_at: time_of(self.created_at),
        })
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
    pub(crate) async fn insert_member(
        tx: &mut Tx<D>,
        org: OrgId,
        user: UserId,
        role: Role,
        at: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(org.to_string())
        .bind(user.to_string())
        .bind(role.as_str())
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(|e| conflict_or(e, ConflictReason::AlreadyMember))?;
        Ok(())
    }

    pub(crate) async fn role_in(tx: &mut Tx<D>, org: OrgId, user: UserId) -> Result<Option<Role>> {
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM org_members WHERE org_id = $1 AND user_id = $2")
                .bind(org.to_string())
                .bind(user.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
        role.as_deref().map(parse_role).transpose()
    }

    /// The org's token policy as stored (the default when unset or the org is gone).
    pub(crate) async fn policy_in(
        tx: &mut Tx<D>,
        org: OrgId,
    ) -> Result<gatehouse_core::token_policy::TokenScopePolicy> {
        let text: Option<Option<String>> =
            sqlx::query_scalar("SELECT token_scopes FROM orgs WHERE id = $1")
                .bind(org.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_err)?;
        gatehouse_core::token_policy::TokenScopePolicy::from_stored(text.flatten().as_deref())
    }

    /// Revokes `user`'s live token families bound to `org` whose scopes `role` may no longer
    /// hold (every one when `role` is `None`: the user left). Runs inside the org's
    /// transaction, after the change.
    pub(crate) async fn revoke_families_beyond(
        tx: &mut Tx<D>,
        org: OrgId,
        user: UserId,
        role: Option<Role>,
        at: i64,
    ) -> Result<()> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, scope FROM token_families WHERE org_id = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(org.to_string())
            .bind(user.to_string())
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err)?;
        let policy = Self::policy_in(tx, org).await?;
        for (id, scope) in rows {
            let keeps = role.is_some_and(|role| {
                scope
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .all(|s| gatehouse_core::token_policy::role_may_hold(role, s, &policy))
            });
            if keeps {
                continue;
            }
            sqlx::query(
                "UPDATE token_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    /// Locks the org row and reads what a membership change is judged on.
    pub(crate) async fn change_facts(
        tx: &mut Tx<D>,
        org: OrgId,
        actor: UserId,
        target: UserId,
    ) -> Result<Option<gatehouse_core::role::MemberChange>> {
        let lock = format!("SELECT id FROM orgs WHERE id = $1{}", D::FOR_UPDATE);
        if sqlx::query(AssertSqlSafe(lock))
            .bind(org.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .is_none()
        {
            return Ok(None);
        }
        let (Some(actor_role), Some(target_role)) = (
            Self::role_in(tx, org, actor).await?,
            Self::role_in(tx, org, target).await?,
        ) else {
            return Ok(None);
        };
        let owners: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND role = 'owner'",
        )
        .bind(org.to_string())
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(Some(gatehouse_core::role::MemberChange {
            actor: actor_role,
            is_self: actor == target,
            target: target_role,
            owners: usize::try_from(owners).unwrap_or(0),
        }))
    }
}

#[async_trait]
impl<D: Dialect> OrgStore for SqlStore<D>
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
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>> {
        let mut tx = self.read_tx().await?;
        D::set_local(&mut tx, USER_SETTING, &user.to_string()).await?;
        let sql = format!(
            "SELECT {ORG_COLUMNS}, m.role FROM org_members m JOIN orgs o ON o.id = m.org_id \
             WHERE m.user_id = $1 ORDER BY o.created_at, o.id"
        );
        let rows: Vec<MembershipRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(user.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        rows.into_iter()
            .map(MembershipRow::into_membership)
            .collect()
    }

    async fn create_org(&self, org: &Org, owner: UserId, audit: &[NewEvent]) -> Result<()> {
        let mut tx = self.org_tx(org.id, true).await?;
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id.to_string())
            .bind(&org.name)
            .bind(unix(org.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::insert_member(&mut tx, org.id, owner, Role::Owner, unix(org.created_at)).await?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(owner)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(owner));
        Ok(())
    }

    async fn org_for_member(&self, org: OrgId, user: UserId) -> Result<Option<Membership>> {
        let mut tx = self.org_tx(org, false).await?;
        let sql = format!(
            "SELECT {ORG_COLUMNS}, m.role FROM orgs o JOIN org_members m ON m.org_id = o.id \
             WHERE o.id = $1 AND m.user_id = $2"
        );
        let row: Option<MembershipRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(user.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        row.map(MembershipRow::into_membership).transpose()
    }

    async fn org(&self, org: OrgId) -> Result<Option<Org>> {
        let sql = format!("SELECT {ORG_COLUMNS} FROM orgs o WHERE o.id = $1");
        let row: Option<OrgRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(OrgRow::into_org).transpose()
    }

    async fn rename_org(&self, org: OrgId, name: &str, audit: &[NewEvent]) -> Result<Option<Org>> {
        let mut tx = self.org_tx(org, true).await?;
        let row: Option<OrgRow> = sqlx::query_as(
            "UPDATE orgs SET name = $1 WHERE id = $2 RETURNING id AS o_id, name AS o_name, created_at AS o_created_at",
        )
        .bind(name)
        .bind(org.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(renamed) = row.map(OrgRow::into_org).transpose()? else {
            return Ok(None);
        };
        D::notify_key_change(&mut tx, ALL_KEYS).await?;
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        // Cached memberships carry the org's name (other instances hear `*` on the feed).
        self.committed(Change::AllUsers);
        Ok(Some(renamed))
    }

    async fn delete_org(&self, org: OrgId, actor: UserId, audit: &[NewEvent]) -> Result<bool> {
        let mut tx = self.org_tx(org, true).await?;
        let lock = format!("SELECT id FROM orgs WHERE id = $1{}", D::FOR_UPDATE);
        if sqlx::query(AssertSqlSafe(lock))
            .bind(org.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .is_none()
        {
            return Ok(false);
        }
        match Self::role_in(&mut tx, org, actor).await? {
            None => return Ok(false),
            Some(Role::Owner) => {}
            Some(_) => {
                return Err(Error::Forbidden(
                    gatehouse_core::error::ForbiddenReason::Forbidden,
                ));
            }
        }
        D::notify_key_change(&mut tx, ALL_KEYS).await?;
        sqlx::query("DELETE FROM orgs WHERE id = $1")
            .bind(org.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::AllUsers).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::AllUsers);
        Ok(true)
    }

    async fn members(&self, org: OrgId) -> Result<Vec<Member>> {
        let mut tx = self.org_tx(org, false).await?;
        let sql = format!(
            "{MEMBER_SELECT} WHERE m.org_id = $1 ORDER BY \
             CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, u.email_key"
        );
        let rows: Vec<MemberRow> = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        rows.into_iter().map(MemberRow::into_member).collect()
    }

    async fn set_member_role(
        &self,
        org: OrgId,
        actor: UserId,
        target: UserId,
        role: Role,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<Option<Member>> {
        let mut tx = self.org_tx(org, true).await?;
        let Some(facts) = Self::change_facts(&mut tx, org, actor, target).await? else {
            return Ok(None);
        };
        gatehouse_core::role::check_role_change(&facts, role)?;
        Self::kill_invitations(&mut tx, org, target, Some(role)).await?;
        sqlx::query("UPDATE org_members SET role = $1 WHERE org_id = $2 AND user_id = $3")
            .bind(role.as_str())
            .bind(org.to_string())
            .bind(target.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let sql = format!("{MEMBER_SELECT} WHERE m.org_id = $1 AND m.user_id = $2");
        let row: MemberRow = sqlx::query_as(AssertSqlSafe(sql))
            .bind(org.to_string())
            .bind(target.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        let member = row.into_member()?;
        Self::revoke_families_beyond(&mut tx, org, target, Some(role), unix(at)).await?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(target)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(target));
        Ok(Some(member))
    }

    async fn remove_member(
        &self,
        org: OrgId,
        actor: UserId,
        target: UserId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.org_tx(org, true).await?;
        let Some(facts) = Self::change_facts(&mut tx, org, actor, target).await? else {
            return Ok(false);
        };
        gatehouse_core::role::check_removal(&facts)?;
        Self::kill_invitations(&mut tx, org, target, None).await?;
        sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
            .bind(org.to_string())
            .bind(target.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // A former member holds nothing in the org: their grants go with them (SPEC §7).
        sqlx::query("DELETE FROM grants WHERE org_id = $1 AND subject = $2")
            .bind(org.to_string())
            .bind(format!("user:{target}"))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        Self::revoke_families_beyond(&mut tx, org, target, None, unix(at)).await?;
        Self::append_in(&mut tx, audit).await?;
        Self::publish_in(&mut tx, &Change::User(target)).await?;
        tx.commit().await.map_err(db_err)?;
        self.committed(Change::User(target));
        Ok(true)
    }

    async fn token_scope_policy(
        &self,
        org: OrgId,
    ) -> Result<gatehouse_core::token_policy::TokenScopePolicy> {
        let mut tx = self.org_tx(org, false).await?;
        let policy = Self::policy_in(&mut tx, org).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(policy)
    }

    async fn set_token_scope_policy(
        &self,
        org: OrgId,
        policy: &gatehouse_core::token_policy::TokenScopePolicy,
        audit: &[NewEvent],
    ) -> Result<bool> {
        let mut tx = self.org_tx(org, true).await?;
        let done = sqlx::query("UPDATE orgs SET token_scopes = $1 WHERE id = $2")
            .bind(policy.to_stored())
            .bind(org.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if D::rows_affected(&done) != 1 {
            return Ok(false);
        }
        Self::append_in(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}
