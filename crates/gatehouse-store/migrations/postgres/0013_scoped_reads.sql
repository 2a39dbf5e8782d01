-- One-statement org-scoped reads for the hottest paths (a permission check, a vault read).
-- An org-scoped read is otherwise a transaction: BEGIN with the org setting, the SELECT and
-- COMMIT, three round trips. Each function below sets the org for row security and reads, in
-- the one implicit transaction of the statement that calls it: set_config(..., true) ends with
-- that transaction, so nothing is left on the pooled connection. The functions run as their
-- caller (SECURITY INVOKER, the default), so the row-security policies apply exactly as they
-- do to the SELECT written out; every one also filters on the org it is given.

CREATE FUNCTION gatehouse_member_standing(p_org text, p_resource text, p_subject text, p_user text)
RETURNS TABLE (role text, revoked_at bigint, key_expires_at bigint, capabilities text, expires_at bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('gatehouse.org_id', p_org, true);
    RETURN QUERY
        SELECT m.role, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), g.capabilities, g.expires_at
        FROM org_members m LEFT JOIN grants g
            ON g.org_id = m.org_id AND g.resource = p_resource AND g.subject = p_subject
        WHERE m.org_id = p_org AND m.user_id = p_user;
END
$$;

CREATE FUNCTION gatehouse_key_standing(p_org text, p_resource text, p_subject text, p_key text)
RETURNS TABLE (role text, revoked_at bigint, key_expires_at bigint, capabilities text, expires_at bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('gatehouse.org_id', p_org, true);
    RETURN QUERY
        SELECT CAST(NULL AS TEXT), k.revoked_at, k.expires_at, g.capabilities, g.expires_at
        FROM api_keys k LEFT JOIN grants g
            ON g.org_id = k.org_id AND g.resource = p_resource AND g.subject = p_subject
        WHERE k.org_id = p_org AND k.id = p_key;
END
$$;

-- A kept version of a secret with its sealed value: version p_version, or the latest when NULL.
CREATE FUNCTION gatehouse_secret_version(p_org text, p_name text, p_version bigint)
RETURNS TABLE (name text, version bigint, sealed bytea, sealed_by text, secret_created_at bigint,
               created_at bigint, created_by_type text, created_by_id text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('gatehouse.org_id', p_org, true);
    RETURN QUERY
        SELECT s.name, s.version, s.sealed, s.sealed_by, s.secret_created_at, s.created_at,
               s.created_by_type, s.created_by_id
        FROM secrets s
        WHERE s.org_id = p_org AND s.name = p_name AND (p_version IS NULL OR s.version = p_version)
        ORDER BY s.version DESC LIMIT 1;
END
$$;
