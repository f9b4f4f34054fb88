"""The metric catalogue: what ``GET /api/v1/analytics/timeseries`` (and the saved reports) can chart.

A metric names its unit, the dimensions it may be filtered by (``?currency=EUR``, ``?resource_id=...``)
and the rollup it is read from (``source``). ``required_one_of``: at least one of these filters must
be given, because the sum would otherwise mean nothing (money of several currencies added together) or
the figure is defined for one object only (the balance of an account, the utilisation of a resource).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """One chartable figure. ``unit``: ``count``, ``money`` (the currency's units, decimal string),
    ``hours`` or ``ratio`` (0 to 1, may pass 1 when bookings outgrow the open hours)."""

    name: str
    description: str
    unit: str
    dimensions: tuple[str, ...]
    source: str
    required_one_of: tuple[str, ...] = ()


_LEDGER_MONEY = ("account_id", "currency")

METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric(
            "entities.created",
            "Entities created in the bucket (deleted ones included), by kind.",
            "count",
            ("kind",),
            "entities",
        ),
        Metric(
            "ledger.income",
            "Posted income: credits minus debits on income accounts, by the transactions' effective date.",
            "money",
            _LEDGER_MONEY,
            "ledger",
            required_one_of=_LEDGER_MONEY,
        ),
        Metric(
            "ledger.expense",
            "Posted expense: debits minus credits on expense accounts, by effective date.",
            "money",
            _LEDGER_MONEY,
            "ledger",
            required_one_of=_LEDGER_MONEY,
        ),
        Metric(
            "ledger.net",
            "Income minus expense, by effective date.",
            "money",
            _LEDGER_MONEY,
            "ledger",
            required_one_of=_LEDGER_MONEY,
        ),
        Metric(
            "ledger.balance",
            "An account's posted balance (debit positive) at the end of the bucket.",
            "money",
            ("account_id",),
            "ledger",
            required_one_of=("account_id",),
        ),
        Metric(
            "bookings.count",
            "Bookings (not cancelled) starting in the bucket.",
            "count",
            ("resource_id",),
            "bookings",
        ),
        Metric(
            "bookings.hours",
            "Hours booked (not cancelled) within the bucket.",
            "hours",
            ("resource_id",),
            "bookings",
        ),
        Metric(
            "bookings.utilisation",
            "A resource's booked hours over its available hours (availability rules times capacity).",
            "ratio",
            ("resource_id",),
            "bookings",
            required_one_of=("resource_id",),
        ),
    )
}

INTERVALS = ("day", "week", "month")
