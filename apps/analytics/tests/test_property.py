"""Property: whatever happens (postings back-dated, pending then posted or voided, reversed; bookings
made, moved, cancelled, deleted across the DST changes of Europe/Berlin; entities created, re-dated,
changed, deleted), every dashboard figure and every time-series bucket equals a brute-force
recomputation from the base tables, and ``check_rollups`` finds nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.analytics import selectors
from apps.analytics.services import analytics_setting_update, rollups_first_difference
from apps.analytics.tests.conftest import actor_get
from apps.entities.models import Entity
from apps.ledger import services as ledger
from apps.ledger.models import Posting, Transaction
from apps.scheduling import availability
from apps.scheduling.models import AvailabilityRule, Booking, Resource
from tenants.models import Organization

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
FIRST_DAY = date(2026, 3, 20)
# Around both changes of 2026: 29 March (02:00 -> 03:00) and 25 October (03:00 -> 02:00).
BOOKING_BASES = (datetime(2026, 3, 28, 22, tzinfo=UTC), datetime(2026, 10, 24, 22, tzinfo=UTC))
WINDOWS = (
    (date(2026, 3, 20), date(2026, 4, 6)),
    (date(2026, 10, 20), date(2026, 11, 2)),
    (date(2026, 3, 1), date(2026, 11, 30)),
)

operation = st.one_of(
    st.tuples(
        st.just("post"),
        st.integers(0, 5),
        st.integers(0, 5),
        st.integers(1, 10_000),
        st.integers(0, 16),
        st.booleans(),
    ),
    st.tuples(st.just("settle"), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("reverse"), st.integers(0, 20), st.integers(-5, 10)),
    st.tuples(
        st.just("book"),
        st.integers(0, 1),
        st.integers(0, 1),
        st.integers(-12, 48 * 4),
        st.integers(1, 20 * 4),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("move"), st.integers(0, 20), st.integers(-8 * 4, 8 * 4), st.integers(1, 12 * 4)),
    st.tuples(st.just("unbook"), st.integers(0, 20)),
    st.tuples(st.just("entity"), st.sampled_from(["customer", "supplier"]), st.integers(-3 * 24, 30 * 24)),
    st.tuples(st.just("flip"), st.integers(0, 20)),
    st.tuples(st.just("delete"), st.integers(0, 20)),
)


class World:
    """Organization A's accounts and resources, and the operations applied to them."""

    def __init__(self) -> None:
        self.actor = actor_get()
        pairs = [
            ("1000", "asset", "EUR"),
            ("1100", "asset", "EUR"),
            ("4000", "income", "EUR"),
            ("6000", "expense", "EUR"),
            ("1200", "asset", "USD"),
            ("4200", "income", "USD"),
        ]
        self.accounts = [
            ledger.account_create(actor=self.actor, code=code, name=code, type=kind, currency=currency)
            for code, kind, currency in pairs
        ]
        self.rooms = [
            Resource.objects.create(kind="room", name="Open", timezone="Europe/Berlin", capacity=3),
            Resource.objects.create(kind="room", name="Office", timezone="Europe/Berlin", capacity=2),
        ]
        AvailabilityRule.objects.bulk_create(
            AvailabilityRule(resource=self.rooms[1], weekday=day, start=time(9), end=time(17))
            for day in range(6)
        )
        self.transactions: list[Transaction] = []
        self.bookings: list[Booking] = []
        self.entities: list[Entity] = []

    def apply(self, op: tuple[Any, ...]) -> None:
        getattr(self, "_" + op[0])(*op[1:])

    def _post(self, debit: int, credit: int, cents: int, day: int, posted: bool) -> None:
        a, b = self.accounts[debit], self.accounts[credit]
        if a.currency != b.currency or a == b:
            return
        amount = str(Decimal(cents) / 100)
        txn = ledger.transaction_create(
            actor=self.actor,
            description="p",
            currency=a.currency,
            effective_date=FIRST_DAY + timedelta(days=day),
            postings=[{"account_id": a.id, "amount": amount}, {"account_id": b.id, "amount": f"-{amount}"}],
            state="posted" if posted else "pending",
        )
        self.transactions.append(txn)

    def _pick(self, items: list[Any], index: int) -> Any:
        return items[index % len(items)] if items else None

    def _settle(self, index: int, post: bool) -> None:
        txn = self._pick(self.transactions, index)
        if txn is not None and Transaction.objects.get(id=txn.id).state == "pending":
            (ledger.transaction_post if post else ledger.transaction_void)(actor=self.actor, txn=txn)

    def _reverse(self, index: int, days: int) -> None:
        txn = self._pick(self.transactions, index)
        if txn is None:
            return
        current = Transaction.objects.get(id=txn.id)
        if current.state != "posted" or Transaction.objects.filter(reverses=current).exists():
            return
        reversal = ledger.transaction_reverse(
            actor=self.actor, txn=current, effective_date=current.effective_date + timedelta(days=days)
        )
        self.transactions.append(reversal)

    def _book(self, room: int, base: int, quarter: int, quarters: int) -> None:
        start = BOOKING_BASES[base] + timedelta(minutes=15 * quarter)
        resource = self.rooms[room]
        self.bookings.append(
            Booking.objects.create(
                resource=resource,
                resource_key=resource.key,
                exclusive=False,
                start=start,
                end=start + timedelta(minutes=15 * quarters),
            )
        )

    def _cancel(self, index: int) -> None:
        booking = self._pick(self.bookings, index)
        if booking is not None:
            Booking.objects.filter(id=booking.id).update(status="cancelled")

    def _move(self, index: int, quarters: int, length: int) -> None:
        booking = self._pick(self.bookings, index)
        if booking is not None and Booking.objects.filter(id=booking.id).exists():
            start = booking.start + timedelta(minutes=15 * quarters)
            Booking.objects.filter(id=booking.id).update(
                start=start, end=start + timedelta(minutes=15 * length)
            )

    def _unbook(self, index: int) -> None:
        booking = self._pick(self.bookings, index)
        if booking is not None:
            Booking.objects.filter(id=booking.id).delete()

    def _entity(self, kind: str, hours: int) -> None:
        entity = Entity.objects.create(kind_id=kind, name="e")
        Entity.objects.filter(id=entity.id).update(
            created_at=datetime(2026, 3, 27, tzinfo=UTC) + timedelta(hours=hours)
        )
        self.entities.append(entity)

    def _flip(self, index: int) -> None:
        entity = self._pick(self.entities, index)
        if entity is not None:
            current = Entity.objects.get(id=entity.id)
            Entity.objects.filter(id=entity.id).update(
                status="inactive" if current.status == "active" else "active"
            )

    def _delete(self, index: int) -> None:
        entity = self._pick(self.entities, index)
        if entity is not None:
            Entity.objects.filter(id=entity.id).update(deleted_at=datetime(2026, 4, 1, tzinfo=UTC))


@pytest.fixture
def world(tenant_a: Organization) -> Iterator[World]:
    with tenant_context(tenant_a):
        analytics_setting_update(actor=actor_get(), time_zone="Europe/Berlin")
        yield World()


def _instants(bounds: list[date]) -> list[datetime]:
    return [datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC) for day in bounds]


class Base:
    """The base tables read once, for the brute-force recomputation."""

    def __init__(self) -> None:
        rows = Posting.objects.filter(transaction__state="posted").select_related("account", "transaction")
        self.posted = [(p.amount, p.account, p.transaction.effective_date) for p in rows]
        self.bookings = list(Booking.objects.exclude(status="cancelled"))
        self.entities = list(Entity.objects.all())
        self.resources = {r.id: r for r in Resource.objects.all()}
        self.weekly: dict[Any, list[availability.WeeklyHours]] = {r: [] for r in self.resources}
        for rule in AvailabilityRule.objects.all():
            self.weekly[rule.resource_id].append(availability.WeeklyHours(rule.weekday, rule.start, rule.end))

    def available(self, resource_id: Any, start: datetime, end: datetime) -> Decimal:
        opened = availability.open_intervals(
            weekly=self.weekly[resource_id], exceptions=[], tz=BERLIN, start=start, end=end
        )
        return Decimal(sum((e - s).total_seconds() for s, e in opened)) * self.resources[resource_id].capacity

    def brute(
        self,
        metric: str,
        filters: dict[str, str],
        start: datetime,
        end: datetime,
        day_from: date,
        day_to: date,
    ) -> Any:
        """The bucket ``[start, end)`` (or the dates ``[day_from, day_to)``) recomputed from the base rows."""
        if metric.startswith("ledger."):
            rows = [
                (amount, a, d)
                for amount, a, d in self.posted
                if filters.get("currency", a.currency) == a.currency
                and filters.get("account_id", str(a.id)) == str(a.id)
            ]
            if metric == "ledger.balance":
                return sum((amount for amount, _, d in rows if d < day_to), Decimal(0))
            inside = [(amount, a) for amount, a, d in rows if day_from <= d < day_to]
            income = -sum((amount for amount, a in inside if a.type == "income"), Decimal(0))
            expense = sum((amount for amount, a in inside if a.type == "expense"), Decimal(0))
            return {"ledger.income": income, "ledger.expense": expense, "ledger.net": income - expense}[
                metric
            ]
        if metric == "entities.created":
            return sum(
                1
                for e in self.entities
                if start <= e.created_at < end and filters.get("kind", e.kind_id) == e.kind_id
            )
        bookings = [
            b for b in self.bookings if filters.get("resource_id", str(b.resource_id)) == str(b.resource_id)
        ]
        if metric == "bookings.count":
            return sum(1 for b in bookings if start <= b.start < end)
        booked = sum(
            (Decimal(max((min(b.end, end) - max(b.start, start)).total_seconds(), 0)) for b in bookings),
            Decimal(0),
        )
        if metric == "bookings.hours":
            return selectors.hours_from_seconds(booked)
        return selectors.ratio(booked, self.available(uuid.UUID(filters["resource_id"]), start, end))


def _series_cases(w: World) -> list[tuple[str, dict[str, str]]]:
    cases: list[tuple[str, dict[str, str]]] = [
        ("entities.created", {}),
        ("entities.created", {"kind": "customer"}),
        ("bookings.count", {}),
    ]
    for currency in ("EUR", "USD"):
        cases += [(m, {"currency": currency}) for m in ("ledger.income", "ledger.expense", "ledger.net")]
    cases += [("ledger.balance", {"account_id": str(a.id)}) for a in w.accounts]
    for room in w.rooms:
        cases += [
            (m, {"resource_id": str(room.id)})
            for m in ("bookings.count", "bookings.hours", "bookings.utilisation")
        ]
    return cases


def _check(w: World) -> None:
    base = Base()
    for first, last in WINDOWS:
        # The long window by month only: its daily series would cost the test, not prove more.
        for interval in ("day", "week", "month") if (last - first).days < 60 else ("month",):
            bounds = selectors.bucket_boundaries(interval=interval, start=first, end=last)
            instants = _instants(bounds)
            for metric, filters in _series_cases(w):
                points = selectors.timeseries_get(
                    metric=metric, interval=interval, start=first, end=last, filters=filters, tz=BERLIN
                )
                expected = [
                    base.brute(metric, filters, instants[i], instants[i + 1], bounds[i], bounds[i + 1])
                    for i in range(len(points))
                ]
                assert [p.value for p in points] == expected, (metric, filters, interval, first)
        _check_dashboard(w, base, first, last)
    assert rollups_first_difference() is None


def _check_dashboard(w: World, base: Base, first: date, last: date) -> None:
    board = selectors.dashboard_get(start=first, end=last, tz=BERLIN)
    start, end = _instants([first, last + timedelta(days=1)])
    live = [(e.kind_id, e.status) for e in base.entities if e.deleted_at is None]
    assert [(r["kind"], r["status"], r["count"]) for r in board.entities_by_kind_status] == [
        (k, s, live.count((k, s))) for k, s in sorted(set(live))
    ]
    kinds = sorted({e.kind_id for e in base.entities if start <= e.created_at < end})
    assert board.entities_created == [
        {"kind": k, "count": base.brute("entities.created", {"kind": k}, start, end, first, last)}
        for k in kinds
    ]
    totals: dict[tuple[str, str], Decimal] = {}
    for amount, a, d in base.posted:
        if first <= d <= last:
            totals[(a.type, a.currency)] = totals.get((a.type, a.currency), Decimal(0)) + amount
    assert {(r["account_type"], r["currency"]): r["amount"] for r in board.ledger_totals} == totals
    for row in board.ledger_income_expense:
        assert row["income"] == base.brute(
            "ledger.income", {"currency": row["currency"]}, start, end, first, last + timedelta(days=1)
        )
        assert row["expense"] == base.brute(
            "ledger.expense", {"currency": row["currency"]}, start, end, first, last + timedelta(days=1)
        )
    cash: dict[str, Decimal] = {a.currency: Decimal(0) for a in w.accounts if a.type == "asset"}
    for amount, a, d in base.posted:
        if a.type == "asset" and d <= last:
            cash[a.currency] += amount
    assert {r["currency"]: r["balance"] for r in board.cash_position} == cash
    for row in board.bookings:
        f = {"resource_id": str(row["resource_id"])}
        assert row["bookings"] == base.brute("bookings.count", f, start, end, first, last)
        assert row["booked_hours"] == base.brute("bookings.hours", f, start, end, first, last)
        assert row["utilisation"] == base.brute("bookings.utilisation", f, start, end, first, last)
    assert len(board.bookings) == len(w.rooms)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, max_size=14))
def test_rollups_equal_brute_force(world: World, operations: list[tuple[Any, ...]]) -> None:
    with transaction.atomic():
        for op in operations:
            world.apply(op)
        _check(world)
        transaction.set_rollback(True)
    world.transactions.clear()
    world.bookings.clear()
    world.entities.clear()
