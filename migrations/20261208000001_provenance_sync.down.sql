-- Back to 20261207000003: no provenance of repeated records, no retired
-- files (a retired file's molecules that a sync removed stay removed).
DROP VIEW molecule_provenance;
DROP TABLE molecule_records;
DROP TABLE refused_files;
DROP FUNCTION molingest_under(text, text[]);
ALTER TABLE molecule_files DROP COLUMN retired_at, DROP COLUMN retired_by, DROP COLUMN failed_on_content,
    DROP COLUMN provenance_complete,
    DROP COLUMN also_at;

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

REVOKE ALL ON FUNCTION molingest_bulk_attach(uuid, uuid, bigint, bigint) FROM PUBLIC;
