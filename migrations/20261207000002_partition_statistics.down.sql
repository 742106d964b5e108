-- The declared statistic stays on existing partitions (harmless: it is
-- the truth); the functions go back to what they were.
CREATE OR REPLACE FUNCTION molingest_add_partitions(org uuid) RETURNS void
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
CREATE OR REPLACE FUNCTION molingest_bulk_create(org uuid, parent text) RETURNS text
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
DROP FUNCTION IF EXISTS molingest_partition_stats(regclass);
