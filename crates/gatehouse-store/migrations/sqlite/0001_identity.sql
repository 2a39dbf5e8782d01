-- Identity, sessions, orgs and first-run state. Times are unix seconds; ids are UUID text.
CREATE TABLE users (
    id                      TEXT PRIMARY KEY,
    email                   TEXT NOT NULL,
    email_key               TEXT NOT NULL UNIQUE,
    name                    TEXT,
    password_hash           TEXT,
    platform_admin_since    BIGINT,
    disabled_at             BIGINT,
    created_at              BIGINT NOT NULL,
    credentials_valid_after BIGINT NOT NULL
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_digest BLOB NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    ip           TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE org_members (
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_by_user ON org_members(user_id);

CREATE TABLE setup_tokens (
    token_digest BLOB PRIMARY KEY,
    created_at   BIGINT NOT NULL
);

CREATE TABLE system_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
