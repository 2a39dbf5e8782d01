-- Invitations and API keys, and row-level security on every table with an org_id column.
-- Policies read per-transaction settings (set_config(..., true)) that the store sets:
--   gatehouse.org_id      the one org a transaction may see and write;
--   gatehouse.user_id     lets a transaction list one user's memberships across orgs (read only);
--   gatehouse.api_key     lets a lookup read the one key whose public id was presented;
--   gatehouse.invitation  lets a lookup read the one invitation whose token digest (hex) was presented.
-- With no setting a query sees nothing. FORCE applies the policies to the tables' owner too.
CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    email_key    TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    token_digest BYTEA NOT NULL UNIQUE,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT
);
CREATE INDEX invitations_by_org ON invitations(org_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    public_id    TEXT NOT NULL UNIQUE,
    digest       BYTEA NOT NULL,
    scopes       TEXT NOT NULL,
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_by_org ON api_keys(org_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON invitations, api_keys TO gatehouse_app;

ALTER TABLE org_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_members FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_members
    USING (org_id = current_setting('gatehouse.org_id', true))
    WITH CHECK (org_id = current_setting('gatehouse.org_id', true));
CREATE POLICY own_memberships ON org_members FOR SELECT
    USING (user_id = current_setting('gatehouse.user_id', true));

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON invitations
    USING (org_id = current_setting('gatehouse.org_id', true))
    WITH CHECK (org_id = current_setting('gatehouse.org_id', true));
CREATE POLICY presented_token ON invitations FOR SELECT
    USING (encode(token_digest, 'hex') = current_setting('gatehouse.invitation', true));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (org_id = current_setting('gatehouse.org_id', true))
    WITH CHECK (org_id = current_setting('gatehouse.org_id', true));
CREATE POLICY presented_key ON api_keys FOR SELECT
    USING (public_id = current_setting('gatehouse.api_key', true));
