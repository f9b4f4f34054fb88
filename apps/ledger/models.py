"""The double-entry ledger: accounts, transactions made of postings that sum to zero, idempotency keys.

These tables live in each organization's schema, behind row-level security (``tenants.rls``). What
must never be wrong is enforced by PostgreSQL itself (migration ``0002_guarantees``): a deferred
constraint trigger refuses to commit a transaction whose postings do not sum to zero, number fewer
than two, or are in another currency than the transaction; posted transactions and all postings are
immutable.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.ledger.currencies import MAX_MINOR_UNITS

# 15 digits before the point (quadrillions) and the largest minor units of any currency.
AMOUNT_DIGITS = 15 + MAX_MINOR_UNITS
# Balances add many amounts: room for three more digits.
BALANCE_DIGITS = AMOUNT_DIGITS + 3


class Account(models.Model):
    """An account of the organization's chart, in one currency.

    ``balance`` (posted) and ``pending_balance`` (posted and pending) are maintained by the posting
    services in the same database transaction as the postings; ``verify_ledger`` recomputes them.
    """

    # Shown in clear in the audit trail (``apps.audit.redaction``): an ISO 4217 code, not free text.
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("currency",)

    class Type(models.TextChoices):
        ASSET = "asset"
        LIABILITY = "liability"
        EQUITY = "equity"
        INCOME = "income"
        EXPENSE = "expense"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=Type.choices)
    currency = models.CharField(max_length=3)
    entity = models.ForeignKey(
        "entities.Entity", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    archived = models.BooleanField(default=False)
    balance = models.DecimalField(max_digits=BALANCE_DIGITS, decimal_places=MAX_MINOR_UNITS, default=0)
    pending_balance = models.DecimalField(
        max_digits=BALANCE_DIGITS, decimal_places=MAX_MINOR_UNITS, default=0
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )
    # The import that created it (``apps.imports``), for undo: a plain id, no foreign key to that app.
    source_import = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=~Q(code=""), name="ledger_account_code_not_blank"),
            models.CheckConstraint(
                condition=Q(type__in=["asset", "liability", "equity", "income", "expense"]),
                name="ledger_account_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="ledger_account_currency_iso"
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(
                fields=["source_import"],
                name="ledger_account_import_idx",
                condition=Q(source_import__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class Transaction(models.Model):
    """A set of postings in one currency summing to zero: ``pending`` -> ``posted`` or ``voided``.

    A posted transaction is never changed; it is undone by a new one whose ``reverses`` points at it
    (one reversal at most: the column is unique).
    """

    # Shown in clear in the audit trail (``apps.audit.redaction``): an ISO 4217 code, not free text.
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("currency",)

    class State(models.TextChoices):
        PENDING = "pending"
        POSTED = "posted"
        VOIDED = "voided"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    description = models.CharField(max_length=500)
    currency = models.CharField(max_length=3)
    effective_date = models.DateField()
    # NULL, not "", means "no reference".
    reference = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    entity = models.ForeignKey(
        "entities.Entity", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    state = models.CharField(max_length=16, choices=State.choices)
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, related_name="reversal", null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )
    # The import that created it (``apps.imports``), for undo: a plain id, no foreign key to that app.
    source_import = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "posted", "voided"]), name="ledger_transaction_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="ledger_transaction_currency_iso"
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["-effective_date", "-created_at", "-id"], name="ledger_txn_date_idx"),
            models.Index(fields=["reference"], name="ledger_txn_reference_idx"),
            models.Index(fields=["state"], name="ledger_txn_state_idx"),
            models.Index(
                fields=["source_import"],
                name="ledger_txn_import_idx",
                condition=Q(source_import__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.effective_date} {self.description}"


class Posting(models.Model):
    """One leg of a transaction: a signed, non-zero amount on one account (debit positive)."""

    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    amount = models.DecimalField(max_digits=AMOUNT_DIGITS, decimal_places=MAX_MINOR_UNITS)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_amount_not_zero"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            # Balances at a date and statements read one account's postings.
            models.Index(fields=["account", "transaction"], name="ledger_posting_account_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount}"


class IdempotencyKey(models.Model):
    """The first response to a ``POST /transactions/`` with this ``Idempotency-Key``.

    Unique per organization (one table per schema). A later request with the same key and the same
    body (``fingerprint``) gets ``response`` back; a different body is a conflict. Kept at least
    ``IDEMPOTENCY_KEY_TTL`` (24 hours); an older key may be used again for a new request.
    """

    # Not business data: purged by age, not audited (apps.audit.receivers).
    AUDIT_HARD_DELETES: ClassVar[bool] = False

    id = models.BigAutoField(primary_key=True)
    key = models.CharField(max_length=255, unique=True)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    response = models.JSONField(null=True)
    transaction = models.ForeignKey(
        Transaction, on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key
