"""The documented catalogue of events: each type, the fields of its payload and their types.

A payload holds ids, numbers, dates and codes, never personal text (an event outlives an erasure).
Rule conditions are validated against it (``validators.conditions_clean``): a condition names a field
its event type has, with an operator and a value its type allows.

Field types:

* ``uuid``: an id, compared with ``eq``, ``ne``, ``in``.
* ``code``: a short code (a kind, a status, a currency), ``eq``, ``ne``, ``in``.
* ``decimal``: an amount (sent as a decimal string), ``eq``, ``ne``, ``gt``, ``gte``, ``lt``, ``lte``, ``in``.
* ``integer``: a count, the same operators as ``decimal``.
* ``bool``: ``eq``, ``ne``.
* ``datetime``: an ISO 8601 instant, ``eq``, ``ne``, ``gt``, ``gte``, ``lt``, ``lte``.
* ``uuid_list``: ids (a transaction's accounts); ``in`` matches when any of them is in the value.
"""

from __future__ import annotations

import datetime
import decimal
import operator
from collections.abc import Callable
from typing import Any, Final

FieldTypes = dict[str, str]

_ENTITY: Final[FieldTypes] = {"entity_id": "uuid", "kind": "code", "status": "code", "restricted": "bool"}
_TRANSACTION: Final[FieldTypes] = {
    "transaction_id": "uuid",
    "amount": "decimal",
    "currency": "code",
    "accounts": "uuid_list",
    "entity_id": "uuid",
    "state": "code",
}
_BOOKING: Final[FieldTypes] = {
    "booking_id": "uuid",
    "resource_id": "uuid",
    "entity_id": "uuid",
    "start": "datetime",
    "end": "datetime",
    "status": "code",
}

CATALOGUE: Final[dict[str, FieldTypes]] = {
    "entity.created": _ENTITY,
    "entity.updated": _ENTITY,
    "entity.deleted": _ENTITY,
    # amount: the sum of the transaction's positive postings (what moved), in its currency.
    "transaction.posted": _TRANSACTION,
    "transaction.voided": _TRANSACTION,
    "booking.created": _BOOKING,
    "booking.cancelled": _BOOKING,
    # Scheduled: HUB_NOTIFICATION_STARTING_SOON_MINUTES before the start of a booking still on.
    "booking.starting_soon": _BOOKING,
    # Catalogue only: imports do not exist yet.
    "import.finished": {"import_id": "uuid", "status": "code", "rows": "integer", "failed": "integer"},
    # One per model purged by a retention run (apps.privacy).
    "retention.purged": {"model": "code", "days": "integer", "purged": "integer"},
    "audit.verification_failed": {"first_broken": "integer", "unsealed": "integer", "problem": "code"},
}

OPERATORS: Final[dict[str, frozenset[str]]] = {
    "uuid": frozenset({"eq", "ne", "in"}),
    "code": frozenset({"eq", "ne", "in"}),
    "decimal": frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in"}),
    "integer": frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in"}),
    "bool": frozenset({"eq", "ne"}),
    "datetime": frozenset({"eq", "ne", "gt", "gte", "lt", "lte"}),
    "uuid_list": frozenset({"in"}),
}

# Events that name an entity whose own contact a rule may notify (``recipients.entity_contact``).
ENTITY_FIELD: Final = "entity_id"


def _comparable(value: Any, kind: str) -> Any:
    """An event's or a rule's value in a form Python compares as the field's type does."""
    if kind == "decimal":
        return decimal.Decimal(str(value))
    if kind == "datetime":
        return datetime.datetime.fromisoformat(str(value))
    if kind in ("uuid", "uuid_list"):
        return str(value).lower()
    return value


def condition_matches(*, condition: dict[str, Any], payload: dict[str, Any], kind: str) -> bool:
    """Whether ``payload`` meets ``condition`` (``{field, op, value}``, validated for a field of type
    ``kind``). A field the event does not carry (null: a transaction without an entity) meets only
    ``ne``."""
    op, expected, actual = condition["op"], condition["value"], payload.get(condition["field"])
    if actual is None:
        return op == "ne"
    if kind == "uuid_list":
        wanted = {_comparable(item, kind) for item in expected}
        return any(_comparable(item, kind) in wanted for item in actual)
    actual = _comparable(actual, kind)
    if op == "in":
        return actual in [_comparable(item, kind) for item in expected]
    expected = _comparable(expected, kind)
    comparisons: dict[str, Callable[[Any, Any], bool]] = {
        "eq": operator.eq,
        "ne": operator.ne,
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
    }
    return comparisons[op](actual, expected)


def conditions_match(*, event_type: str, conditions: list[dict[str, Any]], payload: dict[str, Any]) -> bool:
    """Whether ``payload`` of an ``event_type`` event meets every condition (none: always)."""
    fields = CATALOGUE[event_type]
    return all(
        condition_matches(condition=condition, payload=payload, kind=fields[condition["field"]])
        for condition in conditions
    )
