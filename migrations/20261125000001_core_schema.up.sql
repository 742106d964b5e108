-- The schema of shared/design/database-design.md, with what ingestion needs.
-- Deviations from the design are listed in README.md ("Schema").
--
-- Tenancy: every organization-scoped table carries organization_id, and every
-- unique key of such a table (primary keys included) starts with it, so the
-- schema can be distributed by tenant. Foreign keys between scoped tables
-- include organization_id too: a row can never point into another tenant.

CREATE TYPE molecule_format AS ENUM ('sdf', 'pdb', 'mol2', 'smiles', 'pdbqt');
CREATE TYPE job_status AS ENUM ('pending', 'running', 'completed', 'failed', 'cancelled');
CREATE TYPE user_role AS ENUM ('user', 'admin', 'super_admin');

CREATE DOMAIN smiles_string AS TEXT
    CHECK (VALUE ~ '^[A-Za-z0-9@+\-\[\]()=#$:.%\\\/]+$');

CREATE DOMAIN molecular_weight AS NUMERIC(10,4)
    CHECK (VALUE > 0 AND VALUE < 10000);

-- Organizations and user management -----------------------------------------

CREATE TABLE organizations (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        VARCHAR(255) NOT NULL,
    created_at  TIMESTAMP DEFAULT NOW(),
    CONSTRAINT organizations_name_key UNIQUE (name)
);

CREATE TABLE users (
    id              UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email           VARCHAR(255) NOT NULL,
    role            user_role NOT NULL DEFAULT 'user',
    created_at      TIMESTAMP DEFAULT NOW(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT users_org_email_key UNIQUE (organization_id, email)
);

CREATE TABLE user_sessions (
    id              UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL,
    user_id         UUID NOT NULL,
    token_hash      BYTEA NOT NULL,
    created_at      TIMESTAMP DEFAULT NOW(),
    expires_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT user_sessions_token_key UNIQUE (organization_id, token_hash),
    FOREIGN KEY (organization_id, user_id) REFERENCES users (organization_id, id) ON DELETE CASCADE
);

-- Molecular data ---------------------------------------------------------------

-- One row per distinct file content loaded into an organization.
CREATE TABLE molecule_files (
    id              UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    source_uri      TEXT NOT NULL,
    format          molecule_format,  -- NULL: a format beyond the five, read with chemfiles
    compression     TEXT,
    size_bytes      BIGINT NOT NULL,
    source_mtime    TIMESTAMPTZ,
    etag            TEXT,
    content_hash    BYTEA NOT NULL CHECK (length(content_hash) = 32),
    status          job_status NOT NULL DEFAULT 'running',
    record_count    BIGINT,
    rejected_count  BIGINT,
    error           TEXT,
    created_at      TIMESTAMP DEFAULT NOW(),
    completed_at    TIMESTAMP,
    PRIMARY KEY (organization_id, id),
    CONSTRAINT molecule_files_org_hash_key UNIQUE (organization_id, content_hash)
);
CREATE INDEX idx_molecule_files_org_source ON molecule_files (organization_id, source_uri);

CREATE TABLE molecules (
    id               UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id  UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name             VARCHAR(255) NOT NULL,
    description      TEXT,
    smiles           smiles_string,
    formula          VARCHAR(255),
    molecular_weight molecular_weight,
    file_path        TEXT,
    format           molecule_format,
    file_id          UUID,
    record_index     BIGINT,
    record_line      BIGINT,
    content_hash     BYTEA NOT NULL CHECK (length(content_hash) = 32),
    properties       JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at       TIMESTAMP DEFAULT NOW(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT molecules_org_hash_key UNIQUE (organization_id, content_hash),
    CONSTRAINT valid_properties CHECK (jsonb_typeof(properties) = 'object'),
    FOREIGN KEY (organization_id, file_id) REFERENCES molecule_files (organization_id, id)
);

-- Computed properties: one row per molecule.
CREATE TABLE molecule_properties (
    organization_id  UUID NOT NULL,
    molecule_id      UUID NOT NULL,
    atom_count       INTEGER NOT NULL,
    heavy_atom_count INTEGER NOT NULL,
    hydrogen_count   INTEGER NOT NULL,
    implicit_h_count INTEGER NOT NULL,
    bond_count       INTEGER NOT NULL,
    net_charge       INTEGER NOT NULL,
    average_mw       DOUBLE PRECISION NOT NULL,
    computed_at      TIMESTAMP DEFAULT NOW(),
    PRIMARY KEY (organization_id, molecule_id),
    FOREIGN KEY (organization_id, molecule_id) REFERENCES molecules (organization_id, id) ON DELETE CASCADE
);

-- Computational workflows ------------------------------------------------------

CREATE TABLE docking_jobs (
    id              UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            VARCHAR(255) NOT NULL,
    receptor_id     UUID,
    status          job_status NOT NULL DEFAULT 'pending',
    parameters      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_by      UUID,
    created_at      TIMESTAMP DEFAULT NOW(),
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, receptor_id) REFERENCES molecules (organization_id, id),
    FOREIGN KEY (organization_id, created_by) REFERENCES users (organization_id, id)
);

CREATE TABLE job_executions (
    id              UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL,
    job_id          UUID NOT NULL,
    status          job_status NOT NULL DEFAULT 'pending',
    started_at      TIMESTAMP,
    finished_at     TIMESTAMP,
    worker          TEXT,
    error           TEXT,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, job_id) REFERENCES docking_jobs (organization_id, id) ON DELETE CASCADE
);

CREATE TABLE job_results (
    id              UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL,
    job_id          UUID NOT NULL,
    molecule_id     UUID,
    score           DOUBLE PRECISION,
    data            JSONB,
    created_at      TIMESTAMP DEFAULT NOW(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT valid_result_data CHECK (data IS NULL OR jsonb_typeof(data) = 'object'),
    FOREIGN KEY (organization_id, job_id) REFERENCES docking_jobs (organization_id, id) ON DELETE CASCADE,
    FOREIGN KEY (organization_id, molecule_id) REFERENCES molecules (organization_id, id)
);

CREATE TABLE pipelines (
    id              UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            VARCHAR(255) NOT NULL,
    definition      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at      TIMESTAMP DEFAULT NOW(),
    PRIMARY KEY (organization_id, id),
    CONSTRAINT pipelines_org_name_key UNIQUE (organization_id, name)
);

-- A molingest load is a pipeline execution (pipeline 'molingest load').
CREATE TABLE pipeline_executions (
    id                 UUID NOT NULL DEFAULT gen_random_uuid(),
    organization_id    UUID NOT NULL,
    pipeline_id        UUID NOT NULL,
    status             job_status NOT NULL DEFAULT 'pending',
    source             TEXT,
    started_at         TIMESTAMP DEFAULT NOW(),
    finished_at        TIMESTAMP,
    files_seen         BIGINT NOT NULL DEFAULT 0,
    files_loaded       BIGINT NOT NULL DEFAULT 0,
    files_skipped      BIGINT NOT NULL DEFAULT 0,
    files_failed       BIGINT NOT NULL DEFAULT 0,
    records_parsed     BIGINT NOT NULL DEFAULT 0,
    records_inserted   BIGINT NOT NULL DEFAULT 0,
    records_duplicate  BIGINT NOT NULL DEFAULT 0,
    records_rejected   BIGINT NOT NULL DEFAULT 0,
    bytes_read         BIGINT NOT NULL DEFAULT 0,
    rejects            JSONB NOT NULL DEFAULT '[]'::jsonb,
    stats              JSONB NOT NULL DEFAULT '{}'::jsonb,
    error              TEXT,
    PRIMARY KEY (organization_id, id),
    FOREIGN KEY (organization_id, pipeline_id) REFERENCES pipelines (organization_id, id) ON DELETE CASCADE
);

-- System and audit -------------------------------------------------------------

CREATE TABLE audit_log (
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    "timestamp"     TIMESTAMP NOT NULL DEFAULT NOW(),
    actor           TEXT NOT NULL DEFAULT current_user,
    action          TEXT NOT NULL,
    entity_type     TEXT,
    entity_id       UUID,
    details         JSONB NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (organization_id, id)
);

CREATE TABLE system_config (
    key        TEXT PRIMARY KEY,
    value      JSONB NOT NULL,
    updated_at TIMESTAMP DEFAULT NOW()
);

CREATE TABLE organization_config (
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    value           JSONB NOT NULL,
    updated_at      TIMESTAMP DEFAULT NOW(),
    PRIMARY KEY (organization_id, key)
);

-- Indexes (design: "Indexing Strategy" and "JSON Data Structures") ---------------

CREATE INDEX idx_molecules_org_name ON molecules (organization_id, name);
CREATE INDEX idx_jobs_org_status ON docking_jobs (organization_id, status);
CREATE INDEX idx_results_job_created ON job_results (job_id, created_at);
CREATE INDEX idx_audit_org_timestamp ON audit_log (organization_id, "timestamp");
CREATE INDEX idx_molecules_search ON molecules
    USING GIN (to_tsvector('english', name || ' ' || COALESCE(description, '')));
CREATE INDEX idx_molecules_properties ON molecules USING GIN (properties);
CREATE INDEX idx_pipeline_executions_org_started ON pipeline_executions (organization_id, started_at);
