-- Credential epochs and org token policies (issue 10). `credential_epoch` counts a user's
-- credential changes (password change, logout-all): a session or refresh family is only created
-- when the epoch its password check saw is still current, and a family remembers the epoch it
-- began in, so a refresh after any change is refused. `token_scopes` is the org's JSON policy of
-- which application scopes each role may put on its access tokens (NULL: the default).
ALTER TABLE users ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE token_families ADD COLUMN credential_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN token_scopes TEXT;
