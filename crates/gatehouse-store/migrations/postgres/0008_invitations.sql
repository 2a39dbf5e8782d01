-- Invitations (SPEC §6): pending invitations die with their inviter's role, so they are found by
-- inviter; users gain email_verified_at (SPEC §16), unset until the address is proven (accounts
-- created from an invitation token returned to the inviter are not proven).
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE INDEX invitations_by_inviter ON invitations(org_id, created_by);
