-- Back to the set_config tenant of migration 2. Organization roles belong to
-- the cluster; those of this database's organizations are dropped.
DROP INDEX IF EXISTS organizations_name_lower_key;
REVOKE SELECT ON _sqlx_migrations FROM molingest_app;

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'users', 'user_sessions', 'molecule_files', 'molecules', 'molecule_properties',
        'docking_jobs', 'job_executions', 'job_results', 'pipelines', 'pipeline_executions',
        'audit_log', 'organization_config']
    LOOP
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_org_isolation', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I FOR ALL TO molingest_app
                 USING (organization_id = NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid)
                 WITH CHECK (organization_id = NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid)',
            t || '_org_isolation', t);
    END LOOP;
END
$$;
DROP POLICY IF EXISTS organizations_org_isolation ON organizations;
CREATE POLICY organizations_org_isolation ON organizations FOR ALL TO molingest_app
    USING (id = NULLIF(current_setting('app.current_org_id', true), '')::uuid);

DO $$
DECLARE
    o uuid;
BEGIN
    FOR o IN SELECT id FROM organizations LOOP
        EXECUTE format('DROP ROLE IF EXISTS %I', 'molingest_org_' || replace(o::text, '-', ''));
    END LOOP;
END
$$;
DROP FUNCTION IF EXISTS molingest_current_org();
