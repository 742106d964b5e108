DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'organizations', 'users', 'user_sessions', 'molecule_files', 'molecules',
        'molecule_properties', 'docking_jobs', 'job_executions', 'job_results', 'pipelines',
        'pipeline_executions', 'organization_config']
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_audit_insert', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_audit_update', t);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t || '_audit_delete', t);
    END LOOP;
END
$$;
DROP FUNCTION IF EXISTS molingest_audit();
DROP FUNCTION IF EXISTS molingest_audit_organizations();
DROP FUNCTION IF EXISTS molingest_restoring(oid);
DROP INDEX IF EXISTS idx_molecules_org_file, idx_user_sessions_org_user, idx_docking_jobs_org_receptor,
    idx_docking_jobs_org_created_by, idx_job_executions_org_job, idx_job_results_org_job,
    idx_job_results_org_molecule, idx_pipeline_executions_org_pipeline;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
GRANT INSERT ON audit_log TO molingest_app;
ALTER TABLE audit_log ALTER COLUMN actor SET DEFAULT current_user;
-- Audit rows of organizations that no longer exist cannot keep the foreign key.
DELETE FROM audit_log a WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = a.organization_id);
ALTER TABLE audit_log ADD CONSTRAINT audit_log_organization_id_fkey
    FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
