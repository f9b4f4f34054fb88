"""Emitting events: one row and (when a rule may want it) one job, in the transaction of the change.

``event_emit`` is called by the modules' services inside their atomic blocks, so an event is committed
with its change or rolled back with it, and its job (``tasks.event_process``) with it: nothing is lost
between the change and the notification (the transactional outbox, with the queue in the database).

Cost on the emitting request (measured by ``bench/notifications.py``): one statement, which inserts the
event and answers, from the organization's rules, whether any enabled rule wants this type; a second
(the job's row) only when one does. No cache: a rule created a moment ago is seen by the next event.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.notifications.catalogue import CATALOGUE

if TYPE_CHECKING:
    from apps.entities.models import Entity
    from apps.ledger.models import Transaction
    from apps.scheduling.models import Booking

# Event types whose emission schedules another: a booking created schedules its reminder.
_FOLLOW_UPS: dict[str, str] = {"booking.created": "booking.starting_soon"}

_INSERT_SQL = """
INSERT INTO notifications_event (event_type, occurred_at, actor_id, subject_id, payload)
VALUES (%s, %s, %s, %s, %s::jsonb)
RETURNING id, ARRAY(
    SELECT DISTINCT event_type FROM notifications_alertrule WHERE enabled AND event_type = ANY(%s)
)
"""


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def event_emit(
    *,
    event_type: str,
    payload: dict[str, Any],
    subject_id: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> None:
    """Record an event of the current organization in the caller's transaction (``tenant_context``),
    and defer the job that matches it against the rules when an enabled rule has its type.

    ``payload``: ids, numbers, dates and codes only, the fields ``CATALOGUE[event_type]`` lists.
    A type or field outside the catalogue is a programming error (``ValueError``).
    """
    fields = CATALOGUE.get(event_type)
    if fields is None:
        raise ValueError(f"event type {event_type!r} is not in the catalogue")
    unknown = payload.keys() - fields.keys()
    if unknown:
        raise ValueError(f"{event_type} has no field {', '.join(sorted(unknown))}")
    wanted = [event_type, *([_FOLLOW_UPS[event_type]] if event_type in _FOLLOW_UPS else [])]
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            [
                event_type,
                timezone.now(),
                actor_id,
                subject_id or "",
                json.dumps({key: _plain(value) for key, value in payload.items()}),
                wanted,
            ],
        )
        event_id, ruled = cursor.fetchone()
    if not ruled:
        return
    from apps.notifications import tasks

    if event_type in ruled:
        tasks.event_process_defer(event_id=event_id)
    if event_type in _FOLLOW_UPS and _FOLLOW_UPS[event_type] in ruled:
        tasks.starting_soon_defer(booking_id=payload["booking_id"], start=payload["start"])


def entity_event_emit(*, event_type: str, entity: Entity, actor_id: uuid.UUID | None) -> None:
    """``entity.created|updated|deleted`` for ``entity``."""
    payload = {
        "entity_id": entity.id,
        "kind": entity.kind_id,
        "status": entity.status,
        "restricted": entity.restricted,
    }
    event_emit(event_type=event_type, payload=payload, subject_id=str(entity.id), actor_id=actor_id)


def transaction_event_emit(
    *,
    event_type: str,
    txn: Transaction,
    amounts: Sequence[tuple[uuid.UUID, decimal.Decimal]],
    actor_id: uuid.UUID | None,
) -> None:
    """``transaction.posted|voided`` for ``txn`` with its postings ``(account id, amount)``: the amount
    is what moved (the sum of the positive postings)."""
    payload = {
        "transaction_id": txn.id,
        "amount": sum((amount for _, amount in amounts if amount > 0), decimal.Decimal(0)),
        "currency": txn.currency,
        "accounts": sorted({str(account_id) for account_id, _ in amounts}),
        "entity_id": txn.entity_id,
        "state": txn.state,
    }
    event_emit(event_type=event_type, payload=payload, subject_id=str(txn.id), actor_id=actor_id)


def booking_payload(booking: Booking) -> dict[str, Any]:
    return {
        "booking_id": booking.id,
        "resource_id": booking.resource_id,
        "entity_id": booking.entity_id,
        "start": booking.start,
        "end": booking.end,
        "status": booking.status,
    }


def booking_event_emit(*, event_type: str, booking: Booking, actor_id: uuid.UUID | None) -> None:
    """``booking.created|cancelled|starting_soon`` for ``booking``."""
    event_emit(
        event_type=event_type, payload=booking_payload(booking), subject_id=str(booking.id), actor_id=actor_id
    )


def starting_soon_lead() -> datetime.timedelta:
    """How long before a booking's start ``booking.starting_soon`` fires."""
    return datetime.timedelta(minutes=settings.HUB_NOTIFICATION_STARTING_SOON_MINUTES)
