-- Lets a transaction that set gatehouse.invited_email see the invitations for that address
-- (its case-folded key), across orgs, read only: a provider sign-in under invite-only signup
-- asks whether one waits (SPEC §17).
CREATE POLICY invited_email ON invitations FOR SELECT
    USING (email_key = current_setting('gatehouse.invited_email', true));
