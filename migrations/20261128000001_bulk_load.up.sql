-- The bulk first load (README § Bulk first load). An organization's first
-- load fills two standalone tables (`molecules_bulk_<org>`,
-- `molecule_properties_bulk_<org>`), created in the transaction whose
-- binary COPY … FREEZE fills them, then given the parents' keys, indexes
-- and foreign keys, and swapped in for the organization's empty
-- partitions in one short transaction. Administrator only: the functions
-- are not granted to tenants, who load through the staging path.

-- A standalone table shaped like the parent, holding only this
-- organization's rows (the CHECK lets ATTACH skip its validation scan). A
-- leftover of a killed run is dropped first.
CREATE FUNCTION molingest_bulk_create(org uuid, parent text) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    name text := parent || '_bulk_' || replace(org::text, '-', '');
BEGIN
    IF parent NOT IN ('molecules', 'molecule_properties') THEN
        RAISE EXCEPTION 'molingest_bulk_create: % is not partitioned by organization', parent;
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS public.%I', name);
    EXECUTE format('CREATE TABLE public.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   name, parent);
    EXECUTE format('ALTER TABLE public.%I ADD CONSTRAINT %I CHECK (organization_id = %L)',
                   name, name || '_org', org);
    RETURN name;
END
$$;

-- The statements that give a filled bulk table its parent's primary and
-- unique keys, indexes and foreign keys, read from the catalog so they
-- always match what ATTACH looks for. The foreign key of
-- molecule_properties to molecules is left to ATTACH (the molecules it
-- references are not attached yet). Independent of each other: the loader
-- runs them on two connections.
CREATE FUNCTION molingest_bulk_ddl(org uuid, parent text) RETURNS SETOF text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
DECLARE
    name text := parent || '_bulk_' || replace(org::text, '-', '');
    rel regclass := ('public.' || quote_ident(parent))::regclass;
BEGIN
    RETURN QUERY
        SELECT format('ALTER TABLE public.%I ADD %s', name, pg_get_constraintdef(c.oid))
        FROM pg_constraint c
        WHERE c.conrelid = rel AND c.contype IN ('p', 'u') AND c.conparentid = 0;
    RETURN QUERY
        SELECT format('CREATE %sINDEX ON public.%I %s',
                      CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, name,
                      substring(pg_get_indexdef(i.indexrelid) FROM ' USING .*$'))
        FROM pg_index i
        WHERE i.indrelid = rel
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = rel);
    RETURN QUERY
        SELECT format('ALTER TABLE public.%I ADD %s', name, pg_get_constraintdef(c.oid))
        FROM pg_constraint c
        WHERE c.conrelid = rel AND c.contype = 'f' AND c.conparentid = 0
          AND c.confrelid <> 'public.molecules'::regclass;
END
$$;

-- Swap the filled, indexed bulk tables in for the organization's empty
-- partitions, and write the audit rows of what was attached (the
-- statement triggers do not see an ATTACH). Run in the transaction that
-- also completes the load's files, with a lock_timeout: the detach takes
-- the parents' ACCESS EXCLUSIVE lock for milliseconds. If rows reached the
-- partition meanwhile (a tenant's own INSERT, an import), nothing is
-- swapped: the bulk rows are inserted beside them, duplicates dropped, and
-- the triggers audit that. Returns how ('attached' or 'merged') and the
-- molecules inserted.
CREATE FUNCTION molingest_bulk_attach(org uuid, run uuid, molecules_rows bigint, properties_rows bigint,
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
    EXECUTE format('ALTER TABLE public.%I RENAME CONSTRAINT %I TO %I', m, bm || '_org', m || '_org');
    EXECUTE format('ALTER TABLE public.%I RENAME CONSTRAINT %I TO %I', p, bp || '_org', p || '_org');
    INSERT INTO audit_log (organization_id, actor, action, entity_type, details) VALUES
        (org, session_user, 'insert', 'molecules',
         jsonb_build_object('rows', molecules_rows, 'run', run, 'path', 'bulk')),
        (org, session_user, 'insert', 'molecule_properties',
         jsonb_build_object('rows', properties_rows, 'run', run, 'path', 'bulk'));
    how := 'attached';
    inserted := molecules_rows;
END
$$;

-- Drop what a killed bulk load left unattached.
CREATE FUNCTION molingest_bulk_discard(org uuid) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS public.%I, public.%I',
                   'molecule_properties_bulk_' || replace(org::text, '-', ''),
                   'molecules_bulk_' || replace(org::text, '-', ''));
END
$$;

REVOKE ALL ON FUNCTION molingest_bulk_create(uuid, text), molingest_bulk_ddl(uuid, text),
    molingest_bulk_attach(uuid, uuid, bigint, bigint), molingest_bulk_discard(uuid) FROM PUBLIC;
