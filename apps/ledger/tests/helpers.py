"""Constants and helpers shared by the ledger tests."""

from __future__ import annotations

import uuid
from typing import Any

from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.ledger.models import Account, IdempotencyKey, Posting, Transaction
from tenants.models import Organization
from tests.helpers import assert_error  # noqa: F401 - re-exported for the module's tests

URL = "/api/v1/transactions/"
ACCOUNTS_URL = f"{URL}accounts"
TRIAL_BALANCE_URL = f"{URL}trial-balance"
JSON = "application/json"

# The ``sub`` conftest.make_token puts in every token unless told otherwise, and b_member_client's.
DEFAULT_SUB = uuid.UUID(int=0x1234)
B_SUB = uuid.UUID(int=0xB0B)


def account_url(account_id: Any, suffix: str = "") -> str:
    return f"{ACCOUNTS_URL}/{account_id}{suffix}"


def transaction_url(transaction_id: Any, suffix: str = "") -> str:
    return f"{URL}{transaction_id}{suffix}"


def transfer(source: Any, target: Any, amount: str, **fields: Any) -> dict[str, Any]:
    """A request body moving ``amount`` from ``source`` to ``target`` (two postings)."""
    return {
        "description": "Transfer",
        "currency": "EUR",
        "postings": [
            {"account_id": str(target), "amount": amount},
            {"account_id": str(source), "amount": f"-{amount}"},
        ],
        **fields,
    }


def post(client: Client, body: Any, *, key: str | None = None) -> Any:
    """``POST /transactions/`` with a fresh Idempotency-Key unless ``key`` is given."""
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return client.post(URL, body, content_type=JSON, headers=headers)


Counts = dict[str, int]


def ledger_counts(tenant: Organization) -> Counts:
    """Row counts of the ledger's tables and the audit trail: equal counts mean nothing was written."""
    with tenant_context(tenant):
        return {
            "accounts": Account.objects.count(),
            "transactions": Transaction.objects.count(),
            "postings": Posting.objects.count(),
            "keys": IdempotencyKey.objects.count(),
            "audit_changes": AuditEntry.objects.exclude(action=AuditEntry.Action.ACCESS).count(),
        }


def balances(tenant: Organization, *accounts: Account) -> list[tuple[str, str]]:
    """The maintained ``(balance, pending_balance)`` of ``accounts``, as strings, read afresh."""
    with tenant_context(tenant):
        rows = {a.id: a for a in Account.objects.filter(id__in=[account.id for account in accounts])}
        return [(str(rows[a.id].balance), str(rows[a.id].pending_balance)) for a in accounts]
