-- Personal access tokens (SPEC §18): a user's token acting within one org and some scopes.
-- Only the SHA-256 of the token is kept; the expiry is mandatory. Row security as for API keys:
-- the org's transactions see the org's tokens; a lookup sees the one token whose public id was
-- presented (gatehouse.personal_token); a user's own transactions (gatehouse.user_id) see and
-- delete that user's tokens across orgs.
CREATE TABLE personal_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    public_id    TEXT NOT NULL UNIQUE,
    digest       BYTEA NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX personal_tokens_by_org ON personal_tokens(org_id);
CREATE INDEX personal_tokens_by_user ON personal_tokens(user_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON personal_tokens TO gatehouse_app;

ALTER TABLE personal_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE personal_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON personal_tokens
    USING (org_id = current_setting('gatehouse.org_id', true))
    WITH CHECK (org_id = current_setting('gatehouse.org_id', true));
CREATE POLICY presented_token ON personal_tokens FOR SELECT
    USING (public_id = current_setting('gatehouse.personal_token', true));
CREATE POLICY own_tokens_read ON personal_tokens FOR SELECT
    USING (user_id = current_setting('gatehouse.user_id', true));
CREATE POLICY own_tokens_delete ON personal_tokens FOR DELETE
    USING (user_id = current_setting('gatehouse.user_id', true));
