"""The analytics module's errors: each one a machine code and an HTTP status (``hub.errors``).

Every refusal of a metric, filter or window is also a ``ValueError``, so code that is not HTTP (the
saved reports' runs, a command) can catch the family without knowing the Hub's errors.
"""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Invalid


class AnalyticsErrorCode(StrEnum):
    """Every code the analytics module answers (besides those of `HubErrorCode`)."""

    METRIC_UNKNOWN = "metric_unknown"
    DIMENSION_UNKNOWN = "dimension_unknown"
    FILTER_INVALID = "filter_invalid"
    FILTER_REQUIRED = "filter_required"
    INTERVAL_UNKNOWN = "interval_unknown"
    WINDOW_REVERSED = "window_reversed"
    WINDOW_TOO_LONG = "window_too_long"
    TOO_MANY_POINTS = "too_many_points"
    TIME_ZONE_UNKNOWN = "time_zone_unknown"


class AnalyticsInvalid(Invalid, ValueError):
    """A metric, filter, window or setting the module refuses; ``code`` and ``field`` name the problem."""


class MetricUnknown(AnalyticsInvalid):
    code = AnalyticsErrorCode.METRIC_UNKNOWN
    default_detail = "No metric has this name; GET /api/v1/analytics/metrics lists them."


class DimensionUnknown(AnalyticsInvalid):
    code = AnalyticsErrorCode.DIMENSION_UNKNOWN
    default_detail = "This metric has no such dimension."


class FilterInvalid(AnalyticsInvalid):
    code = AnalyticsErrorCode.FILTER_INVALID
    default_detail = "A filter's value is not valid for its dimension."


class FilterRequired(AnalyticsInvalid):
    code = AnalyticsErrorCode.FILTER_REQUIRED
    default_detail = "This metric needs a filter."


class IntervalUnknown(AnalyticsInvalid):
    code = AnalyticsErrorCode.INTERVAL_UNKNOWN
    default_detail = "interval must be day, week or month."


class WindowReversed(AnalyticsInvalid):
    code = AnalyticsErrorCode.WINDOW_REVERSED
    default_detail = "from is after to."


class WindowTooLong(AnalyticsInvalid):
    code = AnalyticsErrorCode.WINDOW_TOO_LONG
    default_detail = "The window is longer than allowed."


class TooManyPoints(AnalyticsInvalid):
    code = AnalyticsErrorCode.TOO_MANY_POINTS
    default_detail = (
        "The series would have more points than allowed; use a longer interval or a shorter window."
    )


class TimeZoneUnknown(AnalyticsInvalid):
    code = AnalyticsErrorCode.TIME_ZONE_UNKNOWN
    default_detail = "time_zone must be an IANA time zone name, such as Europe/Berlin."
