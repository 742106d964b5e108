DROP FUNCTION IF EXISTS molingest_bulk_discard(uuid);
DROP FUNCTION IF EXISTS molingest_bulk_attach(uuid, uuid, bigint, bigint);
DROP FUNCTION IF EXISTS molingest_bulk_ddl(uuid, text);
DROP FUNCTION IF EXISTS molingest_bulk_create(uuid, text);
