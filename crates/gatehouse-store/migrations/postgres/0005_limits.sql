-- Rate-limit state (one GCRA arrival time per key, in microseconds) for the database backend, shared by every
-- instance; UNLOGGED: losing it in a crash only forgets recent requests. Sign-in attempts per
-- normalized email for lockout (logged: a lock survives restarts).
CREATE UNLOGGED TABLE rate_limits (
    key    TEXT PRIMARY KEY,
    tat_us BIGINT NOT NULL
);

CREATE TABLE login_attempts (
    email_key       TEXT PRIMARY KEY,
    attempts        INTEGER NOT NULL,
    window_start_ms BIGINT NOT NULL,
    locked_until_ms BIGINT
);

GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits, login_attempts TO gatehouse_app;
