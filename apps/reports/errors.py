"""The reports module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict, Invalid, NotFound


class ReportErrorCode(StrEnum):
    """Every code the reports module answers (besides those of `HubErrorCode`)."""

    REPORT_NOT_FOUND = "report_not_found"
    RUN_NOT_FOUND = "run_not_found"
    RUN_NOT_READY = "run_not_ready"
    METRIC_UNKNOWN = "metric_unknown"
    DIMENSION_UNKNOWN = "dimension_unknown"
    FILTER_INVALID = "filter_invalid"
    FILTER_REQUIRED = "filter_required"
    TOO_MANY_POINTS = "too_many_points"
    WINDOW_TOO_LONG = "window_too_long"
    INTERVAL_UNKNOWN = "interval_unknown"
    PERIOD_INVALID = "period_invalid"
    REPORT_INVALID = "report_invalid"
    FORMAT_UNKNOWN = "format_unknown"
    RUN_ERROR = "run_error"  # a run's failure other than a refusal of the analytics module (retried)


class ReportNotFound(NotFound):
    code = ReportErrorCode.REPORT_NOT_FOUND
    default_detail = "No report has this id."


class RunNotFound(NotFound):
    code = ReportErrorCode.RUN_NOT_FOUND
    default_detail = "No run of this report has this id."


class RunNotReady(Conflict):
    code = ReportErrorCode.RUN_NOT_READY
    default_detail = "This run has not succeeded: there is no file to download (see its status)."


class ReportInvalid(Invalid):
    """A report definition broken by one field; ``code`` names the rule, ``field`` its path."""

    code = ReportErrorCode.REPORT_INVALID
