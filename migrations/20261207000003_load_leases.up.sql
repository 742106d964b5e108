-- Leases instead of session advisory locks: one row per (organization,
-- source) that a running load holds, with an expiry its watch task renews.
-- They work through a connection pooler in transaction mode (a session
-- advisory lock lands on whichever server connection ran the statement and
-- outlives the client), and they live under row-level security: a tenant
-- sees, takes and blocks only its own organization's leases (advisory lock
-- keys are one space for the whole server, open to every login).
--
-- source '' is the organization's own row: every lease change of the
-- organization first locks it (FOR UPDATE), so changes are serialized per
-- organization; a bulk first load holds it (holder set) exclusively.
CREATE TABLE load_leases (
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    source          TEXT NOT NULL,
    holder          UUID,
    expires_at      TIMESTAMPTZ,
    -- The run holding this source's lease has chosen the staging path (a
    -- bulk first load waits for no run that is still choosing).
    staging         BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (organization_id, source)
);

ALTER TABLE load_leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE load_leases FORCE ROW LEVEL SECURITY;
CREATE POLICY load_leases_org_isolation ON load_leases FOR ALL TO PUBLIC
    USING (organization_id = (SELECT molingest_current_org())
           OR organization_id = (SELECT molingest_admin_org()))
    WITH CHECK (organization_id = (SELECT molingest_current_org())
                OR organization_id = (SELECT molingest_admin_org()));
-- As on every shared table (migration tenant_availability): no DELETE and
-- no table-level UPDATE for tenants, so no lock stronger than ROW EXCLUSIVE.
-- A lease is given back by clearing its holder.
GRANT SELECT, INSERT, UPDATE (source, holder, expires_at, staging) ON load_leases TO molingest_app;
