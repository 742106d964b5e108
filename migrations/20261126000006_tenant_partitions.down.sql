-- Back to plain tables, keeping every row.
ALTER TABLE job_results DROP CONSTRAINT job_results_organization_id_molecule_id_fkey;
ALTER TABLE docking_jobs DROP CONSTRAINT docking_jobs_organization_id_receptor_id_fkey;

CREATE TABLE molecules_plain (LIKE molecules INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE TABLE molecule_properties_plain (LIKE molecule_properties INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
INSERT INTO molecules_plain SELECT * FROM molecules;
INSERT INTO molecule_properties_plain SELECT * FROM molecule_properties;
DROP TABLE molecule_properties;
DROP TABLE molecules;
DROP FUNCTION IF EXISTS molingest_add_partitions(uuid);
ALTER TABLE molecules_plain RENAME TO molecules;
ALTER TABLE molecule_properties_plain RENAME TO molecule_properties;

ALTER TABLE molecules ADD CONSTRAINT molecules_pkey PRIMARY KEY (organization_id, id);
ALTER TABLE molecules ADD CONSTRAINT molecules_org_hash_key UNIQUE (organization_id, content_hash);
ALTER TABLE molecules ADD FOREIGN KEY (organization_id) REFERENCES organizations(id) ON DELETE CASCADE;
ALTER TABLE molecules ADD FOREIGN KEY (organization_id, file_id) REFERENCES molecule_files (organization_id, id);
ALTER TABLE molecule_properties ADD CONSTRAINT molecule_properties_pkey PRIMARY KEY (organization_id, molecule_id);
ALTER TABLE molecule_properties ADD FOREIGN KEY (organization_id, molecule_id)
    REFERENCES molecules (organization_id, id) ON DELETE CASCADE;
CREATE INDEX idx_molecules_org_name ON molecules (organization_id, name);
CREATE INDEX idx_molecules_search ON molecules
    USING GIN (to_tsvector('english', name || ' ' || COALESCE(description, '')));
CREATE INDEX idx_molecules_properties ON molecules USING GIN (properties);
CREATE INDEX idx_molecules_org_file ON molecules (organization_id, file_id);
ALTER TABLE docking_jobs ADD CONSTRAINT docking_jobs_organization_id_receptor_id_fkey
    FOREIGN KEY (organization_id, receptor_id) REFERENCES molecules (organization_id, id);
ALTER TABLE job_results ADD CONSTRAINT job_results_organization_id_molecule_id_fkey
    FOREIGN KEY (organization_id, molecule_id) REFERENCES molecules (organization_id, id);
GRANT SELECT, INSERT, UPDATE, DELETE ON molecules, molecule_properties TO molingest_app;

DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY['molecules', 'molecule_properties'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I FOR ALL TO PUBLIC
                 USING (organization_id = (SELECT molingest_current_org()))
                 WITH CHECK (organization_id = (SELECT molingest_current_org()))',
            t || '_org_isolation', t);
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit()', t || '_audit_insert', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit()', t || '_audit_update', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit()', t || '_audit_delete', t);
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
