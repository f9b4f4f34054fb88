from django.db import migrations

BUILTIN_KINDS = [
    ("customer", "Customer"),
    ("supplier", "Supplier"),
    ("contact", "Contact"),
    ("asset", "Asset"),
]


def add_builtin_kinds(apps, schema_editor):
    EntityKind = apps.get_model("entities", "EntityKind")
    for key, label in BUILTIN_KINDS:
        EntityKind.objects.using(schema_editor.connection.alias).get_or_create(
            key=key, defaults={"label": label, "builtin": True}
        )


class Migration(migrations.Migration):
    dependencies = [("entities", "0002_initial")]

    operations = [migrations.RunPython(add_builtin_kinds, migrations.RunPython.noop)]
