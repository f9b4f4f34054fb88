"""The ledger's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import BadRequest, Conflict, Invalid, NotFound


class LedgerErrorCode(StrEnum):
    """Every code the ledger answers (besides those of `HubErrorCode`)."""

    ACCOUNT_NOT_FOUND = "account_not_found"
    TRANSACTION_NOT_FOUND = "transaction_not_found"
    ENTITY_NOT_FOUND = "entity_not_found"  # the entity_id a transaction or account links to
    LEDGER_CONFLICT = "ledger_conflict"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    CODE_TAKEN = "code_taken"
    POSTINGS_COUNT = "postings_count"
    UNBALANCED = "unbalanced"
    ACCOUNT_ARCHIVED = "account_archived"
    CURRENCY_MISMATCH = "currency_mismatch"
    CURRENCY_UNKNOWN = "currency_unknown"
    BALANCE_OVERFLOW = "balance_overflow"
    TRANSACTION_NOT_PENDING = "transaction_not_pending"
    NOT_POSTED = "not_posted"
    ALREADY_REVERSED = "already_reversed"
    AMOUNT_NOT_STRING = "amount_not_string"
    AMOUNT_INVALID = "amount_invalid"
    AMOUNT_PRECISION = "amount_precision"
    AMOUNT_ZERO = "amount_zero"


class AccountNotFound(NotFound):
    code = LedgerErrorCode.ACCOUNT_NOT_FOUND
    default_detail = "No account has this id."


class TransactionNotFound(NotFound):
    code = LedgerErrorCode.TRANSACTION_NOT_FOUND
    default_detail = "No transaction has this id."


class LedgerInvalid(Invalid):
    """A rule of the ledger broken by one field; ``code`` names the rule (``unbalanced``, ...)."""


class LedgerConflict(Conflict):
    """The request is well formed but the ledger's state refuses it (``already_reversed``, ...)."""

    code = LedgerErrorCode.LEDGER_CONFLICT


class IdempotencyKeyRequired(BadRequest):
    code = LedgerErrorCode.IDEMPOTENCY_KEY_REQUIRED
    default_detail = "POST /transactions/ needs an Idempotency-Key header (1 to 255 printable characters)."


class IdempotencyKeyReused(Conflict):
    code = LedgerErrorCode.IDEMPOTENCY_KEY_REUSED
    default_detail = "This Idempotency-Key was already used with a different request body."
