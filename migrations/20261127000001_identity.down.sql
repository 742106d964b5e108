DROP TABLE IF EXISTS molecule_occurrences;
DROP INDEX IF EXISTS idx_molecules_org_structure_key;
ALTER TABLE molecules
    DROP COLUMN IF EXISTS identity_error,
    DROP COLUMN IF EXISTS identity_version,
    DROP COLUMN IF EXISTS structure_key;
