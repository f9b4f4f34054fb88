from __future__ import annotations

import pytest
from django.test import Client

from apps.scheduling.models import Resource
from apps.scheduling.tests.helpers import book

pytestmark = pytest.mark.django_db


def test_book_then_conflict(member_client: Client, room: Resource) -> None:
    first = book(member_client, room, "2026-03-02T10:00+01:00", "2026-03-02T11:00+01:00")
    assert first.status_code == 201, first.content
    second = book(member_client, room, "2026-03-02T10:30+01:00", "2026-03-02T11:30+01:00")
    assert second.status_code == 409, second.content
    print(second.json())
