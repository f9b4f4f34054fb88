"""Constants and helpers shared by the reports tests."""

from __future__ import annotations

from typing import Any

URL = "/api/v1/analytics/reports"
JSON = "application/json"

DEFINITION: dict[str, Any] = {
    "name": "New customers by month",
    "metrics": ["entities.created"],
    "filters": {"kind": "customer"},
    "grouping": {"interval": "month"},
    "period": {"relative": "this_year"},
}


def report_url(report_id: Any) -> str:
    return f"{URL}/{report_id}"


def runs_url(report_id: Any) -> str:
    return f"{URL}/{report_id}/runs"


def run_url(report_id: Any, run_id: Any) -> str:
    return f"{URL}/{report_id}/runs/{run_id}"
