"""Reads of the usage module: every organization's usage over a period, from ``UsageDay`` rows only
(a handful of rows per organization and day: the list costs the same whatever the tenants hold)."""

from __future__ import annotations

import datetime

from django.db.models import F, OuterRef, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from apps.usage.errors import UsagePeriodInvalid
from apps.usage.models import UsageDay
from tenants.models import Organization

DEFAULT_DAYS = 30
MAX_DAYS = 366


def usage_period(
    *, start: datetime.date | None, end: datetime.date | None, today: datetime.date
) -> tuple[datetime.date, datetime.date]:
    """The period asked for (inclusive days, UTC): the last 30 days by default, at most a year."""
    end = end or today
    start = start or end - datetime.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise UsagePeriodInvalid("from is after to.", field="from")
    if (end - start).days >= MAX_DAYS:
        raise UsagePeriodInvalid(f"A period covers at most {MAX_DAYS} days.", field="to")
    return start, end


def usage_list(*, start: datetime.date, end: datetime.date) -> QuerySet[Organization]:
    """Every organization, by slug, with its usage over ``start``..``end``: the tables as last
    collected in the period, requests summed over its days, users counted distinct across them."""
    days = UsageDay.objects.filter(organization_id=OuterRef("pk"), day__gte=start, day__lte=end)
    latest = days.order_by("-day")
    active_users = RawSQL(
        "SELECT count(DISTINCT u.id) FROM usage_usageday d, unnest(d.active_user_ids) AS u(id) "
        'WHERE d.organization_id = "tenants_organization"."organization_id" AND d.day BETWEEN %s AND %s',
        [start, end],
    )
    return Organization.objects.annotate(
        usage_rows=Subquery(latest.values("rows")[:1]),
        rows_total=Coalesce(Subquery(latest.values("rows_total")[:1]), 0),
        storage_bytes=Coalesce(Subquery(latest.values("storage_bytes")[:1]), 0),
        collected_at=Subquery(latest.values("collected_at")[:1]),
        requests=Coalesce(
            Subquery(
                days.order_by().values("organization_id").annotate(total=Sum("requests")).values("total")
            ),
            0,
        ),
        active_users=active_users,
    ).order_by(F("slug").asc())
