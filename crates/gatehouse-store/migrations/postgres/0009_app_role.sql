-- The application role becomes one per database: gatehouse_app_<database>. The shared
-- gatehouse_app of earlier versions is cluster-wide, so a sibling deployment's login role on
-- the same cluster could read this database's tables through it. Here every right gatehouse_app
-- holds in this database moves to this database's own role, and gatehouse_app keeps none.
-- Migrations still write `GRANT ... TO gatehouse_app`: `gatehouse migrate` runs
-- gatehouse_move_app_grants() after every migration run, which moves them (it is idempotent).
CREATE FUNCTION gatehouse_app_role() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'gatehouse_app_' || current_database()
$$;

CREATE FUNCTION gatehouse_move_app_grants() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    app    text := gatehouse_app_role();
    schema oid := (SELECT oid FROM pg_namespace WHERE nspname = current_schema());
    item   record;
BEGIN
    IF octet_length(app) > 63 THEN
        RAISE EXCEPTION 'database name too long: the application role % would exceed 63 bytes', app;
    END IF;
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', app);
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        -- The server then runs as the configured user: `serve` refuses that in production (it
        -- owns the tables) and `gatehouse doctor` fails it.
        RAISE NOTICE 'cannot create role %: run the migrations as a role with CREATEROLE', app;
    END;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), app);
        EXECUTE format('GRANT SELECT ON _sqlx_migrations TO %I', app);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gatehouse_app') THEN
        FOR item IN
            SELECT c.relname::text AS name, string_agg(DISTINCT a.privilege_type, ', ') AS privileges
            FROM pg_class c
            CROSS JOIN LATERAL aclexplode(c.relacl) a
            WHERE c.relnamespace = schema
              AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = 'gatehouse_app')
            GROUP BY c.relname
        LOOP
            IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app) THEN
                EXECUTE format('GRANT %s ON %I TO %I', item.privileges, item.name, app);
            END IF;
            EXECUTE format('REVOKE ALL ON %I FROM gatehouse_app', item.name);
        END LOOP;
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM gatehouse_app', current_schema());
    END IF;
    -- A migrating user that is not a superuser takes the role, so a development `serve` with
    -- the owner's URL can still step down to it (production refuses an owner anyway).
    BEGIN
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = app)
           AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
           AND NOT pg_has_role(current_user, app, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', app, current_user);
        END IF;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'cannot grant % to %', app, current_user;
    END;
END $$;

-- It runs with its caller's rights (not SECURITY DEFINER), so it does only what its caller may do
-- anyway; the login role may call it too (a development `serve` migrates itself).
SELECT gatehouse_move_app_grants();
