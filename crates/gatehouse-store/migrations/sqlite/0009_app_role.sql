-- PostgreSQL moves its application role to one per database here; SQLite has no roles.
SELECT 1;
