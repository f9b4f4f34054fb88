"""The trail's object and type columns keep one index each, for equality (the queries of the trail):
their LIKE (pattern-ops) twins, which nothing uses, go. Two indexes fewer to maintain for every entry
written; a bulk import writes one entry per row (issue 16). Only indexes change: no row is touched.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_seal_set_based"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditentry",
            name="object_pk",
            field=models.CharField(max_length=255, verbose_name="object pk"),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="object_type",
            field=models.CharField(max_length=100),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["object_pk"], name="audit_entry_object_pk_idx"),
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(fields=["object_type"], name="audit_entry_object_type_idx"),
        ),
    ]
