-- Tenant partitions: molecules and molecule_properties are LIST-partitioned
-- by organization_id, one partition per organization (created by
-- `molingest org add`, standalone then attached, so creating one never
-- blocks readers). The parents keep the same columns, names, indexes,
-- foreign keys, grants, row-level security and audit triggers. No DEFAULT
-- partition: every attach would have to scan it.

-- The tables as they were, out of the way.
ALTER TABLE job_results DROP CONSTRAINT job_results_organization_id_molecule_id_fkey;
ALTER TABLE docking_jobs DROP CONSTRAINT docking_jobs_organization_id_receptor_id_fkey;
ALTER TABLE molecule_properties RENAME TO molecule_properties_unpartitioned;
ALTER TABLE molecules RENAME TO molecules_unpartitioned;
ALTER TABLE molecules_unpartitioned RENAME CONSTRAINT molecules_pkey TO molecules_unpartitioned_pkey;
ALTER TABLE molecules_unpartitioned RENAME CONSTRAINT molecules_org_hash_key TO molecules_unpartitioned_org_hash_key;
ALTER TABLE molecule_properties_unpartitioned RENAME CONSTRAINT molecule_properties_pkey TO molecule_properties_unpartitioned_pkey;
ALTER INDEX idx_molecules_org_name RENAME TO idx_molecules_unpartitioned_org_name;
ALTER INDEX idx_molecules_search RENAME TO idx_molecules_unpartitioned_search;
ALTER INDEX idx_molecules_properties RENAME TO idx_molecules_unpartitioned_properties;
ALTER INDEX idx_molecules_org_file RENAME TO idx_molecules_unpartitioned_org_file;

CREATE TABLE molecules (
    id               UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id  UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             VARCHAR(255) NOT NULL,
    description      TEXT,
    smiles           smiles_string,
    formula          VARCHAR(255),
    molecular_weight molecular_weight,
    file_path        TEXT,
    format           molecule_format,
    file_id          UUID,
    record_index     BIGINT,
    record_line      BIGINT,
    content_hash     BYTEA NOT NULL CHECK (length(content_hash) = 32),
    properties       JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at       TIMESTAMP DEFAULT NOW(),
    CONSTRAINT molecules_pkey PRIMARY KEY (organization_id, id),
    CONSTRAINT molecules_org_hash_key UNIQUE (organization_id, content_hash),
    CONSTRAINT valid_properties CHECK (jsonb_typeof(properties) = 'object'),
    FOREIGN KEY (organization_id, file_id) REFERENCES molecule_files (organization_id, id)
) PARTITION BY LIST (organization_id);

CREATE TABLE molecule_properties (
    organization_id  UUID NOT NULL,
    molecule_id      UUID NOT NULL,
    atom_count       INTEGER NOT NULL,
    heavy_atom_count INTEGER NOT NULL,
    hydrogen_count   INTEGER NOT NULL,
    implicit_h_count INTEGER NOT NULL,
    bond_count       INTEGER NOT NULL,
    net_charge       INTEGER NOT NULL,
    average_mw       DOUBLE PRECISION NOT NULL,
    computed_at      TIMESTAMP DEFAULT NOW(),
    CONSTRAINT molecule_properties_pkey PRIMARY KEY (organization_id, molecule_id),
    FOREIGN KEY (organization_id, molecule_id) REFERENCES molecules (organization_id, id) ON DELETE CASCADE
) PARTITION BY LIST (organization_id);

CREATE INDEX idx_molecules_org_name ON molecules (organization_id, name);
CREATE INDEX idx_molecules_search ON molecules
    USING GIN (to_tsvector('english', name || ' ' || COALESCE(description, '')));
CREATE INDEX idx_molecules_properties ON molecules USING GIN (properties);
CREATE INDEX idx_molecules_org_file ON molecules (organization_id, file_id);

-- One organization's partitions, created standalone and attached.
CREATE FUNCTION molingest_add_partitions(org uuid) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    hex text := replace(org::text, '-', '');
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['molecules', 'molecule_properties'] LOOP
        IF to_regclass('public.' || t || '_' || hex) IS NULL THEN
            EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           t || '_' || hex, t);
            EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I CHECK (organization_id = %L)',
                           t || '_' || hex, t || '_' || hex || '_org', org);
            EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES IN (%L)',
                           t, t || '_' || hex, org);
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION molingest_add_partitions(uuid) FROM PUBLIC;

SELECT molingest_add_partitions(id) FROM organizations;

INSERT INTO molecules SELECT * FROM molecules_unpartitioned;
INSERT INTO molecule_properties SELECT * FROM molecule_properties_unpartitioned;
DROP TABLE molecule_properties_unpartitioned;
DROP TABLE molecules_unpartitioned;

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

-- After-load maintenance works on the organization's partition.
CREATE OR REPLACE FUNCTION molingest_after_load(org uuid, added bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    part regclass := to_regclass('public.molecules_' || replace(org::text, '-', ''));
    idx oid;
    total bigint;
BEGIN
    -- Inside this function current_user is the owner: ask about the login.
    IF NOT EXISTS (SELECT 1 FROM pg_roles r
                   WHERE r.rolname = 'molingest_org_' || replace(org::text, '-', '')
                     AND pg_has_role(session_user, r.oid, 'MEMBER')) THEN
        RAISE EXCEPTION 'molingest_after_load: not your organization' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF added <= 0 OR part IS NULL THEN
        RETURN;
    END IF;
    FOR idx IN SELECT i.indexrelid FROM pg_index i
               JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
               WHERE i.indrelid = part AND a.amname = 'gin' LOOP
        PERFORM gin_clean_pending_list(idx::regclass);
    END LOOP;
    SELECT coalesce(reltuples, 0)::bigint INTO total FROM pg_class WHERE oid = part;
    IF total <= 0 OR added * 10 > total THEN
        EXECUTE format('ANALYZE %s', part);
        EXECUTE format('ANALYZE public.%I', 'molecule_properties_' || replace(org::text, '-', ''));
    END IF;
END
$$;
