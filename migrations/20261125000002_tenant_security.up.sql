-- Row-level security: the application works as role molingest_app, which is
-- subject to a policy on every organization-scoped table. The tenant is the
-- transaction-local setting app.current_org_id; without it no row is visible
-- and none can be written.
--
-- Roles belong to the cluster, not the database: create it only if missing,
-- and never drop it on the way down (other databases may use it).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'molingest_app') THEN
        CREATE ROLE molingest_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- another database's migration created it at the same moment
END
$$;

-- The connecting role may act as the tenant role (SET ROLE molingest_app).
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'molingest_app', 'MEMBER') THEN
        EXECUTE format('GRANT molingest_app TO %I', current_user);
    END IF;
EXCEPTION WHEN unique_violation OR internal_error THEN
    NULL; -- granted concurrently
END
$$;

GRANT USAGE ON SCHEMA public TO molingest_app;
GRANT SELECT ON organizations, system_config TO molingest_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    users, user_sessions, molecule_files, molecules, molecule_properties,
    docking_jobs, job_executions, job_results, pipelines, pipeline_executions,
    organization_config
    TO molingest_app;
GRANT SELECT, INSERT ON audit_log TO molingest_app;

ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY organizations_org_isolation ON organizations FOR ALL TO molingest_app
    USING (id = NULLIF(current_setting('app.current_org_id', true), '')::uuid);

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'users', 'user_sessions', 'molecule_files', 'molecules', 'molecule_properties',
        'docking_jobs', 'job_executions', 'job_results', 'pipelines', 'pipeline_executions',
        'audit_log', 'organization_config']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I FOR ALL TO molingest_app
                 USING (organization_id = NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid)
                 WITH CHECK (organization_id = NULLIF(current_setting(''app.current_org_id'', true), '''')::uuid)',
            t || '_org_isolation', t);
    END LOOP;
END
$$;
