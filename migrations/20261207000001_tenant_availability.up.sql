-- Availability is isolation too (docs/security.md, "Tenant availability").
--
-- 1. A tenant login can no longer take a lock that blocks another
--    organization. PostgreSQL lets LOCK TABLE take modes stronger than
--    ROW EXCLUSIVE on a table where the role holds table-level UPDATE,
--    DELETE or TRUNCATE; column-level UPDATE does not count. So tenants
--    keep SELECT and INSERT, get UPDATE on the columns only (every column
--    but organization_id), and lose DELETE: the strongest lock a tenant can
--    hold on a shared table is ROW EXCLUSIVE, which blocks no read, load or
--    update of anyone. Deletes are the administrator's (purge, retention),
--    made as the table owner for one organization (2.).
-- 2. The administrator acts for one organization by naming it in the
--    transaction-local setting molingest.admin_org; the row policies honour
--    it only for a role that is a member of the tables' owner, which no
--    tenant is.
-- 3. molingest_after_load analyses the caller's own partitions only, when
--    PostgreSQL's own counters (not the caller's claim) say they changed by
--    more than 10 % since their last ANALYZE: it can no longer be used to
--    make the server analyse every organization's partitions, and an
--    organization analysed when it held a handful of molecules is analysed
--    again as soon as it grows.

CREATE FUNCTION molingest_admin_org() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_catalog.pg_has_role(current_user, c.relowner, 'MEMBER')
                THEN nullif(pg_catalog.current_setting('molingest.admin_org', true), '')::uuid END
    FROM pg_catalog.pg_class c
    WHERE c.oid = 'public.organizations'::regclass
$$;
GRANT EXECUTE ON FUNCTION molingest_admin_org() TO PUBLIC;

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
                 USING (organization_id = (SELECT molingest_current_org())
                        OR organization_id = (SELECT molingest_admin_org()))
                 WITH CHECK (organization_id = (SELECT molingest_current_org())
                             OR organization_id = (SELECT molingest_admin_org()))',
            t || '_org_isolation', t);
    END LOOP;
END
$$;

DO $$
DECLARE
    rel record;
    cols text;
BEGIN
    FOR rel IN
        SELECT c.oid, c.relname,
               has_table_privilege('molingest_app', c.oid, 'UPDATE') AS had_update
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
          AND (has_table_privilege('molingest_app', c.oid, 'UPDATE')
               OR has_table_privilege('molingest_app', c.oid, 'DELETE')
               OR has_table_privilege('molingest_app', c.oid, 'TRUNCATE'))
    LOOP
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON public.%I FROM molingest_app', rel.relname);
        IF rel.had_update THEN
            SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
            FROM pg_attribute a
            WHERE a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
              AND a.attname <> 'organization_id';
            EXECUTE format('GRANT UPDATE (%s) ON public.%I TO molingest_app', cols, rel.relname);
        END IF;
    END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION molingest_after_load(org uuid, added bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    hex text := replace(org::text, '-', '');
    t text;
    rel regclass;
    changed bigint;
    rows real;
BEGIN
    -- Inside this function current_user is the owner: ask about the login.
    IF NOT EXISTS (SELECT 1 FROM pg_roles r
                   WHERE r.rolname = 'molingest_org_' || hex
                     AND pg_has_role(session_user, r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'molingest_after_load: not your organization' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF added <= 0 THEN
        RETURN;
    END IF;
    FOREACH t IN ARRAY ARRAY['molecules', 'molecule_properties'] LOOP
        rel := to_regclass('public.' || t || '_' || hex);
        CONTINUE WHEN rel IS NULL;
        SELECT coalesce(s.n_mod_since_analyze, 0), c.reltuples INTO changed, rows
        FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE c.oid = rel;
        -- Counters lag a little (a backend reports them at its transaction's
        -- end, at most every 0.5 s): `added` only says a load happened.
        IF rows < 0 OR changed * 10 > greatest(rows, 0) OR added * 10 > greatest(rows, 0) THEN
            EXECUTE format('ANALYZE public.%I', t || '_' || hex);
        END IF;
    END LOOP;
    -- The organization's own GIN pending lists (a load leaves every new
    -- entry there; searches scan them linearly until merged).
    FOR rel IN SELECT i.indexrelid::regclass FROM pg_index i JOIN pg_am a ON a.oid = (SELECT relam FROM pg_class WHERE oid = i.indexrelid)
               WHERE i.indrelid = to_regclass('public.molecules_' || hex) AND a.amname = 'gin'
    LOOP
        PERFORM gin_clean_pending_list(rel);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION molingest_after_load(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION molingest_after_load(uuid, bigint) TO molingest_app;
