"""The ledger's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from hub.errors import BadRequest, Conflict, Invalid, NotFound


class AccountNotFound(NotFound):
    code = "account_not_found"
    default_detail = "No account has this id."


class TransactionNotFound(NotFound):
    code = "transaction_not_found"
    default_detail = "No transaction has this id."


class LedgerInvalid(Invalid):
    """A rule of the ledger broken by one field; ``code`` names the rule (``unbalanced``, ...)."""


class LedgerConflict(Conflict):
    """The request is well formed but the ledger's state refuses it (``already_reversed``, ...)."""

    code = "ledger_conflict"


class IdempotencyKeyRequired(BadRequest):
    code = "idempotency_key_required"
    default_detail = "POST /transactions/ needs an Idempotency-Key header (1 to 255 printable characters)."


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was already used with a different request body."
