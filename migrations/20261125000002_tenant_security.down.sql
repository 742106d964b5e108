DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'users', 'user_sessions', 'molecule_files', 'molecules', 'molecule_properties',
        'docking_jobs', 'job_executions', 'job_results', 'pipelines', 'pipeline_executions',
        'audit_log', 'organization_config']
    LOOP
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_org_isolation', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
DROP POLICY IF EXISTS organizations_org_isolation ON organizations;
ALTER TABLE organizations DISABLE ROW LEVEL SECURITY;

REVOKE ALL ON
    organizations, system_config, users, user_sessions, molecule_files, molecules,
    molecule_properties, docking_jobs, job_executions, job_results, pipelines,
    pipeline_executions, audit_log, organization_config
    FROM molingest_app;
REVOKE USAGE ON SCHEMA public FROM molingest_app;
-- The role itself stays: it belongs to the cluster and other databases may use it.
