-- `--identity inchi`: the standard InChI and InChIKey beside the SMILES
-- (NULL unless asked for; the key indexed per organization where set).
ALTER TABLE molecules ADD COLUMN inchi TEXT, ADD COLUMN inchikey CHAR(27);
CREATE INDEX idx_molecules_org_inchikey ON molecules (organization_id, inchikey)
    WHERE inchikey IS NOT NULL;
