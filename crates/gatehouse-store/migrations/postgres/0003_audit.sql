-- The audit log: append-only events in per-chain sequences, and each chain's head.
-- gatehouse_app may only SELECT and INSERT events; a trigger refuses UPDATE, DELETE and
-- TRUNCATE from anyone. Org chains are under row-level security like every org table; the
-- system chain (org_id NULL) is visible only with gatehouse.system = 'on'; a user's own
-- events are readable with gatehouse.user_id.
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
CREATE INDEX audit_events_by_subject ON audit_events(subject_user, at_ms) WHERE subject_user IS NOT NULL;

CREATE TABLE audit_chains (
    chain     TEXT PRIMARY KEY,
    head_seq  BIGINT NOT NULL,
    head_hash TEXT NOT NULL
);

GRANT SELECT, INSERT ON audit_events TO gatehouse_app;
GRANT SELECT, INSERT, UPDATE ON audit_chains TO gatehouse_app;

CREATE FUNCTION gatehouse_audit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END $$;
CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION gatehouse_audit_immutable();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION gatehouse_audit_immutable();

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_events
    USING (org_id = current_setting('gatehouse.org_id', true))
    WITH CHECK (org_id = current_setting('gatehouse.org_id', true));
CREATE POLICY system_chain ON audit_events
    USING (org_id IS NULL AND current_setting('gatehouse.system', true) = 'on')
    WITH CHECK (org_id IS NULL AND current_setting('gatehouse.system', true) = 'on');
CREATE POLICY own_events ON audit_events FOR SELECT
    USING (subject_user = current_setting('gatehouse.user_id', true));
