"""Constants and helpers shared by the notifications tests."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection

from apps.notifications.models import Event
from apps.notifications.services import event_process
from tests.helpers import assert_error  # noqa: F401 - re-exported for the module's tests

URL = "/api/v1/notifications/"
RULES = "/api/v1/notifications/rules"
JSON = "application/json"

# The ``sub`` conftest.make_token puts in every token unless told otherwise, and b_member_client's.
CALLER = uuid.UUID(int=0x1234)
B_CALLER = uuid.UUID(int=0xB0B)
ADMIN = uuid.UUID(int=0xAD01)
MEMBER = uuid.UUID(int=0xAD02)
OUTSIDER = uuid.UUID(int=0xAD03)  # a user of organization B only


def rule_url(rule_id: Any) -> str:
    return f"{RULES}/{rule_id}"


def last_event() -> Event:
    event = Event.objects.order_by("-id").first()
    assert event is not None
    return event


def process_last() -> int:
    """Run the processing of the newest event here, in the test's transaction (no worker)."""
    return event_process(event_id=last_event().id)


def jobs_in_transaction(task_name: str) -> int:
    """Jobs of ``task_name`` this transaction sees (the test's own, uncommitted, included)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM public.procrastinate_jobs WHERE task_name = %s", [task_name])
        return int(cursor.fetchone()[0])


def delivery_content(delivery: Any) -> dict[str, Any]:
    """What a delivery sends (address, subject, variables), decrypted."""
    content = delivery.content_get()
    return {"to": content.to, "subject": content.subject, "variables": content.variables or {}}
