"""A run's table as the files a caller downloads: CSV (UTF-8, RFC 4180), JSON and XLSX.

Rendered from the run's rows on each download (they are small: bounded buckets times bounded groups),
so no file is stored anywhere but as the run's own row.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
import re
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference

# A spreadsheet evaluates a cell starting with one of these as a formula (CSV injection, OWASP): such a
# cell is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number ("-12.50": a negative amount) is data, not a formula: it stays a number.
_PLAIN_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DATA_SHEET = "Data"


def columns_of(definition: dict[str, Any]) -> list[str]:
    """The table's columns: the bucket, the grouping dimension if any, then each metric."""
    dimension = definition["grouping"].get("dimension")
    return ["bucket", *([dimension] if dimension else []), *definition["metrics"]]


def cell_neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, made plain text ("'=1+1")."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.match(value):
        return f"'{value}"
    return value


def csv_render(*, definition: dict[str, Any], rows: list[dict[str, Any]]) -> bytes:
    """RFC 4180: comma-separated, CRLF line ends, quotes where needed (the ``csv`` module's default)."""
    columns = columns_of(definition)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell_neutralise(column) for column in columns])
    for row in rows:
        writer.writerow([cell_neutralise(row.get(column, "")) for column in columns])
    return out.getvalue().encode("utf-8")


def json_render(*, run_id: str, definition: dict[str, Any], rows: list[dict[str, Any]]) -> bytes:
    document = {"run_id": run_id, "columns": columns_of(definition), "definition": definition, "rows": rows}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _xlsx_value(value: Any) -> Any:
    """Numbers as numbers (a decimal's text back to a number), dates as dates, text neutralised."""
    if isinstance(value, str):
        return decimal.Decimal(value) if _PLAIN_NUMBER.match(value) else _date(value)
    return value


def _date(value: str) -> Any:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return cell_neutralise(value)


def xlsx_render(*, title: str, definition: dict[str, Any], rows: list[dict[str, Any]]) -> bytes:
    """A workbook: the table on sheet ``Data`` and a native chart (line over time; bars when grouped
    by a dimension) of the main series, the first metric, anchored beside the table."""
    columns = columns_of(definition)
    book = Workbook()
    sheet = book.create_sheet(DATA_SHEET, 0)
    book.remove(book.worksheets[1])  # the empty sheet a new workbook starts with
    sheet.append([cell_neutralise(column) for column in columns])
    for row in rows:
        sheet.append([_xlsx_value(row.get(column, "")) for column in columns])
    main = columns.index(definition["metrics"][0]) + 1
    grouped = bool(definition["grouping"].get("dimension"))
    chart: LineChart | BarChart = BarChart() if grouped else LineChart()
    chart.title = cell_neutralise(title)[:200]
    chart.y_axis.title = definition["metrics"][0]
    chart.x_axis.title = "bucket"
    last = max(len(rows) + 1, 2)
    chart.add_data(Reference(sheet, min_col=main, min_row=1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=last))
    sheet.add_chart(chart, f"{chr(ord('A') + len(columns) + 1)}2")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
