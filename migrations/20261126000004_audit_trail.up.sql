-- An audit trail the database writes. Every statement that changes an
-- organization's data leaves one audit_log row per organization it touched:
-- the action, the table, the row count, the molingest run it belongs to
-- (molingest sets molingest.run_id) and the actor = the login that
-- connected (session_user), not the role it switched to. Statement-level
-- triggers with transition tables: one row per statement, not per row.

-- Audit rows outlive their organization: a purge leaves a tombstone.
ALTER TABLE audit_log DROP CONSTRAINT IF EXISTS audit_log_organization_id_fkey;
ALTER TABLE audit_log ALTER COLUMN actor SET DEFAULT session_user;

-- Tenants read their own audit rows and write none; only the triggers (as
-- the owner) and the administrator do. The owner is not subject to the
-- audit_log policy (it writes rows for every organization).
REVOKE INSERT, UPDATE, DELETE ON audit_log FROM molingest_app;
ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY;

-- The administrator restoring an export (molingest org import) brings the
-- organization's own audit rows back; its inserts are not audited again. A
-- tenant cannot claim this: it is not a member of the owner.
CREATE FUNCTION molingest_restoring(rel oid) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT current_setting('molingest.restoring', true) = 'on'
       AND pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = rel), 'MEMBER')
$$;

CREATE FUNCTION molingest_audit() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    run uuid := NULLIF(current_setting('molingest.run_id', true), '')::uuid;
BEGIN
    IF molingest_restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log (organization_id, actor, action, entity_type, details)
        SELECT organization_id, session_user, 'delete', TG_TABLE_NAME,
               jsonb_build_object('rows', count(*), 'run', run)
        FROM old_rows GROUP BY organization_id;
    ELSE
        INSERT INTO audit_log (organization_id, actor, action, entity_type, details)
        SELECT organization_id, session_user, lower(TG_OP), TG_TABLE_NAME,
               jsonb_build_object('rows', count(*), 'run', run)
        FROM new_rows GROUP BY organization_id;
    END IF;
    RETURN NULL;
END
$$;

-- The same for the organizations directory, keyed by id.
CREATE FUNCTION molingest_audit_organizations() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    IF molingest_restoring(TG_RELID) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO audit_log (organization_id, actor, action, entity_type, entity_id, details)
        SELECT id, session_user, 'delete', 'organizations', id, '{"rows": 1}'::jsonb FROM old_rows;
    ELSE
        INSERT INTO audit_log (organization_id, actor, action, entity_type, entity_id, details)
        SELECT id, session_user, lower(TG_OP), 'organizations', id, '{"rows": 1}'::jsonb FROM new_rows;
    END IF;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION molingest_audit(), molingest_audit_organizations() FROM PUBLIC;

DO $$
DECLARE
    t TEXT;
    f TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'organizations', 'users', 'user_sessions', 'molecule_files', 'molecules',
        'molecule_properties', 'docking_jobs', 'job_executions', 'job_results', 'pipelines',
        'pipeline_executions', 'organization_config']
    LOOP
        f := CASE WHEN t = 'organizations' THEN 'molingest_audit_organizations' ELSE 'molingest_audit' END;
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION %I()', t || '_audit_insert', t, f);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION %I()', t || '_audit_update', t, f);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION %I()', t || '_audit_delete', t, f);
    END LOOP;
END
$$;

-- Every foreign key indexed by (organization_id, …): deleting a tenant's
-- rows (purge, retention) never scans other tenants' rows.
CREATE INDEX IF NOT EXISTS idx_molecules_org_file ON molecules (organization_id, file_id);
CREATE INDEX IF NOT EXISTS idx_user_sessions_org_user ON user_sessions (organization_id, user_id);
CREATE INDEX IF NOT EXISTS idx_docking_jobs_org_receptor ON docking_jobs (organization_id, receptor_id);
CREATE INDEX IF NOT EXISTS idx_docking_jobs_org_created_by ON docking_jobs (organization_id, created_by);
CREATE INDEX IF NOT EXISTS idx_job_executions_org_job ON job_executions (organization_id, job_id);
CREATE INDEX IF NOT EXISTS idx_job_results_org_job ON job_results (organization_id, job_id);
CREATE INDEX IF NOT EXISTS idx_job_results_org_molecule ON job_results (organization_id, molecule_id);
CREATE INDEX IF NOT EXISTS idx_pipeline_executions_org_pipeline ON pipeline_executions (organization_id, pipeline_id);
