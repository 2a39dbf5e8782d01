-- Rate-limit state (one GCRA arrival time per key, in microseconds) for the database backend, and sign-in
-- attempts per normalized email for lockout.
CREATE TABLE rate_limits (
    key    TEXT PRIMARY KEY,
    tat_us BIGINT NOT NULL
);

CREATE TABLE login_attempts (
    email_key       TEXT PRIMARY KEY,
    attempts        INTEGER NOT NULL,
    window_start_ms BIGINT NOT NULL,
    locked_until_ms BIGINT
);
