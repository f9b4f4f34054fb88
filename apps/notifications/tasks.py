"""The notifications module's jobs (procrastinate discovers ``tasks`` modules): processing one event,
the reminder of a booking about to start, and the daily purge of old events. Each runs inside its
organization (``tenant_task``)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.utils import timezone

from tenants.jobs import tenant_job_defer, tenant_task


@tenant_task(name="notifications.event_process")
def event_process(*, event_id: int) -> None:
    """Match the event against the organization's rules and notify (``services.event_process``)."""
    from apps.notifications.services import event_process as process

    process(event_id=event_id)


@tenant_task(name="notifications.booking_starting_soon")
def booking_starting_soon(*, booking_id: str, start: str) -> None:
    """Emit ``booking.starting_soon`` if the booking is still on, at the start it was scheduled for."""
    from apps.notifications.services import booking_starting_soon_emit

    booking_starting_soon_emit(booking_id=uuid.UUID(booking_id), start=datetime.datetime.fromisoformat(start))


@tenant_task(name="notifications.events_purge", queue="maintenance", atomic=False)
def events_purge() -> int:
    """Delete the organization's events older than ``HUB_EVENTS_RETENTION_DAYS``, one committed batch
    at a time (resumable); how many."""
    from apps.notifications.services import event_purge

    return event_purge()


def event_process_defer(*, event_id: int) -> None:
    """The job of ``event_id``, in the caller's transaction."""
    tenant_job_defer(event_process, event_id=event_id)


def starting_soon_defer(*, booking_id: Any, start: Any) -> None:
    """The reminder of a booking, due ``starting_soon_lead()`` before ``start`` (at once when that
    is past: it re-checks the booking when it runs)."""
    from apps.notifications.events import starting_soon_lead

    start_at = start if isinstance(start, datetime.datetime) else datetime.datetime.fromisoformat(str(start))
    due = max(start_at - starting_soon_lead(), timezone.now())
    tenant_job_defer(
        booking_starting_soon,
        job_options={"schedule_at": due},
        booking_id=str(booking_id),
        start=start_at.isoformat(),
    )
