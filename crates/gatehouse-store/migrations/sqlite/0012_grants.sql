-- Per-resource grants (SPEC §7): one row per (org, resource, subject); capabilities are a
-- space-separated subset of view, edit, share, delete; expires_at is unix seconds or NULL.
-- Subjects are `user:<id>` or `api_key:<id>`: removing a member or deleting a key deletes
-- their grants in the same transaction (the store does it; the subject is not a foreign key).
CREATE TABLE grants (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    resource     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    expires_at   BIGINT,
    created_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (org_id, resource, subject)
);
CREATE INDEX grants_by_subject ON grants(org_id, subject, resource);
