"""Imported rows carry their import's id (``source_import``, issue 16), so an import can be listed and
undone: a plain UUID on accounts and transactions (no foreign key to ``apps.imports``), indexed where set.

A posted transaction is immutable (``0002_guarantees``), so the id is written with the transaction:
``ledger_transaction_write`` (``0003_transaction_write``) takes it as a last, optional argument
(``in_source_import``, NULL by default) and is otherwise unchanged.
"""

from django.db import migrations, models

WRITE_SQL = r"""
DROP FUNCTION ledger_transaction_write(
    uuid, text, text, date, text, uuid, text, uuid, timestamptz, uuid, uuid[], numeric[], boolean, numeric,
    text, text, timestamptz, jsonb
);
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
    in_source_import uuid DEFAULT NULL,
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
        created_at, updated_at, created_by_id, source_import
    ) VALUES (
        in_id, in_description, in_currency, in_effective_date, in_reference, in_entity_id, in_state,
        in_reverses_id, in_at, in_at, in_created_by, in_source_import
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
"""

# Back to 0003's function.
REVERSE_SQL = r"""
DROP FUNCTION ledger_transaction_write(
    uuid, text, text, date, text, uuid, text, uuid, timestamptz, uuid, uuid[], numeric[], boolean, numeric,
    text, text, timestamptz, jsonb, uuid
);
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
"""


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_transaction_write")]

    operations = [
        migrations.AddField(
            model_name="account",
            name="source_import",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="transaction",
            name="source_import",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="account",
            index=models.Index(
                condition=models.Q(("source_import__isnull", False)),
                fields=["source_import"],
                name="ledger_account_import_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="transaction",
            index=models.Index(
                condition=models.Q(("source_import__isnull", False)),
                fields=["source_import"],
                name="ledger_txn_import_idx",
            ),
        ),
        migrations.RunSQL(WRITE_SQL, reverse_sql=REVERSE_SQL),
    ]
