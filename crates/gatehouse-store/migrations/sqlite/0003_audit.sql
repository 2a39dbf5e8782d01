-- The audit log: append-only events in per-chain sequences, and each chain's head.
CREATE TABLE audit_events (
    chain        TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    id           TEXT NOT NULL UNIQUE,
    org_id       TEXT,
    at_ms        BIGINT NOT NULL,
    category     TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_user TEXT,
    body         TEXT NOT NULL,
    hash         TEXT NOT NULL,
    PRIMARY KEY (chain, seq)
);
CREATE INDEX audit_events_by_subject ON audit_events(subject_user, at_ms);

CREATE TABLE audit_chains (
    chain     TEXT PRIMARY KEY,
    head_seq  BIGINT NOT NULL,
    head_hash TEXT NOT NULL
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
