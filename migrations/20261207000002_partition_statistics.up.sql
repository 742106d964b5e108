-- Plans that cannot go quadratic. In an organization's partition every row
-- has the same organization_id. ANALYZE of a partition holding one or two
-- molecules (a small first load) records that column as unique, and the
-- planner then takes `organization_id = $1` as selecting one row: the
-- foreign-key check of every molecule_properties row picks the
-- (organization_id, file_id) index with only organization_id as its
-- condition — a scan of the whole partition per row, so a load's cost grew
-- with the square of its size (60,000 records: 2 minutes instead of 3 s).
-- The column's true statistic, one distinct value, is declared on every
-- organization partition (used by each ANALYZE), and partitions analysed
-- while small are analysed again now.

CREATE OR REPLACE FUNCTION molingest_partition_stats(rel regclass) RETURNS void
    LANGUAGE plpgsql
    SET search_path = pg_catalog, public, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ALTER COLUMN organization_id SET (n_distinct = 1)', rel);
END
$$;
REVOKE ALL ON FUNCTION molingest_partition_stats(regclass) FROM PUBLIC;

-- New partitions get it when they are made (org add, bulk first load).
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
            PERFORM molingest_partition_stats(('public.' || quote_ident(t || '_' || hex))::regclass);
            EXECUTE format('ALTER TABLE public.%I ATTACH PARTITION public.%I FOR VALUES IN (%L)',
                           t, t || '_' || hex, org);
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION molingest_add_partitions(uuid) FROM PUBLIC;

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
    PERFORM molingest_partition_stats(('public.' || quote_ident(name))::regclass);
    RETURN name;
END
$$;
REVOKE ALL ON FUNCTION molingest_bulk_create(uuid, text) FROM PUBLIC;

-- Every existing organization partition; analysed again when its
-- statistics came from fewer than 1,000 rows.
DO $$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass AS rel, c.reltuples
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent IN ('public.molecules'::regclass, 'public.molecule_properties'::regclass)
    LOOP
        PERFORM molingest_partition_stats(part.rel);
        IF part.reltuples >= 0 AND part.reltuples < 1000 THEN
            EXECUTE format('ANALYZE %s', part.rel);
        END IF;
    END LOOP;
END
$$;
