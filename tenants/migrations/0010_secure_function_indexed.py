import importlib

from django.db import migrations

# hub_secure_tenant_schema found the schema's tables by a filter on pg_class.relnamespace, which has no
# index: a scan of every organization's relations at each provisioning (issue 17: 10,000 organizations
# hold some 2.3 million). The same function finds them through pg_depend's index on the referenced
# object instead (every table records a dependency on its schema), as tenants/template.py does.
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
        FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
        WHERE d.refclassid = 'pg_namespace'::regclass
          AND d.refobjid = (SELECT ns.oid FROM pg_namespace ns WHERE ns.nspname = target_schema)
          AND d.refobjsubid = 0 AND d.classid = 'pg_class'::regclass AND d.deptype = 'n'
          AND c.relkind IN ('r', 'p') AND c.relname <> 'django_migrations'
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
PREVIOUS_FUNCTION = importlib.import_module("tenants.migrations.0002_rls_function").SECURE_FUNCTION


class Migration(migrations.Migration):
    dependencies = [("tenants", "0009_tenant_migration_state")]

    operations = [migrations.RunSQL(SECURE_FUNCTION, reverse_sql=PREVIOUS_FUNCTION)]
