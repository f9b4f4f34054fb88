"""HTTP of the analytics module: the dashboard, time series, the metric catalogue and the
organization's time zone. Viewers and up read; admins change the time zone."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from api.auth import admin_auth, request_actor
from apps.analytics import selectors, services
from apps.analytics.metrics import METRICS
from apps.analytics.schemas import (
    ANALYTICS_ERRORS,
    DashboardOut,
    MetricList,
    SettingOut,
    SettingPatch,
    TimeseriesOut,
    TimeseriesQuery,
    WindowQuery,
    dashboard_out,
)
from apps.audit.services import audit_access

router = Router()

# Query parameters that are not a metric's dimension.
_TIMESERIES_PARAMS = frozenset({"metric", "interval", "from", "to"})


@router.get("metrics", summary="The metric catalogue", response={200: MetricList, **ANALYTICS_ERRORS})
def metric_list(request: HttpRequest) -> dict[str, Any]:
    """Every metric `timeseries` can chart: its unit and the dimensions it may be filtered by."""
    return {"metrics": [vars(metric) for metric in METRICS.values()]}


@router.get(
    "dashboard", summary="The dashboard", response={200: DashboardOut, **ANALYTICS_ERRORS}, by_alias=True
)
def dashboard(request: HttpRequest, window: Query[WindowQuery]) -> dict[str, Any]:
    """The organization's key figures from `from` to `to` (local dates of its time zone; default this
    month): entities, ledger totals, cash, bookings and utilisation per resource. Recorded as one read."""
    setting = selectors.analytics_setting_get()
    start, end = selectors.window_resolve(start=window.start, end=window.end, tz=setting.zone)
    board = selectors.dashboard_get(start=start, end=end, tz=setting.zone)
    audit_access(instance=setting)
    return dashboard_out(board)


@router.get(
    "timeseries", summary="A time series", response={200: TimeseriesOut, **ANALYTICS_ERRORS}, by_alias=True
)
def timeseries(request: HttpRequest, query: Query[TimeseriesQuery]) -> dict[str, Any]:
    """One metric per bucket (`day`, `week` from Monday, `month`) of the organization's time zone, empty
    buckets as zero. Any other query parameter filters by a dimension of the metric. Recorded as one read."""
    filters = {key: str(value) for key, value in request.GET.items() if key not in _TIMESERIES_PARAMS}
    setting = selectors.analytics_setting_get()
    start, end = selectors.window_resolve(start=query.start, end=query.end, tz=setting.zone)
    points = selectors.timeseries_get(
        metric=query.metric, interval=query.interval, start=start, end=end, filters=filters, tz=setting.zone
    )
    audit_access(instance=setting)
    return {
        "metric": query.metric,
        "unit": METRICS[query.metric].unit,
        "interval": query.interval,
        "start": start,
        "end": end,
        "time_zone": setting.time_zone,
        "filters": filters,
        "points": [{"bucket_start": p.bucket_start, "value": _value(p.value)} for p in points],
    }


def _value(value: Any) -> str | int:
    return value if isinstance(value, int) else str(value)


@router.get("settings", summary="The analytics settings", response={200: SettingOut, **ANALYTICS_ERRORS})
def setting_get(request: HttpRequest) -> Any:
    """The organization's time zone (an IANA name; UTC until an admin sets it). Recorded as one read."""
    setting = selectors.analytics_setting_get()
    audit_access(instance=setting)
    return setting


@router.patch(
    "settings",
    summary="Change the analytics settings",
    response={200: SettingOut, **ANALYTICS_ERRORS},
    auth=admin_auth,
)
def setting_update(request: HttpRequest, payload: SettingPatch) -> Any:
    """Set the organization's time zone: buckets and default windows follow it. Admins only."""
    return services.analytics_setting_update(actor=request_actor(request), time_zone=payload.time_zone)
