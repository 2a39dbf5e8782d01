-- Sign-in with external OpenID Connect providers (SPEC §17). oidc_flows: a sign-in begun at
-- a provider and not yet come back: the SHA-256 of its state (the callback finds it by that,
-- then compares the flow cookie), the nonce, the PKCE verifier sealed under the master secret,
-- where to go after; taken once by DELETE, lapsing at expires_at. oidc_identities: an account's
-- link to a provider's subject, unique per (issuer, subject).
CREATE TABLE oidc_flows (
    id           TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    state_digest BYTEA NOT NULL UNIQUE,
    nonce        TEXT NOT NULL,
    verifier     BYTEA NOT NULL,
    sealed_by    TEXT NOT NULL,
    return_to    TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX oidc_flows_by_expiry ON oidc_flows(expires_at);

CREATE TABLE oidc_identities (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX oidc_identities_by_user ON oidc_identities(user_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON oidc_flows TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON oidc_identities TO gatehouse_app;
