"""The files a run is downloaded as, from a table: every formula start neutralised in CSV and XLSX
(OWASP's list: = + - @ tab CR), the CSV RFC 4180 and UTF-8, numbers kept numbers."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
import pytest
from openpyxl.chart import LineChart

from apps.reports.files import cell_neutralise, csv_render, json_render, xlsx_render

DEFINITION = {"metrics": ["ledger.income"], "grouping": {"interval": "day", "dimension": "account_id"}}
FORMULAS = ["=1+1", "+1+cmd", "-1+2", "@SUM(A1)", "\tcmd", "\rcmd", '=HYPERLINK("http://x","y")']


@pytest.mark.parametrize("value", FORMULAS)
def test_every_formula_start_is_neutralised(value: str) -> None:
    assert cell_neutralise(value) == f"'{value}"


@pytest.mark.parametrize("value", ['Zürich, "quoted"', "2026-01-01", "", "a=b", "-12.50", "-3"])
def test_plain_text_is_left_alone(value: str) -> None:
    assert cell_neutralise(value) == value


def test_csv_parses_back_neutralised_with_crlf_and_utf8() -> None:
    rows = [
        {"bucket": "2026-01-01", "account_id": value, "ledger.income": "-12.50"}
        for value in [*FORMULAS, 'Zürich, "q"']
    ]
    content = csv_render(definition=DEFINITION, rows=rows)
    table = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
    assert table[0] == ["bucket", "account_id", "ledger.income"]
    assert [row[1] for row in table[1:]] == [f"'{value}" for value in FORMULAS] + ['Zürich, "q"']
    assert all(row[2] == "-12.50" for row in table[1:])  # a negative amount is a number, not a formula
    assert content.endswith(b"\r\n")


def test_json_keeps_the_rows_as_they_are() -> None:
    rows = [{"bucket": "2026-01-01", "account_id": "=1+1", "ledger.income": "10.00"}]
    document = json.loads(json_render(run_id="r", definition=DEFINITION, rows=rows))
    assert (document["columns"], document["rows"]) == (["bucket", "account_id", "ledger.income"], rows)


def test_xlsx_holds_numbers_dates_texts_and_a_line_chart_when_not_grouped() -> None:
    definition = {
        "metrics": ["ledger.income", "ledger.expense"],
        "grouping": {"interval": "day", "dimension": None},
    }
    rows: list[dict[str, Any]] = [
        {"bucket": "2026-01-01", "ledger.income": "-12.50", "ledger.expense": 3},
        {"bucket": "2026-01-02", "ledger.income": "7", "ledger.expense": "=2+2"},
    ]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_render(title="=evil", definition=definition, rows=rows)))
    sheet: Any = book["Data"]
    values: list[Any] = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("bucket", "ledger.income", "ledger.expense")
    assert [float(values[1][1]), values[1][2], float(values[2][1]), values[2][2]] == [-12.5, 3, 7.0, "'=2+2"]
    assert values[1][0].date().isoformat() == "2026-01-01"
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    (chart,) = sheet._charts
    assert isinstance(chart, LineChart)
