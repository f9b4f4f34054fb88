"""The chain is sealed after commit, off the request's commit path; the table keeps the indexes its
queries use.

Before: a BEFORE INSERT trigger took a per-organization advisory lock and numbered and hashed each row,
so the lock was held from the request's audit flush until its COMMIT (WAL fsync included) and one
organization's audited requests committed one at a time. Now (as certificate-transparency logs do):

* ``audit_entry_unsealed`` (BEFORE INSERT): an entry is appended unsealed (``sequence`` NULL, no
  hashes), whatever the INSERT says: no lock, no hashing.
* ``audit_seal(max_rows)``: takes the organization's advisory lock if it is free (-1 when it is not),
  and seals the committed unsealed entries in id order, at most ``max_rows``: ``sequence`` = the last
  sealed + 1, ``previous_hash`` = its hash, ``entry_hash`` = ``audit_entry_digest`` (unchanged, so
  verify_audit recomputes it). Its commit does not wait for the WAL flush: the entries are durable
  already, and a seal lost in a crash is just done again. ``apps.audit.services.audit_seal_pending``
  calls it right after each commit that appended entries.
* ``audit_entry_append_only`` (BEFORE UPDATE OR DELETE, and TRUNCATE) refuses every change but one:
  the seal of an unsealed entry, exactly as ``audit_seal`` does it (only the seal columns change, the
  next sequence number, the last sealed entry's hash, the digest of the row). Whoever runs the UPDATE,
  the runtime role by hand included, can only seal the chain, never forge it; and the unique
  ``sequence`` keeps two concurrent seals from taking one number.

Runs in each tenant schema as the owner role (as 0002 does). Entries sealed before stay as they are.
"""

import django.db.models.deletion
from django.db import migrations, models

SEAL_SQL = r"""
DROP TRIGGER audit_entry_chain ON audit_auditentry;
DROP FUNCTION audit_entry_chain();
DROP TRIGGER audit_entry_append_only ON audit_auditentry;

CREATE FUNCTION audit_entry_unsealed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.sequence := NULL;
    NEW.previous_hash := '';
    NEW.entry_hash := '';
    RETURN NEW;
END
$fn$;

-- The last sealed entry's number and hash (0 and '' before the first seal).
CREATE FUNCTION audit_chain_last(OUT last_sequence bigint, OUT last_hash text)
LANGUAGE sql VOLATILE AS $fn$
    SELECT COALESCE(max(sequence), 0), COALESCE(max(entry_hash), '')
    FROM (SELECT sequence, entry_hash FROM audit_auditentry
          WHERE sequence IS NOT NULL ORDER BY sequence DESC LIMIT 1) last
$fn$;

CREATE FUNCTION audit_entry_seal_check() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    last record;
BEGIN
    IF TG_OP <> 'UPDATE' OR OLD.sequence IS NOT NULL THEN
        RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.sequence IS NULL
        OR to_jsonb(NEW) - ARRAY['sequence', 'previous_hash', 'entry_hash']
            IS DISTINCT FROM to_jsonb(OLD) - ARRAY['sequence', 'previous_hash', 'entry_hash'] THEN
        RAISE EXCEPTION 'audit entries are append-only (UPDATE refused: only the seal of an unsealed entry)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    last := audit_chain_last();
    IF NEW.sequence <> last.last_sequence + 1
        OR NEW.previous_hash IS DISTINCT FROM last.last_hash
        OR NEW.entry_hash IS DISTINCT FROM audit_entry_digest(NEW) THEN
        RAISE EXCEPTION 'audit entries are append-only (UPDATE refused: not the next seal of the chain)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE FUNCTION audit_seal(max_rows integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    last record;
    next_sequence bigint;
    previous text;
    entry audit_auditentry;
    sealed integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(
        hashtextextended('hub.audit:' || current_setting('hub.organization_id', true), 0)
    ) THEN
        RETURN -1;
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    last := audit_chain_last();
    next_sequence := last.last_sequence;
    previous := last.last_hash;
    FOR entry IN
        SELECT * FROM audit_auditentry WHERE sequence IS NULL ORDER BY id LIMIT max_rows
    LOOP
        next_sequence := next_sequence + 1;
        entry.sequence := next_sequence;
        entry.previous_hash := previous;
        entry.entry_hash := audit_entry_digest(entry);
        UPDATE audit_auditentry
        SET sequence = entry.sequence, previous_hash = entry.previous_hash, entry_hash = entry.entry_hash
        WHERE id = entry.id;
        previous := entry.entry_hash;
        sealed := sealed + 1;
    END LOOP;
    RETURN sealed;
END
$fn$;

CREATE TRIGGER audit_entry_unsealed BEFORE INSERT ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_unsealed();
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_seal_check();
"""

# Back to 0002's chain on insert (entries still unsealed then stay so: seal them first).
REVERSE_SQL = r"""
DROP TRIGGER audit_entry_append_only ON audit_auditentry;
DROP TRIGGER audit_entry_unsealed ON audit_auditentry;
DROP FUNCTION audit_seal(integer);
DROP FUNCTION audit_entry_seal_check();
DROP FUNCTION audit_chain_last();
DROP FUNCTION audit_entry_unsealed();

CREATE FUNCTION audit_entry_chain() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    last_sequence bigint;
    last_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('hub.audit:' || NEW.organization_id::text, 0));
    SELECT sequence, entry_hash INTO last_sequence, last_hash
    FROM audit_auditentry ORDER BY sequence DESC LIMIT 1;
    NEW.sequence := COALESCE(last_sequence, 0) + 1;
    NEW.previous_hash := COALESCE(last_hash, '');
    NEW.entry_hash := audit_entry_digest(NEW);
    RETURN NEW;
END
$fn$;

CREATE TRIGGER audit_entry_chain BEFORE INSERT ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_chain();
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse_change();
"""


# The single-column index Django made for the foreign key (its name carries a hash): found in the
# catalog of the schema being migrated.
DROP_CONTENT_TYPE_INDEX_SQL = r"""
DO $do$
DECLARE
    index_name text;
BEGIN
    FOR index_name IN
        SELECT i.relname
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
        WHERE t.relname = 'audit_auditentry' AND t.relnamespace = current_schema()::regnamespace
          AND x.indnatts = 1 AND NOT x.indisunique AND a.attname = 'content_type_id'
    LOOP
        EXECUTE format('DROP INDEX %I', index_name);
    END LOOP;
END
$do$;
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain_and_append_only")]

    operations = [
        migrations.RunSQL(SEAL_SQL, reverse_sql=REVERSE_SQL),
        migrations.AlterField(
            model_name="auditentry",
            name="sequence",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.AlterModelOptions(
            name="auditentry",
            options={
                "get_latest_by": "timestamp",
                "ordering": ["-id"],
                "verbose_name": "log entry",
                "verbose_name_plural": "log entries",
            },
        ),
        # Indexes no query uses: nothing filters on the correlation id, auditlog's integer object id,
        # the request id or the content type; ``action`` (four values) is better served by the walk on
        # ``id`` the newest-first list does anyway.
        migrations.AlterField(
            model_name="auditentry",
            name="action",
            field=models.PositiveSmallIntegerField(
                choices=[(0, "create"), (1, "update"), (2, "delete"), (3, "access")], verbose_name="action"
            ),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="cid",
            field=models.CharField(blank=True, max_length=255, null=True, verbose_name="Correlation ID"),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="object_id",
            field=models.BigIntegerField(blank=True, null=True, verbose_name="object id"),
        ),
        migrations.AlterField(
            model_name="auditentry",
            name="request_id",
            field=models.CharField(blank=True, default="", max_length=128),
        ),
        # Only the index goes: altering the field itself would drop and re-add its foreign key, which
        # locks public.django_content_type (ACCESS EXCLUSIVE) until the migrating transaction commits,
        # and provisioning (migrations and first rows in one transaction) would then wait on itself
        # for the content type of its first audit entry, read on the runtime connection.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditentry",
                    name="content_type",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="contenttypes.contenttype",
                        verbose_name="content type",
                    ),
                ),
            ],
            database_operations=[migrations.RunSQL(DROP_CONTENT_TYPE_INDEX_SQL, migrations.RunSQL.noop)],
        ),
        migrations.AddIndex(
            model_name="auditentry",
            index=models.Index(
                condition=models.Q(sequence__isnull=True), fields=["id"], name="audit_entry_unsealed"
            ),
        ),
    ]
