"""Conditions against payloads: every operator on every field type, and null fields."""

from __future__ import annotations

from typing import Any

import pytest

from apps.notifications.catalogue import CATALOGUE, conditions_match

TXN = "transaction.posted"
BOOKING = "booking.created"
ACCOUNT_1 = "11111111-1111-4111-8111-111111111111"
ACCOUNT_2 = "22222222-2222-4222-8222-222222222222"
PAYMENT: dict[str, Any] = {
    "transaction_id": "33333333-3333-4333-8333-333333333333",
    "amount": "12000.50",
    "currency": "EUR",
    "accounts": [ACCOUNT_1],
    "entity_id": None,
    "state": "posted",
}


def cond(field: str, op: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("amount", "gte", "10000"), True),
        (cond("amount", "gte", "12000.50"), True),
        (cond("amount", "gt", "12000.50"), False),
        (cond("amount", "lt", "12000.51"), True),
        (cond("amount", "lte", "12000.49"), False),
        (cond("amount", "eq", "12000.5"), True),  # compared as numbers, not text
        (cond("amount", "ne", "12000.5"), False),
        (cond("amount", "in", ["1", "12000.500"]), True),
        (cond("currency", "eq", "EUR"), True),
        (cond("currency", "eq", "eur"), False),
        (cond("currency", "ne", "CHF"), True),
        (cond("currency", "in", ["CHF", "USD"]), False),
        (cond("transaction_id", "eq", "33333333-3333-4333-8333-333333333333"), True),
        (cond("transaction_id", "in", ["33333333-3333-4333-8333-333333333333".upper()]), True),
        (cond("accounts", "in", [ACCOUNT_2, ACCOUNT_1]), True),
        (cond("accounts", "in", [ACCOUNT_2]), False),
        # A field the event does not carry meets only "ne".
        (cond("entity_id", "eq", ACCOUNT_1), False),
        (cond("entity_id", "in", [ACCOUNT_1]), False),
        (cond("entity_id", "ne", ACCOUNT_1), True),
    ],
)
def test_transaction_conditions(condition: dict[str, Any], expected: bool) -> None:
    assert conditions_match(event_type=TXN, conditions=[condition], payload=PAYMENT) is expected


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("start", "gt", "2026-12-01T09:00:00+00:00"), True),
        (cond("start", "gt", "2026-12-01T11:00:00+01:00"), False),  # the same instant
        (cond("start", "lte", "2026-12-01T10:00:00+00:00"), True),
        (cond("status", "in", ["confirmed", "tentative"]), True),
    ],
)
def test_booking_conditions(condition: dict[str, Any], expected: bool) -> None:
    payload = {"start": "2026-12-01T10:00:00+00:00", "status": "confirmed"}
    assert conditions_match(event_type=BOOKING, conditions=[condition], payload=payload) is expected


def test_every_condition_must_hold_and_none_always_holds() -> None:
    both = [cond("amount", "gte", "10000"), cond("currency", "eq", "CHF")]
    assert conditions_match(event_type=TXN, conditions=both, payload=PAYMENT) is False
    assert conditions_match(event_type=TXN, conditions=both[:1], payload=PAYMENT) is True
    assert conditions_match(event_type=TXN, conditions=[], payload=PAYMENT) is True


def test_entity_contact_events_name_their_entity() -> None:
    """entity_contact resolves ``entity_id``: every event type that can have an entity carries it."""
    for event_type in ("entity.created", "transaction.posted", "booking.starting_soon"):
        assert CATALOGUE[event_type]["entity_id"] == "uuid"
