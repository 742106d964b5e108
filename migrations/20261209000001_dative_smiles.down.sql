-- Back to the design's domain: SMILES with dative bonds go (NULL, with the
-- reason, as before this migration), and their structure keys with them.
UPDATE molecules SET smiles = NULL, structure_key = NULL,
       identity_error = 'no SMILES: unsupported: organometallic: dative bonds (RDKit writes `->`, outside the smiles_string domain)'
 WHERE smiles ~ '[<>]';
ALTER DOMAIN smiles_string DROP CONSTRAINT smiles_string_check;
ALTER DOMAIN smiles_string ADD CONSTRAINT smiles_string_check
    CHECK (VALUE ~ '^[A-Za-z0-9@+\-\[\]()=#$:.%\\\/]+$');
