"""The seal is one set-based UPDATE per batch, checked once per statement (issue 16).

Before (0003): ``audit_seal`` ran one UPDATE per entry and the BEFORE UPDATE row trigger re-checked each
one (both rows as JSON, a lookup of the chain's last entry, the digest): about 16 s of a 100,000-entity
import. Now:

* ``audit_seal(max_rows)`` still takes the organization's try-lock and computes the chain in id order
  (the digest needs the previous hash: a loop), but into arrays, applied by ONE
  ``UPDATE ... FROM unnest(...)``.
* ``audit_entry_append_only`` is an AFTER UPDATE trigger FOR EACH STATEMENT whose transition
  tables hold every row the statement changed, so it checks the whole batch at once, as it will be
  committed: only unsealed entries, sealed now, with no other column changed (old and new row joined
  on id); their sequences contiguous, in id order, right after the last entry sealed before (and none
  sealed past them); each ``previous_hash`` the hash of the entry before it (the last sealed one's for
  the first); each ``entry_hash`` the digest of its row. Any breach raises, and the whole statement is
  undone: a multi-row UPDATE mixing one good seal with one bad one changes nothing. It keeps the name
  of the row trigger it replaces.
* ``audit_entry_no_delete`` (BEFORE DELETE, per row) refuses every DELETE, as the row trigger did: a
  trigger with transition tables fires on one event only. TRUNCATE stays refused by 0002's trigger.

The guarantees are 0003's: whoever runs the UPDATE, the runtime role by hand included, can only seal
the chain as ``audit_seal`` does, and the unique ``sequence`` keeps two concurrent seals from taking one
number (a number already taken is refused by that constraint, before the statement check runs). One is
stricter: within one statement the sequence must follow the ids, so two entries cannot be sealed
swapped. Across statements it cannot be required: an entry whose transaction took its id early and
committed late is sealed after entries with larger ids, by the next seal.

No row trigger is needed on UPDATE: a sealed row's old version has a sequence, which the statement check
refuses. Each entry is still hashed twice (by the seal, for the next link, and by the check), and its
UPDATE still writes every index: what is left of the time. Runs in each tenant schema as the owner
role (as 0002 and 0003 do).
"""

from django.db import migrations

SET_BASED_SQL = r"""
DROP TRIGGER audit_entry_append_only ON audit_auditentry;
DROP FUNCTION audit_entry_seal_check();

CREATE FUNCTION audit_entry_seals_check() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    batch record;
    before_batch record;
BEGIN
    SELECT count(*) AS entries, min(sealed.sequence) AS first_sequence,
           max(sealed.sequence) AS last_sequence,
           bool_and(
               was.id IS NOT NULL AND was.sequence IS NULL AND sealed.sequence IS NOT NULL
               -- the old row with the new seal, identical to the new row (byte for byte)
               AND jsonb_populate_record(was, jsonb_build_object(
                   'sequence', sealed.sequence, 'previous_hash', sealed.previous_hash,
                   'entry_hash', sealed.entry_hash
               )) *= sealed
           ) AS only_seals
    INTO batch
    FROM new_entries sealed LEFT JOIN old_entries was ON was.id = sealed.id;
    IF batch.entries = 0 THEN
        RETURN NULL;
    END IF;
    IF NOT batch.only_seals THEN
        RAISE EXCEPTION 'audit entries are append-only (UPDATE refused: only the seal of an unsealed entry)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- The entry sealed before this statement: the unique sequence and the contiguity checked below
    -- leave none of this batch under its first number.
    SELECT COALESCE(max(sequence), 0) AS sequence, COALESCE(max(entry_hash), '') AS entry_hash
    INTO before_batch
    FROM (SELECT sequence, entry_hash FROM audit_auditentry
          WHERE sequence < batch.first_sequence ORDER BY sequence DESC LIMIT 1) last;
    IF batch.first_sequence <> before_batch.sequence + 1
        OR EXISTS (SELECT FROM audit_auditentry WHERE sequence > batch.last_sequence)
        OR EXISTS (
            SELECT FROM (
                SELECT sealed.sequence, sealed.previous_hash, sealed.entry_hash,
                       lag(sealed.entry_hash, 1, before_batch.entry_hash::varchar)
                           OVER (ORDER BY sealed.sequence) AS prior_hash,
                       row_number() OVER (ORDER BY sealed.sequence) AS by_sequence,
                       row_number() OVER (ORDER BY sealed.id) AS by_id,
                       audit_entry_digest(sealed::audit_auditentry) AS digest
                FROM new_entries sealed
            ) chained
            WHERE chained.sequence <> batch.first_sequence + chained.by_sequence - 1
                OR chained.by_sequence <> chained.by_id
                OR chained.previous_hash IS DISTINCT FROM chained.prior_hash
                OR chained.entry_hash IS DISTINCT FROM chained.digest
        ) THEN
        RAISE EXCEPTION 'audit entries are append-only (UPDATE refused: not the next seal of the chain)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION audit_seal(max_rows integer) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    last record;
    previous text;
    entry audit_auditentry;
    ids bigint[] := '{}';
    sequences bigint[] := '{}';
    previous_hashes text[] := '{}';
    entry_hashes text[] := '{}';
    sealed integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(
        hashtextextended('hub.audit:' || current_setting('hub.organization_id', true), 0)
    ) THEN
        RETURN -1;
    END IF;
    PERFORM set_config('synchronous_commit', 'off', true);
    last := audit_chain_last();
    previous := last.last_hash;
    FOR entry IN
        SELECT * FROM audit_auditentry WHERE sequence IS NULL ORDER BY id LIMIT max_rows
    LOOP
        sealed := sealed + 1;
        entry.sequence := last.last_sequence + sealed;
        entry.previous_hash := previous;
        entry.entry_hash := audit_entry_digest(entry);
        ids[sealed] := entry.id;
        sequences[sealed] := entry.sequence;
        previous_hashes[sealed] := entry.previous_hash;
        entry_hashes[sealed] := entry.entry_hash;
        previous := entry.entry_hash;
    END LOOP;
    UPDATE audit_auditentry e
    SET sequence = s.sequence, previous_hash = s.previous_hash, entry_hash = s.entry_hash
    FROM unnest(ids, sequences, previous_hashes, entry_hashes) AS s(id, sequence, previous_hash, entry_hash)
    WHERE e.id = s.id;
    RETURN sealed;
END
$fn$;

CREATE TRIGGER audit_entry_append_only AFTER UPDATE ON audit_auditentry
    REFERENCING OLD TABLE AS old_entries NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_seals_check();
CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse_change();
"""

# Back to 0003's seal: one UPDATE per entry, each checked by a row trigger.
REVERSE_SQL = r"""
DROP TRIGGER audit_entry_no_delete ON audit_auditentry;
DROP TRIGGER audit_entry_append_only ON audit_auditentry;
DROP FUNCTION audit_entry_seals_check();

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

CREATE OR REPLACE FUNCTION audit_seal(max_rows integer) RETURNS integer
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

CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_seal_check();
"""


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_third_party_public_references")]

    operations = [migrations.RunSQL(SET_BASED_SQL, reverse_sql=REVERSE_SQL)]
