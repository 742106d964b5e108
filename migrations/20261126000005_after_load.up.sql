-- After a load: merge the GIN pending lists (a load leaves every new entry
-- there, and searches scan the lists linearly until a vacuum) and ANALYZE
-- when the load grew the organization's molecules by more than ~10 %.
-- Owned by the administrator (index and table owner); a tenant may call it
-- for its own organization only.
CREATE FUNCTION molingest_after_load(org uuid, added bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    total bigint;
BEGIN
    -- Inside this function current_user is the owner: ask about the login.
    IF NOT EXISTS (SELECT 1 FROM pg_roles r
                   WHERE r.rolname = 'molingest_org_' || replace(org::text, '-', '')
                     AND pg_has_role(session_user, r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'molingest_after_load: not your organization' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF added <= 0 THEN
        RETURN;
    END IF;
    PERFORM gin_clean_pending_list('idx_molecules_properties'::regclass);
    PERFORM gin_clean_pending_list('idx_molecules_search'::regclass);
    SELECT coalesce(reltuples, 0)::bigint INTO total FROM pg_class WHERE oid = 'molecules'::regclass;
    IF total <= 0 OR added * 10 > total THEN
        ANALYZE molecules;
        ANALYZE molecule_properties;
    END IF;
END
$$;
REVOKE ALL ON FUNCTION molingest_after_load(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION molingest_after_load(uuid, bigint) TO molingest_app;
