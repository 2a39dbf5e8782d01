-- Where each export sink stands in each audit chain (SPEC §12): the last event the sink's
-- receiver acknowledged, as (seq, hash), so a restart resumes after it; and, once a chain was
-- found broken, the seq where it broke: the sink stays stopped for that chain, across restarts.
CREATE TABLE audit_export_cursors (
    sink         TEXT NOT NULL,
    chain        TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    hash         TEXT NOT NULL,
    stopped_seq  BIGINT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (sink, chain)
);
