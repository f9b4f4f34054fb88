"""Writes of the ledger (HackSoft style ``services``), one module per concern:

* ``accounts``: open and change accounts (archive, never delete);
* ``transactions``: create, post, void and reverse transactions, moving the maintained balances;
* ``idempotency``: ``POST /transactions/`` at most once per ``Idempotency-Key``.

Every function is atomic and validates before it writes a row.
"""

from apps.ledger.services.accounts import account_create, account_update
from apps.ledger.services.idempotency import (
    IDEMPOTENCY_KEY_TTL,
    IdempotentResult,
    idempotency_keys_purge,
    request_fingerprint,
    transaction_create_idempotent,
)
from apps.ledger.services.transactions import (
    POSTINGS_MAX,
    PostingLine,
    transaction_create,
    transaction_post,
    transaction_reverse,
    transaction_void,
)

__all__ = [
    "IDEMPOTENCY_KEY_TTL",
    "POSTINGS_MAX",
    "IdempotentResult",
    "PostingLine",
    "account_create",
    "account_update",
    "idempotency_keys_purge",
    "request_fingerprint",
    "transaction_create",
    "transaction_create_idempotent",
    "transaction_post",
    "transaction_reverse",
    "transaction_void",
]
