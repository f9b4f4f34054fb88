"""Imported resources and bookings carry their import's id (``source_import``, issue 16), for undo: a plain
UUID (no foreign key to ``apps.imports``), indexed where set."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="booking",
            name="source_import",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="resource",
            name="source_import",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="booking",
            index=models.Index(
                condition=models.Q(("source_import__isnull", False)),
                fields=["source_import"],
                name="booking_import_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="resource",
            index=models.Index(
                condition=models.Q(("source_import__isnull", False)),
                fields=["source_import"],
                name="resource_import_idx",
            ),
        ),
    ]
