-- Personal access tokens (SPEC §18): a user's token acting within one org and some scopes.
-- Only the SHA-256 of the token is kept; the expiry is mandatory.
CREATE TABLE personal_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    public_id    TEXT NOT NULL UNIQUE,
    digest       BLOB NOT NULL,
    scopes       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX personal_tokens_by_org ON personal_tokens(org_id);
CREATE INDEX personal_tokens_by_user ON personal_tokens(user_id);
