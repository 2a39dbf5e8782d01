-- Mailed flows (SPEC §16): a sign-in code with its link, a password reset, an address
-- verification. Digests only: the code's HMAC (keyed, bound to the flow), the link token's
-- SHA-256. One live flow per address and kind (a new one deletes the old); taken once by
-- DELETE; code attempts counted by one conditional UPDATE. mail_sends holds the last hour of
-- sends per address (the per-address limits), mail_addresses one row per address to lock on.
CREATE TABLE email_flows (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('sign_in', 'password_reset', 'verify')),
    email_key    TEXT NOT NULL,
    email        TEXT NOT NULL,
    user_id      TEXT REFERENCES users(id) ON DELETE CASCADE,
    code_digest  BYTEA,
    token_digest BYTEA NOT NULL UNIQUE,
    return_to    TEXT,
    attempts     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX email_flows_by_address ON email_flows(email_key, kind);

CREATE TABLE mail_addresses (
    email_key TEXT PRIMARY KEY
);

CREATE TABLE mail_sends (
    email_key TEXT NOT NULL,
    sent_at   BIGINT NOT NULL
);
CREATE INDEX mail_sends_by_address ON mail_sends(email_key, sent_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON email_flows TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON mail_addresses TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON mail_sends TO gatehouse_app;
