-- Chemical identity (issue #11): the canonical SMILES goes to
-- molecules.smiles; structure_key is blake3 of it (32 bytes);
-- identity_version names the canonicaliser that made it (keys of different
-- versions are not comparable); identity_error says why a molecule has no
-- SMILES (never a silent NULL).
ALTER TABLE molecules
    ADD COLUMN structure_key    BYTEA CHECK (length(structure_key) = 32),
    ADD COLUMN identity_version TEXT,
    ADD COLUMN identity_error   TEXT;

CREATE INDEX idx_molecules_org_structure_key ON molecules (organization_id, structure_key)
    WHERE structure_key IS NOT NULL;

-- Every occurrence of a molecule under `load --dedup structure`: the same
-- structure from another file, export or conformer is one molecule, and each
-- distinct record of it is one row here, with its file, record, line and its
-- own data fields.
CREATE TABLE molecule_occurrences (
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    molecule_id     UUID NOT NULL,
    file_id         UUID,
    record_index    BIGINT NOT NULL,
    record_line     BIGINT,
    content_hash    BYTEA NOT NULL CHECK (length(content_hash) = 32),
    name            VARCHAR(255),
    properties      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMP DEFAULT NOW(),
    PRIMARY KEY (organization_id, content_hash),
    CONSTRAINT valid_occurrence_properties CHECK (jsonb_typeof(properties) = 'object'),
    FOREIGN KEY (organization_id, molecule_id) REFERENCES molecules (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, file_id) REFERENCES molecule_files (organization_id, id)
);
CREATE INDEX idx_molecule_occurrences_org_molecule ON molecule_occurrences (organization_id, molecule_id);
CREATE INDEX idx_molecule_occurrences_org_file ON molecule_occurrences (organization_id, file_id);

ALTER TABLE molecule_occurrences ENABLE ROW LEVEL SECURITY;
ALTER TABLE molecule_occurrences FORCE ROW LEVEL SECURITY;
CREATE POLICY molecule_occurrences_org_isolation ON molecule_occurrences FOR ALL TO PUBLIC
    USING (organization_id = (SELECT molingest_current_org()))
    WITH CHECK (organization_id = (SELECT molingest_current_org()));
GRANT SELECT, INSERT, UPDATE, DELETE ON molecule_occurrences TO molingest_app;

CREATE TRIGGER molecule_occurrences_audit_insert AFTER INSERT ON molecule_occurrences
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit();
CREATE TRIGGER molecule_occurrences_audit_update AFTER UPDATE ON molecule_occurrences
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit();
CREATE TRIGGER molecule_occurrences_audit_delete AFTER DELETE ON molecule_occurrences
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION molingest_audit();
