from django.db import migrations

# One function secures a tenant schema: every table (ours and third-party, e.g. guardian's and
# auditlog's) gets organization_id defaulting to the transaction's organization, row-level security
# enabled and forced, and a policy pinned to this schema's own organization. Run after every tenant
# migration, so a table added later can never be missed (tests/test_rls_catalog.py checks it).
SECURE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION public.hub_secure_tenant_schema(
    target_schema text, organization uuid, runtime_role text
) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    tbl record;
    guard text := format(
        'organization_id = %L::uuid AND organization_id = NULLIF(current_setting(%L, true), '''')::uuid',
        organization, 'hub.organization_id'
    );
    secured integer := 0;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', target_schema, runtime_role);
    FOR tbl IN
        SELECT c.oid, c.relname
        FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE ns.nspname = target_schema AND c.relkind IN ('r', 'p') AND c.relname <> 'django_migrations'
        ORDER BY c.relname
    LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_attribute a
            WHERE a.attrelid = tbl.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
        ) THEN
            EXECUTE format(
                'ALTER TABLE %I.%I ADD COLUMN organization_id uuid NOT NULL '
                'DEFAULT NULLIF(current_setting(%L, true), '''')::uuid',
                target_schema, tbl.relname, 'hub.organization_id'
            );
        END IF;
        EXECUTE format(
            'ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY',
            target_schema, tbl.relname
        );
        EXECUTE format('DROP POLICY IF EXISTS organization_isolation ON %I.%I', target_schema, tbl.relname);
        EXECUTE format(
            'CREATE POLICY organization_isolation ON %I.%I USING (%s) WITH CHECK (%s)',
            target_schema, tbl.relname, guard, guard
        );
        secured := secured + 1;
    END LOOP;
    IF to_regclass(format('%I.django_migrations', target_schema)) IS NOT NULL THEN
        EXECUTE format('GRANT SELECT ON %I.django_migrations TO %I', target_schema, runtime_role);
        EXECUTE format(
            'REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON %I.django_migrations FROM %I',
            target_schema, runtime_role
        );
    END IF;
    RETURN secured;
END
$fn$;
REVOKE ALL ON FUNCTION public.hub_secure_tenant_schema(text, uuid, text) FROM PUBLIC;
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunSQL(
            SECURE_FUNCTION,
            reverse_sql="DROP FUNCTION IF EXISTS public.hub_secure_tenant_schema(text, uuid, text);",
        )
    ]
