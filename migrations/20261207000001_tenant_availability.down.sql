-- Back to the grants, policies and after-load maintenance of before.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT p.tablename FROM pg_policies p
             WHERE p.schemaname = 'public' AND p.policyname = p.tablename || '_org_isolation'
               AND p.tablename <> 'organizations'
    LOOP
        EXECUTE format(
            'ALTER POLICY %I ON public.%I
                 USING (organization_id = (SELECT molingest_current_org()))
                 WITH CHECK (organization_id = (SELECT molingest_current_org()))',
            t || '_org_isolation', t);
    END LOOP;
END
$$;
DROP FUNCTION IF EXISTS molingest_admin_org();

DO $$
DECLARE
    rel record;
BEGIN
    FOR rel IN
        SELECT DISTINCT c.relname
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
          AND a.attnum > 0 AND NOT a.attisdropped
          AND has_column_privilege('molingest_app', c.oid, a.attnum, 'UPDATE')
          AND NOT has_table_privilege('molingest_app', c.oid, 'UPDATE')
    LOOP
        EXECUTE format('GRANT UPDATE, DELETE ON public.%I TO molingest_app', rel.relname);
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION molingest_after_load(org uuid, added bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    total bigint;
BEGIN
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
