-- Canonical SMILES may hold dative bonds as RDKit writes them (`->`, `<-`):
-- organometallics, MDL coordination bonds and SMILES that write them. The
-- design's smiles_string domain had no `<` or `>`; it gains them, nothing
-- else (docs/design-deviations.md).
ALTER DOMAIN smiles_string DROP CONSTRAINT smiles_string_check;
ALTER DOMAIN smiles_string ADD CONSTRAINT smiles_string_check
    CHECK (VALUE ~ '^[A-Za-z0-9@+\-\[\]()=#$:.%\\\/<>]+$');
