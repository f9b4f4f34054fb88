"""HTTP of the ledger: each function translates one request into one service or selector call.

``member`` posts, ``viewer`` reads (the API's default authentication).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Status

from api.auth import member_auth, request_actor, request_viewer
from api.etags import IfMatchHeader, etag_set, if_match
from api.pagination import PageParams, cursor_carried, paginate_audited
from api.schemas import IDEMPOTENCY_KEY_HEADER, idempotency_key_parameter
from apps.ledger import selectors, services
from apps.ledger.errors import IdempotencyKeyRequired
from apps.ledger.models import Account, Transaction
from apps.ledger.schemas import (
    LEDGER_ERRORS,
    LEDGER_IF_MATCH_ERRORS,
    AccountFilter,
    AccountIn,
    AccountOut,
    AccountPage,
    AccountPatch,
    BalanceOut,
    BalanceQuery,
    ReverseQuery,
    StatementPage,
    TransactionFilter,
    TransactionIn,
    TransactionOut,
    TransactionPage,
    TrialBalanceOut,
)
from apps.ledger.services import PostingLine
from apps.ledger.validators import money_format

router = Router()
IDEMPOTENCY_KEY_MAX = 255


def _idempotency_key(value: str | None) -> str:
    if not value or len(value) > IDEMPOTENCY_KEY_MAX or not value.isprintable():
        raise IdempotencyKeyRequired()
    return value


_JSON = DjangoJSONEncoder()


def _render(txn: Transaction, postings: Sequence[PostingLine]) -> dict[str, Any]:
    """``TransactionOut`` of a transaction and its postings (in their order) as JSON values, encoded as
    every other response is (``DjangoJSONEncoder``), from what the caller holds: no query."""
    return {
        "id": str(txn.id),
        "description": txn.description,
        "currency": txn.currency,
        "effective_date": _JSON.default(txn.effective_date),
        "reference": txn.reference,
        "entity_id": None if txn.entity_id is None else str(txn.entity_id),
        "state": txn.state,
        "reverses_id": None if txn.reverses_id is None else str(txn.reverses_id),
        "postings": [
            {"account_id": str(line.account_id), "amount": money_format(line.amount, txn.currency)}
            for line in postings
        ],
        "created_at": _JSON.default(txn.created_at),
        "updated_at": _JSON.default(txn.updated_at),
        "created_by": None if txn.created_by_id is None else str(txn.created_by_id),
    }


@router.get("accounts", summary="List accounts", response={200: AccountPage, **LEDGER_ERRORS})
def account_list(request: HttpRequest, filters: Query[AccountFilter]) -> dict[str, Any]:
    """The accounts by code; `?include=balance` adds each one's balances (read with the page)."""
    accounts = selectors.account_list(
        archived=filters.archived,
        currency=filters.currency,
        type=filters.type,
        with_balance=filters.includes("balance"),
    )
    return paginate_audited(accounts, page=filters)


@router.post(
    "accounts", summary="Create an account", response={201: AccountOut, **LEDGER_ERRORS}, auth=member_auth
)
def account_create(request: HttpRequest, response: HttpResponse, payload: AccountIn) -> Status[Account]:
    """Open a ledger account: a unique `code`, a `name`, its `type` and its `currency` (ISO 4217),
    optionally the entity it belongs to. Members and admins."""
    account = services.account_create(
        actor=request_actor(request), viewer=request_viewer(request), **payload.dict()
    )
    etag_set(response, account)
    return Status(201, account)


@router.get(
    "accounts/{uuid:account_id}", summary="Read an account", response={200: AccountOut, **LEDGER_ERRORS}
)
def account_read(request: HttpRequest, response: HttpResponse, account_id: uuid.UUID) -> Account:
    """The account, with its version in the `ETag` header (for `If-Match` on a later write)."""
    account = selectors.account_get(account_id=account_id)
    etag_set(response, account)
    return account


@router.patch(
    "accounts/{uuid:account_id}",
    summary="Update or archive an account",
    response={200: AccountOut, **LEDGER_IF_MATCH_ERRORS},
    auth=member_auth,
)
def account_update(
    request: HttpRequest,
    response: HttpResponse,
    account_id: uuid.UUID,
    payload: AccountPatch,
    if_match_header: IfMatchHeader = None,
) -> Account:
    """Partial update; `{"archived": true}` archives the account (accounts are never deleted). With
    `If-Match`, applied only to that version (else 412); the new `ETag` is in the answer's header."""
    account = selectors.account_get(account_id=account_id)
    changes = payload.dict(exclude_unset=True)
    account = services.account_update(
        actor=request_actor(request),
        account=account,
        changes=changes,
        viewer=request_viewer(request),
        if_match=if_match(if_match_header),
    )
    etag_set(response, account)
    return account


@router.get(
    "accounts/{uuid:account_id}/balance",
    summary="Read an account's balance",
    response={200: BalanceOut, **LEDGER_ERRORS},
)
def account_balance(request: HttpRequest, account_id: uuid.UUID, query: Query[BalanceQuery]) -> Any:
    """Posted balance and posted+pending balance: now (maintained, O(1)) or at the end of `as_of`."""
    account = selectors.account_get(account_id=account_id)
    return selectors.account_balance(account=account, as_of=query.as_of)


@router.get(
    "accounts/{uuid:account_id}/statement",
    summary="Read an account's statement",
    response={200: StatementPage, **LEDGER_ERRORS},
)
def account_statement(request: HttpRequest, account_id: uuid.UUID, page: Query[PageParams]) -> dict[str, Any]:
    """The account's posted postings, oldest first, each with the running balance after it."""
    account = selectors.account_get(account_id=account_id)
    # A cursor carries the running balance of the previous page's last line: the next page adds to it.
    opening = Decimal(cursor_carried(page, default="0"))
    statement = selectors.account_statement(account=account, opening=opening)
    return paginate_audited(statement, page=page, carry="running_balance")


@router.get(
    "trial-balance", summary="Read the trial balance", response={200: TrialBalanceOut, **LEDGER_ERRORS}
)
def trial_balance(request: HttpRequest) -> Any:
    """Every account's posted balance; per currency, debits and credits always sum to zero."""
    return selectors.trial_balance()


@router.get("", summary="List transactions", response={200: TransactionPage, **LEDGER_ERRORS})
def transaction_list(request: HttpRequest, filters: Query[TransactionFilter]) -> dict[str, Any]:
    """The transactions, filtered by account, entity, state, effective dates or reference, a page at a
    time."""
    transactions = selectors.transaction_list(
        account_id=filters.account,
        entity_id=filters.entity,
        viewer=request_viewer(request),
        state=filters.state,
        date_from=filters.date_from,
        date_to=filters.date_to,
        reference=filters.reference,
    )
    return paginate_audited(transactions, page=filters)


@router.post(
    "",
    summary="Record a transaction",
    response={201: TransactionOut, **LEDGER_ERRORS},
    auth=member_auth,
    # Read from the request itself, not a Ninja parameter, so that a missing or bad key gets the
    # ledger's own 400 `idempotency_key_required`; the document still says it is required.
    openapi_extra={"parameters": [idempotency_key_parameter(required=True, max_length=IDEMPOTENCY_KEY_MAX)]},
)
def transaction_create(request: HttpRequest, payload: TransactionIn) -> HttpResponse:
    """Record a transaction (`posted` unless `pending` is asked). Needs an `Idempotency-Key`: the
    same key and body again answer the first response without posting twice; another body is 409.

    The body is answered as stored (already rendered), for a new transaction and a replay alike, in
    the same bytes; a replay says so with `Idempotent-Replayed: true`.
    """
    result = services.transaction_create_idempotent(
        actor=request_actor(request),
        key=_idempotency_key(request.headers.get(IDEMPOTENCY_KEY_HEADER)),
        request=payload.model_dump(mode="python"),
        render=_render,
        viewer=request_viewer(request),
    )
    response = HttpResponse(result.content(), status=result.status, content_type="application/json")
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


@router.get(
    "{uuid:transaction_id}", summary="Read a transaction", response={200: TransactionOut, **LEDGER_ERRORS}
)
def transaction_read(request: HttpRequest, transaction_id: uuid.UUID) -> Transaction:
    """The transaction with its postings."""
    return selectors.transaction_get(transaction_id=transaction_id)


@router.post(
    "{uuid:transaction_id}/post",
    summary="Post a pending transaction",
    response={200: TransactionOut, **LEDGER_ERRORS},
    auth=member_auth,
)
def transaction_post(request: HttpRequest, transaction_id: uuid.UUID) -> Transaction:
    """Post a pending transaction."""
    txn = selectors.transaction_get(transaction_id=transaction_id)
    return services.transaction_post(actor=request_actor(request), txn=txn)


@router.post(
    "{uuid:transaction_id}/void",
    summary="Void a pending transaction",
    response={200: TransactionOut, **LEDGER_ERRORS},
    auth=member_auth,
)
def transaction_void(request: HttpRequest, transaction_id: uuid.UUID) -> Transaction:
    """Void a pending transaction (a posted one is reversed instead)."""
    txn = selectors.transaction_get(transaction_id=transaction_id)
    return services.transaction_void(actor=request_actor(request), txn=txn)


@router.post(
    "{uuid:transaction_id}/reverse",
    summary="Reverse a posted transaction",
    response={201: TransactionOut, **LEDGER_ERRORS},
    auth=member_auth,
)
def transaction_reverse(
    request: HttpRequest, transaction_id: uuid.UUID, query: Query[ReverseQuery]
) -> Status[Transaction]:
    """Reverse a posted transaction once: 201 with the new transaction, whose `reverses_id` is it.
    No body (`?effective_date=` dates the reversal, today by default)."""
    txn = selectors.transaction_get(transaction_id=transaction_id)
    reversal = services.transaction_reverse(
        actor=request_actor(request), txn=txn, effective_date=query.effective_date
    )
    return Status(201, reversal)
