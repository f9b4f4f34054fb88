"""The one place the reports module reads the analytics module: its metric catalogue, the
organization's time zone and the time series a run is made of.

A run's table is aggregates only: bucket starts, dimension values as the catalogue gives them (codes,
ids) and numbers. No metric yields a personal field, so every role that may read a report may read
its rows (viewers included): there is nothing to mask per role.
"""

from __future__ import annotations

import datetime
import decimal
import zoneinfo
from collections.abc import Callable
from typing import Any

from apps.analytics.errors import AnalyticsInvalid
from apps.analytics.metrics import METRICS
from apps.analytics.selectors import (
    bucket_boundaries,
    filters_check,
    metric_get,
    organization_time_zone,
    timeseries_get,
)

__all__ = ["AnalyticsInvalid", "organization_time_zone"]


def metric_dimensions() -> dict[str, tuple[str, ...]]:
    """Every metric of the catalogue and the dimensions it may be filtered or grouped by."""
    return {name: tuple(metric.dimensions) for name, metric in METRICS.items()}


def series_check(*, metric: str, filters: dict[str, str]) -> None:
    """``AnalyticsInvalid`` when the analytics module would refuse these filters for ``metric``."""
    filters_check(metric=metric_get(metric), filters=filters)


def buckets_check(*, interval: str, start: datetime.date, end: datetime.date) -> None:
    """``AnalyticsInvalid`` when the window is too long or has too many buckets."""
    bucket_boundaries(interval=interval, start=start, end=end)


def _number(value: Any) -> Any:
    """A JSON number that keeps a decimal's digits (as text: a float would round money)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _bucket(value: Any) -> str:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


def table_compute(
    *,
    definition: dict[str, Any],
    start: datetime.date,
    end: datetime.date,
    tz: zoneinfo.ZoneInfo,
    on_step: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """The run's rows: one per bucket (and per value of the grouping dimension), a column per metric.

    One time series per metric and group; ``on_step(done, total)`` after each (the run's progress).
    """
    interval = definition["grouping"]["interval"]
    dimension = definition["grouping"].get("dimension")
    filters = dict(definition.get("filters") or {})
    groups: list[Any] = list(filters[dimension]) if dimension else [None]
    total = len(groups) * len(definition["metrics"])
    rows: dict[tuple[str, Any], dict[str, Any]] = {}
    done = 0
    for group in groups:
        group_filters = {**filters, dimension: group} if dimension else filters
        for metric in definition["metrics"]:
            points = timeseries_get(
                metric=metric, interval=interval, start=start, end=end, filters=group_filters, tz=tz
            )
            for point in points:
                bucket = _bucket(point.bucket_start)
                row = rows.setdefault(
                    (bucket, group), {"bucket": bucket, **({dimension: group} if dimension else {})}
                )
                row[metric] = _number(point.value)
            done += 1
            if on_step is not None:
                on_step(done, total)
    ordered = sorted(
        rows.values(), key=lambda row: (row["bucket"], str(row.get(dimension, "")) if dimension else "")
    )
    for row in ordered:
        for metric in definition["metrics"]:
            row.setdefault(metric, 0)
    return ordered
