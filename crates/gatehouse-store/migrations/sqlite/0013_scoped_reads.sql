-- PostgreSQL adds one-statement org-scoped read functions here; SQLite reads without them.
SELECT 1;
