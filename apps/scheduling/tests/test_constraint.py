"""The database itself refuses overlapping live bookings of a capacity-1 resource: rows written past
the services (as any future code path or raw SQL might) still cannot overlap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django_tenants.utils import tenant_context

from apps.scheduling.models import Booking, Resource
from tenants.models import Organization

pytestmark = pytest.mark.django_db

NINE = datetime(2026, 6, 1, 9, tzinfo=UTC)


def _row(resource: Resource, start: datetime, minutes: int = 60, **fields: object) -> Booking:
    return Booking(
        resource=resource,
        resource_key=resource.key,
        exclusive=resource.capacity == 1,
        start=start,
        end=start + timedelta(minutes=minutes),
        **fields,
    )


def _insert(*rows: Booking) -> None:
    with transaction.atomic():
        Booking.objects.bulk_create(rows)


def test_overlap_is_an_exclusion_violation(tenant_a: Organization, room: Resource) -> None:
    with tenant_context(tenant_a):
        _insert(_row(room, NINE))
        with pytest.raises(IntegrityError) as caught:
            _insert(_row(room, NINE + timedelta(minutes=59)))
        assert getattr(caught.value.__cause__, "sqlstate", None) == "23P01"
        assert Booking.objects.count() == 1


def test_what_the_constraint_lets_through(
    tenant_a: Organization, room: Resource, office: Resource, desk_pool: Resource
) -> None:
    with tenant_context(tenant_a):
        _insert(_row(room, NINE))
        _insert(_row(room, NINE + timedelta(minutes=60)))  # back to back
        _insert(_row(room, NINE, status=Booking.Status.CANCELLED))  # cancelled
        _insert(_row(office, NINE))  # another resource
        _insert(
            _row(desk_pool, NINE), _row(desk_pool, NINE), _row(desk_pool, NINE)
        )  # capacity > 1: the service counts
        assert Booking.objects.count() == 7


def test_raw_sql_update_cannot_create_an_overlap(tenant_a: Organization, room: Resource) -> None:
    with tenant_context(tenant_a):
        _insert(_row(room, NINE), _row(room, NINE + timedelta(hours=2)))
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE scheduling_booking SET start_at = start_at - interval '90 minutes' "
                "WHERE start_at > %s",
                [NINE],
            )
        with pytest.raises(IntegrityError), transaction.atomic():
            Booking.objects.filter(status=Booking.Status.CONFIRMED).update(
                start=NINE, end=NINE + timedelta(hours=3)
            )


def test_span_folds_resource_and_time(tenant_a: Organization, room: Resource, office: Resource) -> None:
    with tenant_context(tenant_a), connection.cursor() as cursor:
        _insert(_row(room, NINE), _row(office, NINE))
        cursor.execute(
            "SELECT resource_key, lower(span), upper(span) FROM scheduling_booking ORDER BY resource_key"
        )
        rows = cursor.fetchall()
    epoch = int(NINE.timestamp())
    assert [(key, int(low), int(high)) for key, low, high in rows] == [
        (key, key * 10**11 + epoch, key * 10**11 + epoch + 3600) for key in sorted([room.key, office.key])
    ]
    assert room.key != office.key
