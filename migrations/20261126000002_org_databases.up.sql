-- Per-organization databases: where an organization's data lives when it is
-- not this (the control) database. A postgres:// URL without credentials —
-- molingest refuses one with a password; the password comes from the
-- environment (PGPASSWORD), a .pgpass file (PGPASSFILE), or the caller's
-- own URL. NULL: the data lives here.
ALTER TABLE organizations ADD COLUMN database_location TEXT;
