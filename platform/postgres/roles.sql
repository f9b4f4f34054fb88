-- Cluster-level bootstrap, run once per PostgreSQL cluster as a superuser:
--   psql -U postgres -v ON_ERROR_STOP=1 -f platform/postgres/roles.sql
-- then create the database owned by the owner role:
--   createdb -U postgres -O hub_owner hub_backend
-- Passwords are set by the operator (ALTER ROLE ... PASSWORD ...), never committed.
--
-- hub_owner owns every schema and table: migrations and tenant provisioning run as it.
-- hub_app is the runtime role: no superuser, no BYPASSRLS, owns nothing in a tenant schema,
-- so it can neither disable nor escape row-level security.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hub_owner') THEN
        CREATE ROLE hub_owner LOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'hub_app') THEN
        CREATE ROLE hub_app LOGIN;
    END IF;
END
$$;

ALTER ROLE hub_owner NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOREPLICATION;
ALTER ROLE hub_app NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB NOREPLICATION;
