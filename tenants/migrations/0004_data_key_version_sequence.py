from django.db import migrations

# Data-key versions from one sequence for every organization, so a version is never reused, not even
# by an organization deleted and provisioned again under the same id (tenants.crypto). Starts past
# every version already stored, so the existing ciphertexts keep naming their keys.
SEQUENCE_SQL = r"""
CREATE SEQUENCE public.tenants_datakey_version_seq AS integer OWNED BY public.tenants_datakey.version;
SELECT setval(
    'public.tenants_datakey_version_seq',
    COALESCE((SELECT max(version) FROM public.tenants_datakey), 0) + 1,
    false
);
"""
REVERSE_SQL = "DROP SEQUENCE IF EXISTS public.tenants_datakey_version_seq;"


def first_data_keys(apps, schema_editor):
    """Organizations provisioned before field encryption get their first data key (moved here from
    0003: creating a key needs the sequence)."""
    from tenants import crypto

    Organization = apps.get_model("tenants", "Organization")
    alias = schema_editor.connection.alias
    for organization_id in Organization.objects.using(alias).values_list("organization_id", flat=True):
        crypto.data_key_ensure(organization_id, using=alias)


class Migration(migrations.Migration):
    dependencies = [("tenants", "0003_data_keys")]

    operations = [
        migrations.RunSQL(SEQUENCE_SQL, reverse_sql=REVERSE_SQL),
        migrations.RunPython(first_data_keys, migrations.RunPython.noop),
    ]
