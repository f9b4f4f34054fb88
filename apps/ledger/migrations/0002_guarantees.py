from django.db import migrations

# The ledger's guarantees, in the database so no code path, admin action or raw SQL can skip them.
# Runs in each tenant schema as the owner role; the runtime role owns neither the tables nor these
# triggers, so it cannot drop or disable them.
#
# * ledger_transaction_check(id): a transaction has at least two postings, they sum to exactly zero,
#   and every posting's account is in the transaction's currency. The functions keep the schema's
#   search_path: deferred triggers fire at commit, when the connection may have moved to another.
# * ledger_posting_balanced / ledger_transaction_balanced: DEFERRABLE INITIALLY DEFERRED constraint
#   triggers running that check at commit, for every transaction whose postings or row changed, so
#   a transaction may be built row by row but never committed unbalanced.
# * ledger_posting_immutable: postings are never updated or deleted.
# * ledger_transaction_immutable: a transaction is never deleted; only its state (and updated_at)
#   changes, and only from pending (to posted or voided).
GUARANTEES_SQL = r"""
CREATE FUNCTION ledger_transaction_check(txn uuid) RETURNS void
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $fn$
DECLARE
    txn_currency text;
    legs integer;
    total numeric;
    foreign_legs integer;
BEGIN
    SELECT currency INTO txn_currency FROM ledger_transaction WHERE id = txn;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT count(*), COALESCE(sum(p.amount), 0), count(*) FILTER (WHERE a.currency <> txn_currency)
    INTO legs, total, foreign_legs
    FROM ledger_posting p JOIN ledger_account a ON a.id = p.account_id
    WHERE p.transaction_id = txn;
    IF legs < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % posting(s); at least 2 are required', txn, legs
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_balanced';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: its postings sum to %', txn, total
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_balanced';
    END IF;
    IF foreign_legs > 0 THEN
        RAISE EXCEPTION 'ledger transaction % mixes currencies: % posting(s) not in %',
            txn, foreign_legs, txn_currency
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_transaction_balanced';
    END IF;
END
$fn$;

CREATE FUNCTION ledger_posting_deferred_check() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM ledger_transaction_check(OLD.transaction_id);
    ELSE
        PERFORM ledger_transaction_check(NEW.transaction_id);
    END IF;
    RETURN NULL;
END
$fn$;

CREATE FUNCTION ledger_transaction_deferred_check() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    PERFORM ledger_transaction_check(NEW.id);
    RETURN NULL;
END
$fn$;

CREATE FUNCTION ledger_posting_refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    RAISE EXCEPTION 'ledger postings are immutable (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE FUNCTION ledger_transaction_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger transactions are never deleted (% is %)', OLD.id, OLD.state
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (to_jsonb(NEW) - 'state' - 'updated_at') IS DISTINCT FROM (to_jsonb(OLD) - 'state' - 'updated_at') THEN
        RAISE EXCEPTION 'ledger transaction % cannot be edited; only its state changes', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.state IS DISTINCT FROM OLD.state AND OLD.state <> 'pending' THEN
        RAISE EXCEPTION 'ledger transaction % is % and cannot become %', OLD.id, OLD.state, NEW.state
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$fn$;

CREATE CONSTRAINT TRIGGER ledger_posting_balanced
    AFTER INSERT OR UPDATE OR DELETE ON ledger_posting
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_deferred_check();
CREATE CONSTRAINT TRIGGER ledger_transaction_balanced
    AFTER INSERT OR UPDATE ON ledger_transaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_deferred_check();
CREATE TRIGGER ledger_posting_immutable BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_refuse_change();
CREATE TRIGGER ledger_posting_no_truncate BEFORE TRUNCATE ON ledger_posting
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_posting_refuse_change();
CREATE TRIGGER ledger_transaction_immutable BEFORE UPDATE OR DELETE ON ledger_transaction
    FOR EACH ROW EXECUTE FUNCTION ledger_transaction_guard();
"""

REVERSE_SQL = r"""
DROP TRIGGER IF EXISTS ledger_transaction_immutable ON ledger_transaction;
DROP TRIGGER IF EXISTS ledger_posting_no_truncate ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_posting_immutable ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_transaction_balanced ON ledger_transaction;
DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_transaction_guard();
DROP FUNCTION IF EXISTS ledger_posting_refuse_change();
DROP FUNCTION IF EXISTS ledger_transaction_deferred_check();
DROP FUNCTION IF EXISTS ledger_posting_deferred_check();
DROP FUNCTION IF EXISTS ledger_transaction_check(uuid);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [migrations.RunSQL(GUARANTEES_SQL, reverse_sql=REVERSE_SQL)]
