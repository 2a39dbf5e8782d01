-- Access-token signing keys (private halves sealed), refresh-token families, refresh tokens
-- (only their SHA-256), and revoked access-token ids. Families may be bound to an org, so they
-- are under row-level security: a transaction sees the families of the org it is scoped to, of
-- the user it acts for (gatehouse.user_id), or the one family a presented token names
-- (gatehouse.token_family, read only).
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    public_key     BYTEA NOT NULL,
    sealed_private BYTEA NOT NULL,
    created_at     BIGINT NOT NULL,
    retired_at     BIGINT
);

CREATE TABLE token_families (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id     TEXT REFERENCES orgs(id) ON DELETE CASCADE,
    scope      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX token_families_by_user ON token_families(user_id);

CREATE TABLE refresh_tokens (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    digest     BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);

CREATE TABLE revoked_jti (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);

GRANT SELECT, INSERT, UPDATE ON signing_keys TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE ON token_families, refresh_tokens TO gatehouse_app;
GRANT SELECT, INSERT, DELETE ON revoked_jti TO gatehouse_app;

ALTER TABLE token_families ENABLE ROW LEVEL SECURITY;
ALTER TABLE token_families FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON token_families
    USING (org_id = current_setting('gatehouse.org_id', true))
    WITH CHECK (org_id = current_setting('gatehouse.org_id', true));
CREATE POLICY own_families ON token_families
    USING (user_id = current_setting('gatehouse.user_id', true))
    WITH CHECK (user_id = current_setting('gatehouse.user_id', true));
CREATE POLICY presented_family ON token_families FOR SELECT
    USING (id = current_setting('gatehouse.token_family', true));
