-- Identity, sessions, orgs and first-run state. Times are unix seconds; ids are UUID text.
-- The server's queries run as gatehouse_app: no superuser, no BYPASSRLS, table rights only.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gatehouse_app') THEN
        CREATE ROLE gatehouse_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- another database on this cluster created it at the same moment
END $$;

DO $$
BEGIN
    IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       AND NOT pg_has_role(current_user, 'gatehouse_app', 'MEMBER') THEN
        EXECUTE format('GRANT gatehouse_app TO %I', current_user);
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    -- The server then runs as the configured user; `serve` refuses that in production when the
    -- user is privileged, and `gatehouse doctor` reports it.
    RAISE NOTICE 'cannot grant gatehouse_app to %', current_user;
END $$;

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
    token_digest BYTEA NOT NULL UNIQUE,
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
    token_digest BYTEA PRIMARY KEY,
    created_at   BIGINT NOT NULL
);

CREATE TABLE system_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

GRANT USAGE ON SCHEMA public TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions, orgs, org_members, setup_tokens, system_state
    TO gatehouse_app;
