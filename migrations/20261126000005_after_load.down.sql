DROP FUNCTION IF EXISTS molingest_after_load(uuid, bigint);
