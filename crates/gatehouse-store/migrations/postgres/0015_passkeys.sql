-- Passkeys (SPEC §15). One row per registered credential: its id as the authenticator gives it
-- (unique across users), the relying party's stored credential as JSON (public key, flags,
-- counter; opaque to the database), and the signature counter beside it, so a sign-in's
-- counter check and update is one conditional UPDATE. Ceremonies (a registration or sign-in
-- begun and not yet finished) live here too, so any instance can finish one: single use (taken
-- by DELETE … RETURNING) and lapsing at expires_at.
CREATE TABLE passkeys (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    credential_id   BYTEA NOT NULL UNIQUE,
    credential      TEXT NOT NULL,
    sign_count      BIGINT NOT NULL,
    backup_eligible BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    last_used_at    BIGINT
);
CREATE INDEX passkeys_by_user ON passkeys(user_id);

CREATE TABLE webauthn_ceremonies (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('register', 'login')),
    user_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies(expires_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON passkeys TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webauthn_ceremonies TO gatehouse_app;
