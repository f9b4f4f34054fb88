"""Reads of the analytics module: the organization's settings, time series and the dashboard.

Everything is read from the rollups (``apps.analytics.models``), never by scanning the base tables, so
a read costs the same number of queries, and about the same time, whatever the organization holds.
Buckets are local dates of the organization's time zone: a bucket's boundaries are turned into UTC
instants (DST days are 23 or 25 hours long) and the hourly rollups summed between them. In the rare
time zones whose offset is not a whole number of hours, a boundary falls inside a UTC hour and that
hour is counted in the bucket before it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection

from apps.analytics.errors import (
    DimensionUnknown,
    FilterInvalid,
    FilterRequired,
    IntervalUnknown,
    MetricUnknown,
    TimeZoneUnknown,
    TooManyPoints,
    WindowReversed,
    WindowTooLong,
)
from apps.analytics.metrics import INTERVALS, METRICS, Metric
from apps.analytics.models import AnalyticsSetting
from apps.scheduling import availability
from apps.scheduling.models import AvailabilityException, AvailabilityRule, Resource
from tenants.db import tenant_connection

HOURS = Decimal("0.01")
# Available hours are keyed by what they are computed from: a day is only there to bound the memory.
AVAILABLE_CACHE_SECONDS = 24 * 3600
RATIO = Decimal("0.0001")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_KIND = re.compile(r"^[-a-zA-Z0-9_]{1,40}$")


@dataclass(frozen=True)
class Point:
    """One bucket of a series: its first local date and its value."""

    bucket_start: date
    value: Decimal | int


def time_zone_parse(name: str, *, field: str = "time_zone") -> ZoneInfo:
    """The IANA zone ``name``; ``TimeZoneUnknown`` for anything else (a path, an abbreviation, ...)."""
    if name not in zoneinfo.available_timezones():
        raise TimeZoneUnknown(
            f"{name[:64]!r} is not an IANA time zone name, such as Europe/Berlin.", field=field
        )
    return ZoneInfo(name)


def analytics_setting_get() -> AnalyticsSetting:
    """The organization's analytics settings (the default, unsaved, until an admin changes them)."""
    return AnalyticsSetting.objects.filter(id=1).first() or AnalyticsSetting(id=1)


def organization_time_zone() -> ZoneInfo:
    return ZoneInfo(analytics_setting_get().time_zone)


def window_check(*, start: date, end: date) -> None:
    """``from`` not after ``to`` and the window within ``HUB_ANALYTICS_MAX_DAYS``."""
    if start > end:
        raise WindowReversed(f"from ({start}) is after to ({end}).", field="from")
    days, allowed = (end - start).days + 1, settings.HUB_ANALYTICS_MAX_DAYS
    if days > allowed:
        raise WindowTooLong(f"The window is {days} days; at most {allowed} are allowed.", field="to")


def window_resolve(*, start: date | None, end: date | None, tz: ZoneInfo) -> tuple[date, date]:
    """The window a request asks for, checked: a missing ``from`` is the first day of the month of
    ``to`` (or of today in ``tz``), a missing ``to`` the last day of the month of ``from``."""
    if start is None:
        start = (end or datetime.now(tz).date()).replace(day=1)
    if end is None:
        end = (start.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    window_check(start=start, end=end)
    return start, end


def bucket_boundaries(*, interval: str, start: date, end: date) -> list[date]:
    """The first local date of every bucket, then the day after ``end``: buckets are aligned to the
    interval (weeks start on Monday, months on the 1st), the first one starting at ``start``."""
    if interval not in INTERVALS:
        raise IntervalUnknown(f"interval {interval[:20]!r} is not one of day, week, month.", field="interval")
    window_check(start=start, end=end)
    bounds = [start]
    current = _next_boundary(start, interval)
    while current <= end:
        bounds.append(current)
        if len(bounds) > settings.HUB_ANALYTICS_MAX_POINTS:
            raise TooManyPoints(
                f"The series would have more than {settings.HUB_ANALYTICS_MAX_POINTS} points; "
                "use a longer interval or a shorter window.",
                field="interval",
            )
        current = _next_boundary(current, interval)
    bounds.append(end + timedelta(days=1))
    return bounds


def _next_boundary(day: date, interval: str) -> date:
    if interval == "day":
        return day + timedelta(days=1)
    if interval == "week":
        return day + timedelta(days=7 - day.weekday())
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def utc_instants(bounds: Sequence[date], *, tz: ZoneInfo) -> list[datetime]:
    """Each local date's midnight in ``tz``, as a UTC instant."""
    return [datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC) for day in bounds]


def filters_check(*, metric: Metric, filters: dict[str, str]) -> dict[str, Any]:
    """``filters`` validated against ``metric``'s dimensions, their values parsed."""
    parsed: dict[str, Any] = {}
    for name, value in filters.items():
        if name not in metric.dimensions:
            allowed = ", ".join(metric.dimensions) or "none"
            raise DimensionUnknown(
                f"{metric.name} has no dimension {name[:40]!r} (allowed: {allowed}).", field=name
            )
        parsed[name] = _filter_value(name, value)
    if metric.required_one_of and not any(name in parsed for name in metric.required_one_of):
        raise FilterRequired(
            f"{metric.name} needs a filter on {' or '.join(metric.required_one_of)}.", field="metric"
        )
    return parsed


def _filter_value(name: str, value: str) -> Any:
    if name.endswith("_id"):
        try:
            return uuid.UUID(value)
        except ValueError:
            raise FilterInvalid(f"{name} must be a UUID.", field=name) from None
    if name == "currency" and not _CURRENCY.match(value):
        raise FilterInvalid("currency must be an ISO 4217 code such as EUR.", field=name)
    if name == "kind" and not _KIND.match(value):
        raise FilterInvalid("kind must be an entity kind's key.", field=name)
    return value


def metric_get(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise MetricUnknown(
            f"No metric is named {name[:60]!r}; GET /api/v1/analytics/metrics lists them.", field="metric"
        ) from None


def timeseries_get(
    *, metric: str, interval: str, start: date, end: date, filters: dict[str, str], tz: ZoneInfo
) -> list[Point]:
    """The series of ``metric`` from ``start`` to ``end`` (local dates of ``tz``, both included): one
    point per bucket, empty buckets as zero. Raises an ``AnalyticsInvalid`` (a ``ValueError``) naming
    the problem for an unknown metric or dimension, a bad filter value, a reversed or too long window,
    or more than ``HUB_ANALYTICS_MAX_POINTS`` points. A few queries, whatever the data's size."""
    chosen = metric_get(metric)
    parsed = filters_check(metric=chosen, filters=filters)
    bounds = bucket_boundaries(interval=interval, start=start, end=end)
    values: Sequence[Decimal | int]
    if chosen.source == "ledger":
        values = _ledger_series(chosen, bounds=bounds, filters=parsed)
    elif chosen.source == "entities":
        values = _entity_series(bounds=utc_instants(bounds, tz=tz), filters=parsed)
    else:
        values = _booking_series(chosen, bounds=utc_instants(bounds, tz=tz), filters=parsed)
    return [Point(bucket_start=day, value=value) for day, value in zip(bounds[:-1], values, strict=True)]


def _bucketed(sql: str, params: list[Any], *, buckets: int, initial: Decimal | int = 0) -> list[Any]:
    """Run ``sql`` answering ``(bucket number, value)`` rows (1-based); every bucket, absent ones as 0."""
    values: list[Any] = [initial] * (buckets + 1)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bucket, value in cursor.fetchall():
            values[bucket] = value
    return values


def _ledger_series(metric: Metric, *, bounds: list[date], filters: dict[str, Any]) -> list[Decimal]:
    account_where, params = _account_where(filters)
    buckets = len(bounds) - 1
    if metric.name == "ledger.balance":
        # Bucket 0 (before the window) is the opening balance; each point is the running total.
        sql = (
            "SELECT width_bucket(r.effective_date, %s::date[]), sum(r.amount) "  # noqa: S608 - fixed fragments
            "FROM analytics_ledgerdaily r JOIN ledger_account a ON a.id = r.account_id "
            f"WHERE r.effective_date < %s {account_where} GROUP BY 1"
        )
        sums = _bucketed(sql, [bounds, bounds[-1], *params], buckets=buckets, initial=Decimal(0))
        running, series = sums[0], []
        for value in sums[1:]:
            running += value
            series.append(running)
        return series
    types, sign = {"ledger.income": (["income"], -1), "ledger.expense": (["expense"], 1)}.get(
        metric.name, (["income", "expense"], -1)
    )
    sql = (
        "SELECT width_bucket(r.effective_date, %s::date[]), sum(r.amount) "  # noqa: S608 - fixed fragments
        "FROM analytics_ledgerdaily r JOIN ledger_account a ON a.id = r.account_id "
        "WHERE r.effective_date >= %s AND r.effective_date < %s AND a.type = ANY(%s) "
        f"{account_where} GROUP BY 1"
    )
    sums = _bucketed(
        sql, [bounds, bounds[0], bounds[-1], types, *params], buckets=buckets, initial=Decimal(0)
    )
    return [sign * value + Decimal(0) for value in sums[1:]]


def _account_where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if "account_id" in filters:
        clauses.append("AND a.id = %s")
        params.append(filters["account_id"])
    if "currency" in filters:
        clauses.append("AND a.currency = %s")
        params.append(filters["currency"])
    return " ".join(clauses), params


def _entity_series(*, bounds: list[datetime], filters: dict[str, Any]) -> list[int]:
    where, params = ("AND kind = %s", [filters["kind"]]) if "kind" in filters else ("", [])
    sql = (
        "SELECT width_bucket(hour, %s::timestamptz[]), sum(created) "  # noqa: S608 - fixed fragments
        "FROM analytics_entityhourly "
        f"WHERE hour >= %s AND hour < %s {where} GROUP BY 1"
    )
    return [
        int(v) for v in _bucketed(sql, [bounds, bounds[0], bounds[-1], *params], buckets=len(bounds) - 1)[1:]
    ]


def _booking_sums(*, bounds: list[datetime], filters: dict[str, Any]) -> tuple[list[int], list[Decimal]]:
    """Per bucket: the bookings starting in it and the seconds booked in it."""
    # The whole organization's totals (one row an hour) unless one resource is asked for.
    table, where, params = "analytics_bookingtotalhourly", "", []
    if "resource_id" in filters:
        table, where, params = "analytics_bookinghourly", "AND resource_id = %s", [filters["resource_id"]]
    counts, seconds = [0] * len(bounds), [Decimal(0)] * len(bounds)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT width_bucket(hour, %s::timestamptz[]), sum(bookings), sum(seconds) "  # noqa: S608
            f"FROM {table} "
            f"WHERE hour >= %s AND hour < %s {where} GROUP BY 1",
            [bounds, bounds[0], bounds[-1], *params],
        )
        for bucket, count, secs in cursor.fetchall():
            counts[bucket], seconds[bucket] = int(count), secs
    return counts[1:], seconds[1:]


def _booking_series(metric: Metric, *, bounds: list[datetime], filters: dict[str, Any]) -> list[Any]:
    counts, seconds = _booking_sums(bounds=bounds, filters=filters)
    if metric.name == "bookings.count":
        return counts
    if metric.name == "bookings.hours":
        return [hours_from_seconds(s) for s in seconds]
    resource = _resources_available([filters["resource_id"]], bounds=bounds, field="resource_id")
    available = resource[filters["resource_id"]]
    return [ratio(booked, free) for booked, free in zip(seconds, available, strict=True)]


def hours_from_seconds(seconds: Decimal | int) -> Decimal:
    return (Decimal(seconds) / 3600).quantize(HOURS)


def ratio(booked_seconds: Decimal | int, available_seconds: Decimal | int) -> Decimal:
    """Booked over available, 0 when nothing was available."""
    if not available_seconds:
        return Decimal(0).quantize(RATIO)
    return (Decimal(booked_seconds) / Decimal(available_seconds)).quantize(RATIO)


def _resources_available(
    resource_ids: Sequence[uuid.UUID] | None, *, bounds: list[datetime], field: str | None = None
) -> dict[uuid.UUID, list[Decimal]]:
    """Per resource (live ones when ``resource_ids`` is None): its available seconds in each bucket
    (open hours from its availability rules, on its own wall clock, times its capacity). Three queries."""
    resources = Resource.objects.filter(deleted_at__isnull=True)
    if resource_ids is not None:
        resources = Resource.objects.filter(id__in=resource_ids)
    found = list(resources.only("id", "timezone", "capacity").order_by("id"))
    if resource_ids is not None and len(found) != len(set(resource_ids)):
        raise FilterInvalid("No resource has this id.", field=field or "resource_id")
    ids = [r.id for r in found]
    weekly: dict[uuid.UUID, list[availability.WeeklyHours]] = {i: [] for i in ids}
    # Rows as tuples, not model instances: a dashboard reads every resource's rules.
    rules = AvailabilityRule.objects.filter(resource_id__in=ids)
    for resource_id, weekday, opens, closes in rules.values_list("resource_id", "weekday", "start", "end"):
        weekly[resource_id].append(availability.WeeklyHours(weekday, opens, closes))
    exceptions: dict[uuid.UUID, list[availability.DateException]] = {i: [] for i in ids}
    days = AvailabilityException.objects.filter(resource_id__in=ids)
    for resource_id, day, closed, since, until in days.values_list(
        "resource_id", "date", "closed", "start", "end"
    ):
        exceptions[resource_id].append(availability.DateException(day, closed, since, until))
    computed: dict[uuid.UUID, list[Decimal]] = {}
    keys = {r.id: _available_key(r, weekly[r.id], exceptions[r.id], bounds) for r in found}
    cached = cache.get_many(list(keys.values()))
    for r in found:
        if keys[r.id] in cached:
            computed[r.id] = cached[keys[r.id]]
            continue
        opened = availability.open_intervals(
            weekly=weekly[r.id],
            exceptions=exceptions[r.id],
            tz=ZoneInfo(r.timezone),
            start=bounds[0],
            end=bounds[-1],
        )
        computed[r.id] = _seconds_per_bucket(opened, bounds=bounds, capacity=r.capacity)
    cache.set_many({keys[i]: computed[i] for i in computed if keys[i] not in cached}, AVAILABLE_CACHE_SECONDS)
    return computed


def _available_key(
    resource: Resource,
    weekly: list[availability.WeeklyHours],
    exceptions: list[availability.DateException],
    bounds: list[datetime],
) -> str:
    """The cache key of a resource's available seconds: everything they are computed from (its time
    zone, capacity, rules, exceptions and the buckets), so a change to any of them is a new key and no
    cached value outlives the rules it came from; and the schema, so no organization reads another's."""
    content = repr(
        (
            resource.timezone,
            resource.capacity,
            sorted(map(repr, weekly)),
            sorted(map(repr, exceptions)),
            bounds,
        )
    )
    digest = hashlib.sha256(content.encode()).hexdigest()
    return f"analytics:available:{tenant_connection().schema_name}:{digest}"


def _seconds_per_bucket(
    intervals: list[availability.Interval], *, bounds: list[datetime], capacity: int
) -> list[Decimal]:
    spans = [timedelta(0)] * (len(bounds) - 1)
    index = 0
    for start, end in intervals:
        while index < len(spans) and bounds[index + 1] <= start:
            index += 1
        i = index
        while i < len(spans) and bounds[i] < end:
            spans[i] += min(end, bounds[i + 1]) - max(start, bounds[i])
            i += 1
    return [Decimal(span // timedelta(microseconds=1)) / 1_000_000 * capacity for span in spans]


@dataclass
class Dashboard:
    """The organization's key figures for a window of local dates."""

    start: date
    end: date
    time_zone: str
    entities_by_kind_status: list[dict[str, Any]] = field(default_factory=list)
    entities_created: list[dict[str, Any]] = field(default_factory=list)
    ledger_totals: list[dict[str, Any]] = field(default_factory=list)
    ledger_income_expense: list[dict[str, Any]] = field(default_factory=list)
    cash_position: list[dict[str, Any]] = field(default_factory=list)
    bookings: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)


def dashboard_get(*, start: date, end: date, tz: ZoneInfo) -> Dashboard:
    """The dashboard from ``start`` to ``end`` (local dates of ``tz``, both included). Constant queries."""
    window_check(start=start, end=end)
    instants = utc_instants([start, end + timedelta(days=1)], tz=tz)
    board = Dashboard(start=start, end=end, time_zone=str(tz))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT kind, status, count FROM analytics_entitycount WHERE count <> 0 ORDER BY kind, status"
        )
        board.entities_by_kind_status = [
            {"kind": k, "status": s, "count": int(c)} for k, s, c in cursor.fetchall()
        ]
        cursor.execute(
            "SELECT kind, sum(created) FROM analytics_entityhourly WHERE hour >= %s AND hour < %s "
            "GROUP BY kind HAVING sum(created) <> 0 ORDER BY kind",
            instants,
        )
        board.entities_created = [{"kind": k, "count": int(c)} for k, c in cursor.fetchall()]
        cursor.execute(
            "SELECT a.type, a.currency, sum(r.amount) FROM analytics_ledgerdaily r "
            "JOIN ledger_account a ON a.id = r.account_id "
            "WHERE r.effective_date >= %s AND r.effective_date <= %s GROUP BY 1, 2 ORDER BY 1, 2",
            [start, end],
        )
        board.ledger_totals = [
            {"account_type": t, "currency": c, "amount": a} for t, c, a in cursor.fetchall()
        ]
        # Cash at the end of ``end``: today's posted balances minus what is dated after ``end``.
        cursor.execute(
            "SELECT a.currency, sum(a.balance) - COALESCE(sum(later.amount), 0) FROM ledger_account a "
            "LEFT JOIN (SELECT account_id, sum(amount) AS amount FROM analytics_ledgerdaily "
            "WHERE effective_date > %s GROUP BY account_id) later ON later.account_id = a.id "
            "WHERE a.type = 'asset' GROUP BY 1 ORDER BY 1",
            [end],
        )
        board.cash_position = [{"currency": c, "balance": b} for c, b in cursor.fetchall()]
        cursor.execute(
            "SELECT r.id, COALESCE(sum(h.bookings), 0), COALESCE(sum(h.seconds), 0) "
            "FROM scheduling_resource r "
            "LEFT JOIN analytics_bookinghourly h ON h.resource_id = r.id AND h.hour >= %s AND h.hour < %s "
            "WHERE r.deleted_at IS NULL GROUP BY r.id ORDER BY r.id",
            instants,
        )
        booked = cursor.fetchall()
        # Notification deliveries made in the window (an index range of its rows, not the whole table;
        # delivered rows are purged after HUB_DELIVERY_RETENTION_DAYS), by channel and status.
        cursor.execute(
            "SELECT COALESCE(channel, target), status, count(*) FROM deliveries_delivery "
            "WHERE created_at >= %s AND created_at < %s GROUP BY 1, 2 ORDER BY 1, 2",
            instants,
        )
        board.deliveries = [{"channel": c, "status": s, "count": int(n)} for c, s, n in cursor.fetchall()]
    board.ledger_income_expense = _income_expense(board.ledger_totals)
    available = _resources_available(None, bounds=instants)
    board.bookings = [
        {
            "resource_id": resource_id,
            "bookings": int(count),
            "booked_hours": hours_from_seconds(seconds),
            "available_hours": hours_from_seconds(available[resource_id][0]),
            "utilisation": ratio(seconds, available[resource_id][0]),
        }
        for resource_id, count, seconds in booked
        if resource_id in available
    ]
    return board


def _income_expense(totals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per currency: income (credits on income accounts), expense (debits on expense accounts), net."""
    by_currency: dict[str, dict[str, Any]] = {}
    for row in totals:
        if row["account_type"] not in ("income", "expense"):
            continue
        entry = by_currency.setdefault(
            row["currency"], {"currency": row["currency"], "income": Decimal(0), "expense": Decimal(0)}
        )
        if row["account_type"] == "income":
            entry["income"] -= row["amount"]
        else:
            entry["expense"] += row["amount"]
    for entry in by_currency.values():
        entry["net"] = entry["income"] - entry["expense"]
    return [by_currency[c] for c in sorted(by_currency)]
