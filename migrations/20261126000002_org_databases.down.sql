ALTER TABLE organizations DROP COLUMN IF EXISTS database_location;
