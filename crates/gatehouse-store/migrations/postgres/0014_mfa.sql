-- Second factors (SPEC §15). One TOTP seed per user, sealed like a vault value (associated data
-- binds the user), pending until confirmed; last_used_step makes each code count once (only a
-- later step is accepted, by one conditional UPDATE). Recovery codes are HMAC-SHA256 digests
-- under a derived key, spent by one conditional UPDATE. mfa_tokens hold the SHA-256 of the
-- token a sign-in waiting for its second step was given, with its attempts.
CREATE TABLE mfa_totp (
    user_id        TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    sealed         BYTEA NOT NULL,
    sealed_by      TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    pending_until  BIGINT NOT NULL,
    confirmed_at   BIGINT,
    last_used_step BIGINT NOT NULL,
    last_used_at   BIGINT
);

CREATE TABLE mfa_recovery_codes (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest  BYTEA NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, digest)
);

CREATE TABLE mfa_tokens (
    digest     BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The user's credential epoch when the password was checked: a password change or
    -- logout-all before the second step voids the token.
    credential_epoch BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   BIGINT NOT NULL
);
CREATE INDEX mfa_tokens_by_expiry ON mfa_tokens(expires_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON mfa_totp TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON mfa_recovery_codes TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON mfa_tokens TO gatehouse_app;
