"""Third-party tenant tables reference public tables by id, without a database constraint (issue 17).

Our models declare ``db_constraint=False`` on every reference to a shared table (users, content types,
permissions); django-guardian's object permissions and django-auditlog's own log entry table (created
by its migrations although ``AUDITLOG_LOGENTRY_MODEL`` points to ours) cannot say so, so their foreign
keys into another schema are dropped here, found by the catalog rather than by their generated names.
Each such constraint put RI triggers on the public table for every organization: thousands of triggers
on ``tenants_user``, added under a lock at every provisioning and checked at every user update.
Not restored backwards: the constraints' absence is the design.
"""

from django.db import migrations

DROP_PUBLIC_REFERENCES = """
DO $$
DECLARE
    reference record;
BEGIN
    FOR reference IN
        SELECT constraint_.conname, referencing.relname
        FROM pg_constraint constraint_
        JOIN pg_class referencing ON referencing.oid = constraint_.conrelid
        JOIN pg_class referenced ON referenced.oid = constraint_.confrelid
        WHERE constraint_.contype = 'f'
          AND referencing.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
          AND referenced.relnamespace <> referencing.relnamespace
          AND referencing.relname IN (
              'guardian_userobjectpermission', 'guardian_groupobjectpermission', 'auditlog_logentry'
          )
    LOOP
        EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', reference.relname, reference.conname);
    END LOOP;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0004_public_references_unconstrained"),
        ("auditlog", "0017_add_actor_email"),
        ("guardian", "0003_remove_groupobjectpermission_guardian_gr_content_ae6aec_idx_and_more"),
    ]

    operations = [migrations.RunSQL(DROP_PUBLIC_REFERENCES, reverse_sql=migrations.RunSQL.noop)]
