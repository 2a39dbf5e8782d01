-- Each chain remembers the last head a scheduled verification found valid, so the next one
-- hashes only what was appended since (SPEC §9). Full verifications ignore it.
ALTER TABLE audit_chains ADD COLUMN verified_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_chains ADD COLUMN verified_hash TEXT NOT NULL DEFAULT '0000000000000000000000000000000000000000000000000000000000000000';
