from django.db import migrations

# Tamper evidence, in the database so no code path can skip it. Runs in each tenant schema, as the
# owner role: the runtime role owns neither the table nor these triggers, so it cannot drop them.
#
# * audit_entry_digest: SHA-256 over a canonical JSON (jsonb's text form) of the entry's fields and
#   the previous entry's hash. verify_audit recomputes it with the same function.
# * audit_entry_chain (BEFORE INSERT): serializes appends per organization with a transaction-level
#   advisory lock, then numbers the row and links it to the last one. Row triggers see the rows an
#   INSERT inserted before, so a multi-row INSERT chains in order: one round-trip per request.
# * audit_entry_append_only (BEFORE UPDATE OR DELETE, and TRUNCATE): refuses every change.
CHAIN_SQL = r"""
CREATE FUNCTION audit_entry_digest(e audit_auditentry) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    RETURN encode(sha256(convert_to(jsonb_build_object(
        'sequence', e.sequence,
        'organization_id', e.organization_id,
        'action', e.action,
        'content_type_id', e.content_type_id,
        'object_type', e.object_type,
        'object_pk', e.object_pk,
        'object_ids', e.object_ids,
        'object_repr', e.object_repr,
        'changes', e.changes,
        'actor_id', e.actor_id,
        'actor_email', e.actor_email,
        'request_id', e.request_id,
        'remote_addr', host(e.remote_addr),
        'user_agent', e.user_agent,
        'timestamp', to_char(e."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        'additional_data', e.additional_data,
        'previous_hash', e.previous_hash
    )::text, 'UTF8')), 'hex');
END
$fn$;

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

CREATE FUNCTION audit_entry_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER audit_entry_chain BEFORE INSERT ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_chain();
CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse_change();
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_refuse_change();
"""

REVERSE_SQL = r"""
DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_auditentry;
DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_auditentry;
DROP TRIGGER IF EXISTS audit_entry_chain ON audit_auditentry;
DROP FUNCTION IF EXISTS audit_entry_refuse_change();
DROP FUNCTION IF EXISTS audit_entry_chain();
DROP FUNCTION IF EXISTS audit_entry_digest(audit_auditentry);
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunSQL(CHAIN_SQL, reverse_sql=REVERSE_SQL)]
