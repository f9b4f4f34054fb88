"""Files of an export, written a row at a time to a local temporary file (bounded memory whatever the
number of rows): CSV (UTF-8, RFC 4180, header row), NDJSON (one JSON object a line) and XLSX (one
sheet, header row; openpyxl's write-only mode streams rows to disk).

Text cells a spreadsheet would run as formulas are neutralised in CSV and XLSX with the reports
module's rule (``apps.reports.files.cell_neutralise``); NDJSON is data for programs, written as is.
"""

from __future__ import annotations

import csv
import io
import json
from typing import IO, Any, Protocol

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from apps.reports.files import CONTENT_TYPES as REPORT_CONTENT_TYPES
from apps.reports.files import cell_neutralise

CONTENT_TYPES = {
    "csv": REPORT_CONTENT_TYPES["csv"],
    "ndjson": "application/x-ndjson",
    "xlsx": REPORT_CONTENT_TYPES["xlsx"],
}
SUFFIXES = {"csv": ".csv", "ndjson": ".ndjson", "xlsx": ".xlsx"}
SHEET = "Data"
# The longest text a spreadsheet cell holds.
XLSX_CELL_MAX = 32_767


class RowWriter(Protocol):
    def row(self, values: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _text(value: Any) -> Any:
    """A cell's plain value: lists and objects as their JSON text, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


class CsvWriter:
    def __init__(self, handle: IO[bytes], columns: list[str]) -> None:
        self._text = io.TextIOWrapper(handle, encoding="utf-8", newline="", write_through=False)
        self._writer = csv.writer(self._text, lineterminator="\r\n")
        self._columns = columns
        self._writer.writerow([cell_neutralise(column) for column in columns])

    def row(self, values: dict[str, Any]) -> None:
        cells = (_text(values.get(column)) for column in self._columns)
        self._writer.writerow(["" if cell is None else cell_neutralise(cell) for cell in cells])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()  # leave the binary file open for the caller


class NdjsonWriter:
    def __init__(self, handle: IO[bytes], columns: list[str]) -> None:
        self._handle = handle
        self._columns = columns

    def row(self, values: dict[str, Any]) -> None:
        line = json.dumps({column: values.get(column) for column in self._columns}, ensure_ascii=False)
        self._handle.write(line.encode("utf-8") + b"\n")

    def close(self) -> None:
        self._handle.flush()


def _xlsx_cell(value: Any) -> Any:
    value = _text(value)
    if isinstance(value, str):
        return cell_neutralise(ILLEGAL_CHARACTERS_RE.sub("", value)[:XLSX_CELL_MAX])
    return value


class XlsxWriter:
    def __init__(self, handle: IO[bytes], columns: list[str]) -> None:
        self._handle = handle
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet(SHEET)
        self._columns = columns
        self._sheet.append([cell_neutralise(column) for column in columns])

    def row(self, values: dict[str, Any]) -> None:
        self._sheet.append([_xlsx_cell(values.get(column)) for column in self._columns])

    def close(self) -> None:
        self._book.save(self._handle)
        self._handle.flush()


WRITERS: dict[str, type[CsvWriter] | type[NdjsonWriter] | type[XlsxWriter]] = {
    "csv": CsvWriter,
    "ndjson": NdjsonWriter,
    "xlsx": XlsxWriter,
}


def writer_open(file_format: str, handle: IO[bytes], columns: list[str]) -> RowWriter:
    """A writer of ``file_format`` onto the binary ``handle``, its header written."""
    return WRITERS[file_format](handle, columns)
