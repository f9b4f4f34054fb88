"""Entities keep the indexes their queries use and no twin: the kind column loses its own index and its
LIKE (pattern-ops) twin (the (kind, name, id) and (kind, status) indexes lead with it), the blind
indexes lose their LIKE twins (a hash is only ever compared whole). Four indexes fewer to maintain on
every write; a bulk import of entities spends less in the database (issue 16).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import tenants.fields


class Migration(migrations.Migration):
    dependencies = [
        ("entities", "0009_public_references_unconstrained"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="entity",
            name="email_index",
            field=tenants.fields.BlindIndexField(
                blank=True, db_index=False, default="", editable=False, max_length=64, source="email"
            ),
        ),
        migrations.AlterField(
            model_name="entity",
            name="kind",
            field=models.ForeignKey(
                db_column="kind",
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="entities.entitykind",
            ),
        ),
        migrations.AlterField(
            model_name="entity",
            name="phone_index",
            field=tenants.fields.BlindIndexField(
                blank=True, db_index=False, default="", editable=False, max_length=64, source="phone"
            ),
        ),
        migrations.AddIndex(
            model_name="entity",
            index=models.Index(fields=["email_index"], name="entity_email_index_idx"),
        ),
        migrations.AddIndex(
            model_name="entity",
            index=models.Index(fields=["phone_index"], name="entity_phone_index_idx"),
        ),
    ]
