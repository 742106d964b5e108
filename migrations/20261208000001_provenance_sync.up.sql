-- Provenance and sync (docs/operations.md § Provenance, § Nightly imports).
--
-- 1. Every record a molecule was read from is known. A molecule's first
--    record is on the molecule itself (file_id, record_index, record_line);
--    under --dedup structure each further distinct text of the structure is
--    a molecule_occurrences row; every other record (the same text again,
--    in another file or in the same one) is a molecule_records row. The view
--    molecule_provenance is the union: one row per record, with its
--    molecule, file, index and line. Storing only the repeats keeps a
--    first load of distinct records free of any extra row.
-- 2. A file that no longer is in its source is retired, not deleted:
--    molecule_files.retired_at and retired_by (the run), so "what came from
--    this file" still answers after a sync removed its molecules.
-- 3. Bulk-built indexes and constraints take their partition's name at
--    attach (they kept molecules_bulk_<org>… names).

CREATE TABLE molecule_records (
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    file_id         UUID NOT NULL,
    record_index    BIGINT NOT NULL,
    record_line     BIGINT,
    molecule_id     UUID NOT NULL,
    PRIMARY KEY (organization_id, file_id, record_index),
    FOREIGN KEY (organization_id, file_id) REFERENCES molecule_files (organization_id, id),
    FOREIGN KEY (organization_id, molecule_id) REFERENCES molecules (organization_id, id) ON DELETE CASCADE
);
CREATE INDEX idx_molecule_records_org_molecule ON molecule_records (organization_id, molecule_id);

ALTER TABLE molecule_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE molecule_records FORCE ROW LEVEL SECURITY;
CREATE POLICY molecule_records_org_isolation ON molecule_records FOR ALL TO PUBLIC
    USING (organization_id = (SELECT molingest_current_org())
           OR organization_id = (SELECT molingest_admin_org()))
    WITH CHECK (organization_id = (SELECT molingest_current_org())
                OR organization_id = (SELECT molingest_admin_org()));
-- As on every shared table since 20261207000001: no DELETE or table-level
-- UPDATE for tenants (either would let one lock the table against all).
GRANT SELECT, INSERT ON molecule_records TO molingest_app;

CREATE TRIGGER molecule_records_audit_insert AFTER INSERT ON molecule_records
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit();
CREATE TRIGGER molecule_records_audit_update AFTER UPDATE ON molecule_records
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit();
CREATE TRIGGER molecule_records_audit_delete AFTER DELETE ON molecule_records
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit();

-- 4. A file that failed for a reason of its own (a corrupt or cut
--    compressed stream, no records at all) says so: the next run does not
--    read the same bytes again, and reports them as still failing.
-- 6. Files loaded before this migration have no repeats recorded: until a
--    run reads them whole again (`load --full`), a sync retracts nothing
--    (a molecule may be held by one of them without a record saying so).
ALTER TABLE molecule_files
    ADD COLUMN retired_at TIMESTAMPTZ,
    ADD COLUMN retired_by UUID,
    ADD COLUMN failed_on_content BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN provenance_complete BOOLEAN NOT NULL DEFAULT false,
    -- 7. The same bytes elsewhere: every other location where a run found
    --    this content (a file row is one per content, named by its first
    --    location). A sync of one source keeps a content another source
    --    still holds.
    ADD COLUMN also_at TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE molecule_files ALTER COLUMN provenance_complete SET DEFAULT true;
GRANT UPDATE (retired_at, retired_by, failed_on_content, provenance_complete, also_at)
    ON molecule_files TO molingest_app;

-- 5. A file refused before any record was read, for its own bytes (binary
--    content, empty, a corrupt compressed header), is remembered by content
--    hash: the next run that finds the same bytes names it as still failing
--    instead of reading it again.
CREATE TABLE refused_files (
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    content_hash    BYTEA NOT NULL CHECK (length(content_hash) = 32),
    source_uri      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    refused_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, content_hash)
);
ALTER TABLE refused_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE refused_files FORCE ROW LEVEL SECURITY;
CREATE POLICY refused_files_org_isolation ON refused_files FOR ALL TO PUBLIC
    USING (organization_id = (SELECT molingest_current_org())
           OR organization_id = (SELECT molingest_admin_org()))
    WITH CHECK (organization_id = (SELECT molingest_current_org())
                OR organization_id = (SELECT molingest_admin_org()));
GRANT SELECT, INSERT ON refused_files TO molingest_app;
CREATE TRIGGER refused_files_audit_insert AFTER INSERT ON refused_files
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit();
CREATE TRIGGER refused_files_audit_delete AFTER DELETE ON refused_files
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit();

-- Whether a location lies under one of the sources (a prefix, or the
-- source itself): what `load --sync` may retire.
CREATE FUNCTION molingest_under(location text, sources text[]) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(sources) p
                   WHERE location = p
                      OR starts_with(location, CASE WHEN right(p, 1) = '/' THEN p ELSE p || '/' END))
$$;
GRANT EXECUTE ON FUNCTION molingest_under(text, text[]) TO PUBLIC;

-- Row-level security applies through the view (security_invoker).
CREATE VIEW molecule_provenance WITH (security_invoker = true) AS
    SELECT organization_id, id AS molecule_id, file_id, record_index, record_line, 'first'::text AS kind
    FROM molecules WHERE file_id IS NOT NULL
    UNION ALL
    SELECT organization_id, molecule_id, file_id, record_index, record_line, 'occurrence'
    FROM molecule_occurrences WHERE file_id IS NOT NULL
    UNION ALL
    SELECT organization_id, molecule_id, file_id, record_index, record_line, 'repeat'
    FROM molecule_records;
GRANT SELECT ON molecule_provenance TO molingest_app;

CREATE OR REPLACE FUNCTION molingest_bulk_attach(org uuid, run uuid, molecules_rows bigint, properties_rows bigint,
                                                 OUT how text, OUT inserted bigint)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    hex text := replace(org::text, '-', '');
    m text := 'molecules_' || hex;
    p text := 'molecule_properties_' || hex;
    bm text := 'molecules_bulk_' || hex;
    bp text := 'molecule_properties_bulk_' || hex;
    occupied boolean;
    r record;
BEGIN
    PERFORM set_config('molingest.run_id', coalesce(run::text, ''), true);
    EXECUTE format('LOCK TABLE public.%I, public.%I IN SHARE MODE', m, p);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM public.%I)', m) INTO occupied;
    IF occupied THEN
        EXECUTE format('INSERT INTO public.molecules SELECT * FROM public.%I ORDER BY content_hash
                        ON CONFLICT (organization_id, content_hash) DO NOTHING', bm);
        GET DIAGNOSTICS inserted = ROW_COUNT;
        EXECUTE format('INSERT INTO public.molecule_properties SELECT b.* FROM public.%I b
                        JOIN public.molecules x ON x.organization_id = b.organization_id AND x.id = b.molecule_id
                        ON CONFLICT DO NOTHING', bp);
        EXECUTE format('DROP TABLE public.%I, public.%I', bp, bm);
        how := 'merged';
        RETURN;
    END IF;
    EXECUTE format('ALTER TABLE public.molecule_properties DETACH PARTITION public.%I', p);
    EXECUTE format('ALTER TABLE public.molecules DETACH PARTITION public.%I', m);
    EXECUTE format('DROP TABLE public.%I, public.%I', p, m);
    EXECUTE format('ALTER TABLE public.molecules ATTACH PARTITION public.%I FOR VALUES IN (%L)', bm, org);
    EXECUTE format('ALTER TABLE public.molecule_properties ATTACH PARTITION public.%I FOR VALUES IN (%L)', bp, org);
    EXECUTE format('ALTER TABLE public.%I RENAME TO %I', bm, m);
    EXECUTE format('ALTER TABLE public.%I RENAME TO %I', bp, p);
    -- Constraints (with the indexes behind them), then the other indexes:
    -- the partition's names, not the bulk table's. (PostgreSQL may have cut
    -- a long generated name inside the organization's hex: only the first
    -- '_bulk_' is taken out.)
    FOR r IN SELECT c.conrelid::regclass AS tbl, c.conname FROM pg_constraint c
             WHERE c.conrelid IN (('public.' || quote_ident(m))::regclass, ('public.' || quote_ident(p))::regclass)
               AND position('_bulk_' IN c.conname) > 0
    LOOP
        EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', r.tbl, r.conname,
                       regexp_replace(r.conname, '_bulk_', '_'));
    END LOOP;
    FOR r IN SELECT i.indexrelid::regclass AS idx, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE i.indrelid IN (('public.' || quote_ident(m))::regclass, ('public.' || quote_ident(p))::regclass)
               AND position('_bulk_' IN c.relname) > 0
    LOOP
        EXECUTE format('ALTER INDEX %s RENAME TO %I', r.idx, regexp_replace(r.relname, '_bulk_', '_'));
    END LOOP;
    INSERT INTO audit_log (organization_id, actor, action, entity_type, details) VALUES
        (org, session_user, 'insert', 'molecules',
         jsonb_build_object('rows', molecules_rows, 'run', run, 'path', 'bulk')),
        (org, session_user, 'insert', 'molecule_properties',
         jsonb_build_object('rows', properties_rows, 'run', run, 'path', 'bulk'));
    how := 'attached';
    inserted := molecules_rows;
END
$$;
REVOKE ALL ON FUNCTION molingest_bulk_attach(uuid, uuid, bigint, bigint) FROM PUBLIC;
