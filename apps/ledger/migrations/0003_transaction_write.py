"""A transfer in one round trip: the database functions the posting services call (issue 12).

Runs in each tenant schema as the owner role, as ``0002_guarantees`` does: the functions belong to the
owner, run with the caller's rights (``SECURITY INVOKER``: row-level security applies to every row they
read or write) and keep the schema's search_path (``SET search_path FROM CURRENT``), whatever the
caller's is. They change nothing of 0002's guarantees: the deferred constraint triggers still check at
commit that every transaction written here balances, in its currency, with at least two postings.

* ``ledger_transaction_write``: claims the ``Idempotency-Key`` (when one is given; a key already used
  and not expired answers ``replay`` with what it stored, nothing else is done), locks the postings'
  accounts in id order (two transfers between the same accounts wait for each other instead of
  deadlocking), checks them in the postings' order (missing, archived unless ``allow_archived``, in
  another currency) and that no balance would outgrow its column, then inserts the transaction and its
  postings (in their order) and moves the balances (``balance`` when posted, ``pending_balance``
  always). A refused request answers why (``outcome``, the posting's index, the account's code and
  currency) having written nothing: the key it claimed is given back, so the caller's transaction stays
  usable without a savepoint.
* ``ledger_transaction_state_set``: a pending transaction becomes posted or voided: its row locked,
  then its accounts in id order, its state set and the balances moved by ``posted`` and ``pending``
  times its amounts. Answers the state it found (nothing is done unless it was ``pending``).
"""

from django.db import migrations

WRITE_SQL = r"""
CREATE FUNCTION ledger_transaction_write(
    in_id uuid,
    in_description text,
    in_currency text,
    in_effective_date date,
    in_reference text,
    in_entity_id uuid,
    in_state text,
    in_reverses_id uuid,
    in_at timestamptz,
    in_created_by uuid,
    in_accounts uuid[],
    in_amounts numeric[],
    in_allow_archived boolean,
    in_balance_limit numeric,
    in_key text,
    in_key_fingerprint text,
    in_key_expired_before timestamptz,
    in_key_response jsonb,
    OUT outcome text,
    OUT posting_index integer,
    OUT account_code text,
    OUT account_currency text,
    OUT replay_fingerprint text,
    OUT replay_status integer,
    OUT replay_response jsonb,
    OUT replay_transaction_id uuid
) RETURNS record
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $fn$
DECLARE
    posted integer := CASE WHEN in_state = 'posted' THEN 1 ELSE 0 END;
    refused record;
BEGIN
    outcome := 'created';
    IF in_key IS NOT NULL THEN
        -- The key's row first: a concurrent request with the same key waits here until this
        -- transaction ends. Complete at once (the transaction it names is checked at commit: the
        -- foreign key is deferred); an expired key is taken over.
        INSERT INTO ledger_idempotencykey AS k (key, fingerprint, created_at, status, response, transaction_id)
        VALUES (in_key, in_key_fingerprint, in_at, 201, in_key_response, in_id)
        ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, created_at = EXCLUDED.created_at,
            status = EXCLUDED.status, response = EXCLUDED.response, transaction_id = EXCLUDED.transaction_id
        WHERE k.created_at < in_key_expired_before;
        IF NOT FOUND THEN
            SELECT k.fingerprint, k.status, k.response, k.transaction_id
            INTO replay_fingerprint, replay_status, replay_response, replay_transaction_id
            FROM ledger_idempotencykey k WHERE k.key = in_key;
            outcome := 'replay';
            RETURN;
        END IF;
    END IF;

    PERFORM 1 FROM ledger_account WHERE id = ANY(in_accounts) ORDER BY id FOR UPDATE;
    SELECT l.ord - 1 AS posting_index, a.id IS NULL AS missing, a.archived, a.code, a.currency
    INTO refused
    FROM unnest(in_accounts) WITH ORDINALITY AS l(account_id, ord)
    LEFT JOIN ledger_account a ON a.id = l.account_id
    WHERE a.id IS NULL OR (a.archived AND NOT in_allow_archived) OR a.currency <> in_currency
    ORDER BY l.ord
    LIMIT 1;
    IF FOUND THEN
        outcome := CASE
            WHEN refused.missing THEN 'account_not_found'
            WHEN refused.archived AND NOT in_allow_archived THEN 'account_archived'
            ELSE 'currency_mismatch'
        END;
        posting_index := refused.posting_index;
        account_code := refused.code;
        account_currency := refused.currency;
    ELSIF EXISTS (
        SELECT 1
        FROM ledger_account a
        JOIN (
            SELECT u.account_id, sum(u.amount) AS amount
            FROM unnest(in_accounts, in_amounts) AS u(account_id, amount)
            GROUP BY u.account_id
        ) d ON d.account_id = a.id
        WHERE abs(a.balance + posted * d.amount) >= in_balance_limit
            OR abs(a.pending_balance + d.amount) >= in_balance_limit
    ) THEN
        outcome := 'balance_overflow';
    END IF;
    IF outcome <> 'created' THEN
        IF in_key IS NOT NULL THEN
            DELETE FROM ledger_idempotencykey WHERE key = in_key;
        END IF;
        RETURN;
    END IF;

    INSERT INTO ledger_transaction (
        id, description, currency, effective_date, reference, entity_id, state, reverses_id,
        created_at, updated_at, created_by_id
    ) VALUES (
        in_id, in_description, in_currency, in_effective_date, in_reference, in_entity_id, in_state,
        in_reverses_id, in_at, in_at, in_created_by
    );
    INSERT INTO ledger_posting (transaction_id, account_id, amount)
    SELECT in_id, l.account_id, l.amount
    FROM unnest(in_accounts, in_amounts) WITH ORDINALITY AS l(account_id, amount, ord)
    ORDER BY l.ord;
    UPDATE ledger_account a
    SET balance = a.balance + posted * d.amount, pending_balance = a.pending_balance + d.amount
    FROM (
        SELECT u.account_id, sum(u.amount) AS amount
        FROM unnest(in_accounts, in_amounts) AS u(account_id, amount)
        GROUP BY u.account_id
    ) d
    WHERE a.id = d.account_id;
END
$fn$;

CREATE FUNCTION ledger_transaction_state_set(
    in_id uuid,
    in_state text,
    in_posted integer,
    in_pending integer,
    in_at timestamptz,
    OUT previous_state text
) RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path FROM CURRENT AS $fn$
DECLARE
    accounts uuid[];
BEGIN
    SELECT state INTO previous_state FROM ledger_transaction WHERE id = in_id FOR UPDATE;
    IF previous_state IS DISTINCT FROM 'pending' THEN
        RETURN;
    END IF;
    SELECT array_agg(DISTINCT account_id) INTO accounts FROM ledger_posting WHERE transaction_id = in_id;
    PERFORM 1 FROM ledger_account WHERE id = ANY(accounts) ORDER BY id FOR UPDATE;
    UPDATE ledger_transaction SET state = in_state, updated_at = in_at WHERE id = in_id;
    UPDATE ledger_account a
    SET balance = a.balance + in_posted * d.amount, pending_balance = a.pending_balance + in_pending * d.amount
    FROM (
        SELECT account_id, sum(amount) AS amount FROM ledger_posting WHERE transaction_id = in_id GROUP BY account_id
    ) d
    WHERE a.id = d.account_id;
END
$fn$;
"""

REVERSE_SQL = r"""
DROP FUNCTION IF EXISTS ledger_transaction_state_set(uuid, text, integer, integer, timestamptz);
DROP FUNCTION IF EXISTS ledger_transaction_write(
    uuid, text, text, date, text, uuid, text, uuid, timestamptz, uuid, uuid[], numeric[], boolean, numeric,
    text, text, timestamptz, jsonb
);
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_guarantees")]

    operations = [migrations.RunSQL(WRITE_SQL, reverse_sql=REVERSE_SQL)]
