-- The secrets vault (SPEC §10): one row per kept version of an org's secret, the value sealed
-- (AES-256-GCM, associated data binding org, name and version). `sealed_by` names the master
-- secret that sealed the row (a fingerprint, not the secret), so `secrets reencrypt` finds what
-- is left to re-seal and can resume after a crash. `secret_created_at` is the first version's
-- time, carried forward so pruning old versions keeps it. Signing keys gain the same column.
CREATE TABLE secrets (
    org_id            TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    version           BIGINT NOT NULL,
    sealed            BLOB NOT NULL,
    sealed_by         TEXT NOT NULL,
    secret_created_at BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    created_by_type   TEXT NOT NULL,
    created_by_id     TEXT,
    PRIMARY KEY (org_id, name, version)
);
CREATE INDEX secrets_to_reseal ON secrets(org_id, sealed_by);

ALTER TABLE signing_keys ADD COLUMN sealed_by TEXT;
