-- Tenants that cannot cross. The tenant is no longer a setting a session
-- can change (set_config) but the role it is: every organization has a
-- NOLOGIN role molingest_org_<id as 32 hex digits>, and a row is visible or
-- writable only to a session whose current role is, or inherits, exactly one
-- organization role, that of the row's organization. Membership can only be
-- granted by the administrator (the role that ran the migrations, with
-- CREATEROLE), so a tenant login cannot forge it.
--
-- molingest_app stays the group that holds the table privileges; every
-- organization role is a member of it. Being a member of molingest_app alone
-- gives no organization: such a session sees no tenant row.

-- The organization of the current role: the one organization role it is or
-- inherits; NULL when it is none, or more than one (the administrator, a
-- superuser, a login granted twice by hand). Policies call it through a
-- sub-select, so it runs once per statement.
CREATE FUNCTION molingest_current_org() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN count(*) = 1 THEN (array_agg(substr(r.rolname, 15)))[1]::uuid END
    FROM pg_catalog.pg_roles r
    WHERE r.rolname ~ '^molingest_org_[0-9a-f]{32}$'
      AND pg_catalog.pg_has_role(current_user, r.oid, 'USAGE')
$$;
REVOKE ALL ON FUNCTION molingest_current_org() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION molingest_current_org() TO molingest_app;

-- One role per existing organization (new ones: `molingest org add`).
DO $$
DECLARE
    o uuid;
    r text;
BEGIN
    FOR o IN SELECT id FROM organizations LOOP
        r := 'molingest_org_' || replace(o::text, '-', '');
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE', r);
        END IF;
        EXECUTE format('GRANT molingest_app TO %I', r);
        EXECUTE format('GRANT %I TO %I', r, current_user);
    END LOOP;
END
$$;

-- The policies: keyed on the role, for every role (PUBLIC), and FORCEd so
-- that the owner does not silently see every tenant either (a superuser
-- still bypasses row-level security: PostgreSQL's rule).
DO $$
DECLARE
    t TEXT;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'users', 'user_sessions', 'molecule_files', 'molecules', 'molecule_properties',
        'docking_jobs', 'job_executions', 'job_results', 'pipelines', 'pipeline_executions',
        'audit_log', 'organization_config']
    LOOP
        EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_org_isolation', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I FOR ALL TO PUBLIC
                 USING (organization_id = (SELECT molingest_current_org()))
                 WITH CHECK (organization_id = (SELECT molingest_current_org()))',
            t || '_org_isolation', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;

-- The organizations directory: a tenant sees its own row only; the owner
-- (the administrator) sees all of them, since it names and routes tenants.
DROP POLICY IF EXISTS organizations_org_isolation ON organizations;
CREATE POLICY organizations_org_isolation ON organizations FOR SELECT TO PUBLIC
    USING (id = (SELECT molingest_current_org()));

-- Tenants may check the schema version (molingest does, before a load).
GRANT SELECT ON _sqlx_migrations TO molingest_app;

-- Names are unique whatever their case (molingest trims and NFC-normalises
-- them before they get here).
CREATE UNIQUE INDEX organizations_name_lower_key ON organizations (lower(name));

-- No tenant creates objects in the schema the administrator's search_path
-- includes (PostgreSQL 15 already revokes it; older servers do not).
DO $$
BEGIN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'not the owner of schema public: check that PUBLIC has no CREATE on it';
END
$$;
