"""HTTP shapes of the ledger (In / Patch / Out / Filter). Money is a decimal string, never a number."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, field_validator

from api.pagination import Page, PageParams
from api.schemas import BodyIn, ErrorBody, InputSchema, error_responses
from api.types import IsoDate
from apps.ledger.errors import LedgerErrorCode
from apps.ledger.validators import money_format
from hub.errors import HubErrorCode

AccountType = Literal["asset", "liability", "equity", "income", "expense"]
State = Literal["pending", "posted", "voided"]


class AccountIn(BodyIn):
    # dict(): a "code" key reads as an error code to tests/test_api_shapes.py; this one is the account's.
    model_config = ConfigDict(
        json_schema_extra={"examples": [dict(code="1000", name="Bank", type="asset", currency="EUR")]}
    )

    code: str = Field(max_length=40, examples=["1000"])
    name: str = Field(max_length=200, examples=["Bank"])
    type: AccountType
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    entity_id: uuid.UUID | None = None


class AccountPatch(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"archived": True}]})

    # A field that cannot change (currency, balances) is refused by name rather than ignored.
    code: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=200)
    type: AccountType | None = None
    entity_id: uuid.UUID | None = None
    archived: bool | None = Field(None, description="true archives the account: it takes no new postings")


class AccountOut(Schema):
    id: uuid.UUID
    code: str
    name: str
    type: str
    currency: str
    entity_id: uuid.UUID | None
    archived: bool
    created_at: datetime
    updated_at: datetime


ACCOUNT_INCLUDES = ("balance",)


class AccountListOut(AccountOut):
    """An account of the list; its balances only when the list asked for them (`?include=balance`)."""

    balance: str | None = Field(None, description="Posted balance; null unless ?include=balance")
    pending_balance: str | None = Field(
        None, description="Posted and pending balance; null unless ?include=balance"
    )

    @staticmethod
    def resolve_balance(account: Any) -> str | None:
        listed = getattr(account, "listed_balance", None)
        return None if listed is None else money_format(listed, account.currency)

    @staticmethod
    def resolve_pending_balance(account: Any) -> str | None:
        listed = getattr(account, "listed_pending_balance", None)
        return None if listed is None else money_format(listed, account.currency)


class AccountFilter(PageParams):
    archived: bool | None = None
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    type: AccountType | None = None
    include: str | None = Field(
        None,
        max_length=100,
        description="Comma-separated extras of each account: balance (its balance and pending_balance)",
        examples=["balance"],
    )

    @field_validator("include")
    @classmethod
    def _includes_known(cls, value: str | None) -> str | None:
        for part in (value or "").split(","):
            if value is not None and part.strip() not in ACCOUNT_INCLUDES:
                raise ValueError(f"unknown include {part.strip()!r}; known: {', '.join(ACCOUNT_INCLUDES)}")
        return value

    def includes(self, name: str) -> bool:
        return name in {part.strip() for part in (self.include or "").split(",")}


class AccountPage(Page):
    items: list[AccountListOut]


class PostingIn(InputSchema):
    account_id: uuid.UUID
    amount: str = Field(
        description="A decimal string, debit positive, with at most the currency's minor units",
        examples=["-10.00"],
    )

    @field_validator("amount", mode="before")
    @classmethod
    def _string_only(cls, value: Any) -> Any:
        # Parsed JSON numbers would lose the cents (floats) or invite them; the reason is given.
        if not isinstance(value, str):
            raise ValueError('amount must be a decimal string such as "10.00", not a JSON number or other')
        return value


class TransactionIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "description": "Rent for March",
                    "currency": "EUR",
                    "effective_date": "2026-03-01",
                    "reference": "INV-2026-031",
                    "postings": [
                        {"account_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "amount": "1200.00"},
                        {"account_id": "9b2d4c1e-7f3a-4e6b-8c5d-1a2b3c4d5e6f", "amount": "-1200.00"},
                    ],
                }
            ]
        }
    )

    description: str = Field(max_length=500)
    currency: str = Field(min_length=3, max_length=3, examples=["EUR"])
    effective_date: IsoDate | None = Field(None, description="Defaults to today")
    reference: str | None = Field(None, max_length=100)
    entity_id: uuid.UUID | None = None
    state: Literal["posted", "pending"] = "posted"
    postings: list[PostingIn] = Field(min_length=2, max_length=100)


class PostingOut(Schema):
    account_id: uuid.UUID
    amount: str


class TransactionOut(Schema):
    id: uuid.UUID
    description: str
    currency: str
    effective_date: date
    reference: str | None
    entity_id: uuid.UUID | None
    state: str
    reverses_id: uuid.UUID | None
    postings: list[PostingOut]
    created_at: datetime
    updated_at: datetime
    created_by: uuid.UUID | None = Field(validation_alias="created_by_id")

    @staticmethod
    def resolve_postings(txn: Any) -> list[dict[str, Any]]:
        return [
            {"account_id": posting.account_id, "amount": money_format(posting.amount, txn.currency)}
            for posting in sorted(txn.postings.all(), key=lambda posting: posting.id)
        ]


class TransactionFilter(PageParams):
    account: uuid.UUID | None = None
    entity: uuid.UUID | None = None
    state: State | None = None
    date_from: IsoDate | None = None
    date_to: IsoDate | None = None
    reference: str | None = Field(None, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")


class TransactionPage(Page):
    items: list[TransactionOut]


class ReverseQuery(Schema):
    effective_date: IsoDate | None = Field(None, description="Of the reversal; defaults to today")


class BalanceQuery(Schema):
    as_of: IsoDate | None = Field(None, description="Balance at the end of this effective date")


class BalanceOut(Schema):
    account_id: uuid.UUID
    currency: str
    balance: str
    pending_balance: str
    as_of: date | None

    @staticmethod
    def resolve_balance(balance: Any) -> str:
        return money_format(balance.balance, balance.currency)

    @staticmethod
    def resolve_pending_balance(balance: Any) -> str:
        return money_format(balance.pending_balance, balance.currency)


class StatementLineOut(Schema):
    posting_id: int = Field(validation_alias="id")
    transaction_id: uuid.UUID
    effective_date: date
    description: str
    reference: str | None
    amount: str
    running_balance: str

    @staticmethod
    def resolve_effective_date(posting: Any) -> date:
        return posting.transaction.effective_date

    @staticmethod
    def resolve_description(posting: Any) -> str:
        return posting.transaction.description

    @staticmethod
    def resolve_reference(posting: Any) -> str | None:
        return posting.transaction.reference

    @staticmethod
    def resolve_amount(posting: Any) -> str:
        return money_format(posting.amount, posting.transaction.currency)

    @staticmethod
    def resolve_running_balance(posting: Any) -> str:
        return money_format(Decimal(posting.running_balance), posting.transaction.currency)


class StatementPage(Page):
    items: list[StatementLineOut]


class TrialBalanceAccountOut(Schema):
    account_id: uuid.UUID = Field(validation_alias="id")
    code: str
    name: str
    type: str
    currency: str
    balance: str

    @staticmethod
    def resolve_balance(account: Any) -> str:
        return money_format(account.balance, account.currency)


class CurrencyTotalOut(Schema):
    currency: str
    debits: str
    credits: str
    total: str = Field(description="debits + credits: always zero")

    @staticmethod
    def resolve_debits(total: Any) -> str:
        return money_format(total.debits, total.currency)

    @staticmethod
    def resolve_credits(total: Any) -> str:
        return money_format(total.credits, total.currency)

    @staticmethod
    def resolve_total(total: Any) -> str:
        return money_format(total.total, total.currency)


class TrialBalanceOut(Schema):
    currencies: list[CurrencyTotalOut]
    accounts: list[TrialBalanceAccountOut]


class LedgerError(ErrorBody):
    code: LedgerErrorCode | HubErrorCode


LEDGER_ERRORS = error_responses(LedgerError)
# Writes that honour If-Match (api.etags): also 412 precondition_failed and 428 precondition_required.
LEDGER_IF_MATCH_ERRORS = error_responses(LedgerError, preconditions=True)
