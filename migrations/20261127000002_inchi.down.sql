DROP INDEX IF EXISTS idx_molecules_org_inchikey;
ALTER TABLE molecules DROP COLUMN IF EXISTS inchikey, DROP COLUMN IF EXISTS inchi;
