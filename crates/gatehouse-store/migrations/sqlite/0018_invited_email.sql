-- PostgreSQL only: a policy letting a transaction see the invitations for one address across
-- orgs (a provider sign-in under invite-only signup asks whether one waits). SQLite has no
-- row-level security.
SELECT 1;
