"""A report's definition checked against the analytics catalogue, and its period resolved to dates.

Every rule names the field it breaks (a 422 with ``errors[0].loc``), and nothing is written before
the whole definition passes: metrics must be in the catalogue, every filter and the grouping
dimension must be a dimension of **every** metric (a report is one table of buckets), the interval
one of the catalogue's, the period relative or absolute, never both.
"""

from __future__ import annotations

import datetime
from typing import Any

from apps.reports import series
from apps.reports.errors import ReportErrorCode, ReportInvalid

INTERVALS = ("day", "week", "month")
RELATIVE_PERIODS = ("this_month", "last_month", "last_30_days", "this_year")
MAX_METRICS = 10
MAX_FILTER_VALUES = 50
# The longest absolute period a report may cover (the analytics module bounds its buckets too).
MAX_PERIOD_DAYS = 5 * 366


def name_clean(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ReportInvalid("name must be a non-blank text.", field="name")
    return name.strip()


def metrics_clean(metrics: Any) -> list[str]:
    if not isinstance(metrics, list) or not metrics:
        raise ReportInvalid("metrics must name at least one metric.", field="metrics")
    if len(metrics) > MAX_METRICS:
        raise ReportInvalid(f"A report has at most {MAX_METRICS} metrics.", field="metrics")
    catalogue = series.metric_dimensions()
    for index, name in enumerate(metrics):
        if name not in catalogue:
            raise ReportInvalid(
                f"{name!r} is not a metric of the catalogue; one of: {', '.join(sorted(catalogue))}.",
                field=f"metrics.{index}",
                code=ReportErrorCode.METRIC_UNKNOWN,
            )
    if len(set(metrics)) != len(metrics):
        raise ReportInvalid("metrics names a metric twice.", field="metrics")
    return list(metrics)


def _dimension_check(dimension: str, *, metrics: list[str], field: str) -> None:
    """``dimension`` must be one of every metric's dimensions (else the report's rows would mix)."""
    catalogue = series.metric_dimensions()
    for metric in metrics:
        if dimension not in catalogue[metric]:
            known = ", ".join(catalogue[metric]) or "none"
            raise ReportInvalid(
                f"{dimension!r} is not a dimension of metric {metric!r} (its dimensions: {known}).",
                field=field,
                code=ReportErrorCode.DIMENSION_UNKNOWN,
            )


def _filter_value_clean(value: Any, *, field: str, grouped: bool) -> Any:
    """A filter's value is a text (an id, a code); the grouping dimension's, a list of them."""
    if isinstance(value, str) and not grouped:
        return value
    if (
        grouped
        and isinstance(value, list)
        and 0 < len(value) <= MAX_FILTER_VALUES
        and all(isinstance(v, str) for v in value)
        and len(set(value)) == len(value)
    ):
        return value
    raise ReportInvalid(
        f"The grouping dimension's filter is a list of 1 to {MAX_FILTER_VALUES} distinct texts."
        if grouped
        else "A filter's value is a text (a list only for the grouping dimension).",
        field=field,
        code=ReportErrorCode.FILTER_INVALID,
    )


def filters_clean(filters: Any, *, metrics: list[str], grouped_by: str | None) -> dict[str, Any]:
    if not isinstance(filters, dict):
        raise ReportInvalid("filters must be an object of dimension: value.", field="filters")
    cleaned = {}
    for dimension, value in filters.items():
        _dimension_check(dimension, metrics=metrics, field=f"filters.{dimension}")
        cleaned[dimension] = _filter_value_clean(
            value, field=f"filters.{dimension}", grouped=dimension == grouped_by
        )
    return cleaned


def grouping_clean(grouping: Any, *, metrics: list[str], filters: dict[str, Any]) -> dict[str, Any]:
    """``interval`` (day, week or month) and an optional ``dimension``: a dimension of every metric
    whose values to group by are listed in ``filters`` (the catalogue names dimensions, not their
    values: the report says which ones it wants, so its table has a bounded number of rows)."""
    if not isinstance(grouping, dict) or set(grouping) - {"interval", "dimension"}:
        raise ReportInvalid("grouping is {interval, dimension?}.", field="grouping")
    interval = grouping.get("interval", "day")
    if interval not in INTERVALS:
        raise ReportInvalid(
            f"interval must be one of {', '.join(INTERVALS)}.",
            field="grouping.interval",
            code=ReportErrorCode.INTERVAL_UNKNOWN,
        )
    dimension = grouping.get("dimension")
    if dimension is not None:
        if not isinstance(dimension, str):
            raise ReportInvalid("grouping.dimension is a dimension's name.", field="grouping.dimension")
        _dimension_check(dimension, metrics=metrics, field="grouping.dimension")
        if not isinstance(filters.get(dimension), list):
            raise ReportInvalid(
                f"Grouping by {dimension!r} needs the values to group in filters.{dimension} (a list).",
                field="grouping.dimension",
            )
    return {"interval": interval, "dimension": dimension}


def _date(value: Any, *, field: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ReportInvalid(
            "A date is YYYY-MM-DD.", field=field, code=ReportErrorCode.PERIOD_INVALID
        ) from exc


def period_clean(period: Any) -> dict[str, Any]:
    """``{"relative": one of RELATIVE_PERIODS}`` or ``{"from": date, "to": date}`` (from <= to)."""
    if isinstance(period, dict) and set(period) == {"relative"}:
        if period["relative"] not in RELATIVE_PERIODS:
            raise ReportInvalid(
                f"period.relative must be one of {', '.join(RELATIVE_PERIODS)}.",
                field="period.relative",
                code=ReportErrorCode.PERIOD_INVALID,
            )
        return {"relative": period["relative"]}
    if isinstance(period, dict) and set(period) == {"from", "to"}:
        start, end = _date(period["from"], field="period.from"), _date(period["to"], field="period.to")
        if start > end:
            raise ReportInvalid(
                "period.from is after period.to.", field="period.from", code=ReportErrorCode.PERIOD_INVALID
            )
        if (end - start).days >= MAX_PERIOD_DAYS:
            raise ReportInvalid(
                f"A period covers at most {MAX_PERIOD_DAYS} days.",
                field="period.to",
                code=ReportErrorCode.PERIOD_INVALID,
            )
        return {"from": start.isoformat(), "to": end.isoformat()}
    raise ReportInvalid(
        "period is {relative} or {from, to}, not both.", field="period", code=ReportErrorCode.PERIOD_INVALID
    )


def _grouping_dimension(grouping: Any) -> str | None:
    dimension = grouping.get("dimension") if isinstance(grouping, dict) else None
    return dimension if isinstance(dimension, str) else None


def _series_check(definition: dict[str, Any]) -> None:
    """Each series the report is made of, as the analytics module will be asked for it: filter values
    it can parse, the filters a metric requires, and not too many points for an absolute period."""
    dimension = definition["grouping"]["dimension"]
    groups = definition["filters"][dimension] if dimension else [None]
    period = definition["period"]
    for index, metric in enumerate(definition["metrics"]):
        for group in groups:
            group_filters = {**definition["filters"], **({dimension: group} if dimension else {})}
            try:
                series.series_check(metric=metric, filters=group_filters)
            except series.AnalyticsInvalid as exc:
                raise _refused(exc, field=_filter_field(exc.field, metric_index=index)) from exc
    if "from" in period:
        start, end = datetime.date.fromisoformat(period["from"]), datetime.date.fromisoformat(period["to"])
        try:
            series.buckets_check(interval=definition["grouping"]["interval"], start=start, end=end)
        except series.AnalyticsInvalid as exc:
            raise _refused(exc, field="period") from exc


def _filter_field(field: str | None, *, metric_index: int) -> str:
    # The analytics module names a filter by its dimension, or "metric" for a missing required one.
    return f"filters.{field}" if field and field != "metric" else f"metrics.{metric_index}"


def _refused(exc: series.AnalyticsInvalid, *, field: str) -> ReportInvalid:
    codes = {code.value for code in ReportErrorCode}
    code = ReportErrorCode(str(exc.instance_code)) if str(exc.instance_code) in codes else None
    return ReportInvalid(exc.detail, field=field, code=code)


def definition_clean(values: dict[str, Any]) -> dict[str, Any]:
    """Every field of a report checked together (filters and grouping depend on the metrics), then
    each series as the analytics module will compute it: a 422 naming the first problem."""
    metrics = metrics_clean(values.get("metrics"))
    grouping = values.get("grouping") or {}
    filters = filters_clean(
        values.get("filters") or {}, metrics=metrics, grouped_by=_grouping_dimension(grouping)
    )
    definition = {
        "name": name_clean(values.get("name")),
        "metrics": metrics,
        "filters": filters,
        "grouping": grouping_clean(grouping, metrics=metrics, filters=filters),
        "period": period_clean(values.get("period")),
    }
    _series_check(definition)
    return definition


def period_dates(period: dict[str, Any], *, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day (inclusive) a period covers, ``today`` being the organization's today."""
    relative = period.get("relative")
    if relative is None:
        return datetime.date.fromisoformat(period["from"]), datetime.date.fromisoformat(period["to"])
    if relative == "this_month":
        return today.replace(day=1), today
    if relative == "last_month":
        end = today.replace(day=1) - datetime.timedelta(days=1)
        return end.replace(day=1), end
    if relative == "last_30_days":
        return today - datetime.timedelta(days=29), today
    return today.replace(month=1, day=1), today  # this_year
