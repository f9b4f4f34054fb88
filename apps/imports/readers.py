"""Reading an uploaded file as rows, streamed: memory stays bounded whatever the file's length.

Formats are told from the content, never from a name the caller chose: a zip (``PK``) is XLSX, a
first ``[`` a JSON array, a first ``{`` NDJSON (one object a line), anything else CSV.

* CSV: UTF-8 with or without a BOM; the delimiter (``,`` or ``;``) is decided from the header line,
  and a header holding both is refused (``import_delimiter_mixed``). A row whose cell count differs
  from the header's is a row issue. Bytes that are not UTF-8 are refused (``import_encoding_invalid``).
* JSON array: parsed a record at a time (``ijson``); NDJSON a line at a time. Each record is an object.
* XLSX: the first sheet, read by openpyxl in read-only mode (XML through ``defusedxml``). Before any
  parsing, the zip's directory is checked (``xlsx_check``): the total uncompressed size, each entry's
  compression ratio and the shared strings' size have limits, so a zip bomb is refused unread.
  **Formula cells are refused, cell by cell, with an issue** (never evaluated, and not read as their
  cached value, which a file can set to anything): paste values instead.

The reader yields ``SourceRow``s and, for what breaks a row as the file sees it, ``RowIssue``s.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import json
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from django.conf import settings

from apps.imports.base import IssueCode, RowIssue, SourceRow
from apps.imports.errors import ImportErrorCode, ImportFileInvalid

# XLSX limits, checked on the zip's directory before anything is decompressed.
XLSX_MAX_UNCOMPRESSED = 512 * 1024 * 1024
XLSX_MAX_RATIO = 200  # uncompressed / compressed, per entry larger than XLSX_RATIO_FROM
XLSX_RATIO_FROM = 1024 * 1024
XLSX_MAX_SHARED_STRINGS = 64 * 1024 * 1024  # openpyxl holds them in memory
XLSX_MAX_ENTRIES = 10_000
# The header line of a CSV file: longer than this is not a header.
HEADER_MAX_BYTES = 1024 * 1024

ReadItem = SourceRow | RowIssue


def file_format_sniff(head: bytes) -> str:
    """``csv``, ``json``, ``ndjson`` or ``xlsx`` from the file's first bytes."""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "ndjson"
    return "csv"


class Utf8Check:
    """Fed the file's chunks, raises ``import_encoding_invalid`` at the first byte that is not UTF-8."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.offset = 0

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        try:
            self.decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            raise _encoding_error(self.offset + exc.start) from None
        self.offset += len(chunk)


def _encoding_error(offset: int | None = None) -> ImportFileInvalid:
    where = f" (byte {offset})" if offset is not None else ""
    return ImportFileInvalid(
        f"The file is not UTF-8 text{where}: save it as CSV UTF-8 (or JSON) and upload it again.",
        code=ImportErrorCode.IMPORT_ENCODING_INVALID,
    )


def _plain(value: Any) -> Any:
    """A cell as an importer sees it: text, a number, a boolean, or None when empty."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return value


def csv_delimiter(header: str) -> str:
    """``,`` or ``;``: the one the header line uses (outside quotes); both is refused."""
    outside = header.split('"')[::2]  # the parts outside double quotes
    commas = sum(part.count(",") for part in outside)
    semicolons = sum(part.count(";") for part in outside)
    if commas and semicolons:
        raise ImportFileInvalid(
            "The header line mixes ',' and ';' as delimiters: use one of them.",
            code=ImportErrorCode.IMPORT_DELIMITER_MIXED,
        )
    return ";" if semicolons else ","


def _header_clean(names: list[Any]) -> list[str]:
    header = [str(name).strip() if name is not None else "" for name in names]
    while header and not header[-1]:
        header.pop()
    return header


def csv_header(handle: IO[bytes]) -> tuple[list[str], str]:
    """The column names and delimiter of a CSV file (from its first line)."""
    line = handle.readline(HEADER_MAX_BYTES)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _encoding_error() from None
    delimiter = csv_delimiter(text)
    return _header_clean(next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), [])), delimiter


def csv_rows(handle: IO[bytes]) -> Iterator[ReadItem]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="strict", newline="")
    try:
        first = text.readline()
        delimiter = csv_delimiter(first)
        header = _header_clean(next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter), []))
        reader = csv.reader(text, delimiter=delimiter, strict=False)
        for number, cells in enumerate(reader, start=2):  # the header is row 1, as a spreadsheet shows it
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
                yield RowIssue(
                    number,
                    "",
                    IssueCode.INVALID,
                    f"The row has {len(cells)} cells, the header {len(header)}: check the delimiter "
                    f"({delimiter!r}) and the quotes.",
                )
                continue
            yield SourceRow(
                number, {name: _plain(cell) for name, cell in zip(header, cells, strict=False) if name}
            )
    except UnicodeDecodeError:
        raise _encoding_error() from None
    except csv.Error as exc:
        raise ImportFileInvalid(f"The CSV file is malformed: {exc}.") from None
    finally:
        text.detach()


def _record(number: int, value: Any) -> ReadItem:
    if not isinstance(value, dict):
        return RowIssue(number, "", IssueCode.INVALID, "Each record must be a JSON object.")
    return SourceRow(number, {str(key): _plain(cell) for key, cell in value.items()})


def json_rows(handle: IO[bytes]) -> Iterator[ReadItem]:
    import ijson

    try:
        for number, value in enumerate(ijson.items(handle, "item", use_float=True), start=1):
            yield _record(number, value)
    except ijson.JSONError as exc:
        raise ImportFileInvalid(f"The JSON document is malformed: {exc}.") from None
    except UnicodeDecodeError:
        raise _encoding_error() from None


def ndjson_rows(handle: IO[bytes]) -> Iterator[ReadItem]:
    for number, line in enumerate(handle, start=1):
        try:
            text = line.decode("utf-8-sig" if number == 1 else "utf-8").strip()
        except UnicodeDecodeError:
            raise _encoding_error() from None
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            yield RowIssue(number, "", IssueCode.INVALID, "The line is not a JSON object.")
            continue
        yield _record(number, value)


def xlsx_check(handle: IO[bytes]) -> None:
    """Refuse, from the zip's directory alone, a workbook whose content would blow up when read."""
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError):
        raise ImportFileInvalid("The file is not a readable XLSX workbook.") from None
    entries = archive.infolist()
    total = sum(entry.file_size for entry in entries)
    ratios = (
        entry.file_size / max(entry.compress_size, 1)
        for entry in entries
        if entry.file_size > XLSX_RATIO_FROM
    )
    shared = sum(entry.file_size for entry in entries if entry.filename.lower().endswith("sharedstrings.xml"))
    if (
        len(entries) > XLSX_MAX_ENTRIES
        or total > XLSX_MAX_UNCOMPRESSED
        or shared > XLSX_MAX_SHARED_STRINGS
        or any(ratio > XLSX_MAX_RATIO for ratio in ratios)
    ):
        raise ImportFileInvalid(
            "The workbook expands too much when unpacked (a zip bomb, or far past the import limits): "
            "it was not read.",
            code=ImportErrorCode.IMPORT_XLSX_REFUSED,
        )
    handle.seek(0)


def _xlsx_sheet(handle: IO[bytes]) -> Any:
    import openpyxl

    xlsx_check(handle)
    try:
        workbook = openpyxl.load_workbook(handle, read_only=True, data_only=False, keep_links=False)
        return workbook, workbook.worksheets[0]
    except Exception:  # openpyxl raises many kinds on a broken workbook
        raise ImportFileInvalid("The file is not a readable XLSX workbook.") from None


def xlsx_header(handle: IO[bytes]) -> list[str]:
    workbook, sheet = _xlsx_sheet(handle)
    try:
        first = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), ())
        return _header_clean(list(first))
    finally:
        workbook.close()


def xlsx_rows(handle: IO[bytes]) -> Iterator[ReadItem]:
    workbook, sheet = _xlsx_sheet(handle)
    try:
        rows = sheet.iter_rows()
        header = _header_clean([cell.value for cell in next(rows, ())])
        for number, cells in enumerate(rows, start=2):
            values: dict[str, Any] = {}
            formula = False
            for name, cell in zip(header, cells, strict=False):
                if cell.value is None or not name:
                    continue
                if cell.data_type == "f":
                    formula = True
                    yield RowIssue(
                        number, name, IssueCode.INVALID, "Formula cells are not imported: paste their value."
                    )
                    continue
                values[name] = _plain(cell.value)
            if formula or not any(value is not None for value in values.values()):
                continue
            yield SourceRow(number, values)
    except ImportFileInvalid:
        raise
    except Exception:
        raise ImportFileInvalid("The XLSX workbook is malformed.") from None
    finally:
        workbook.close()


def rows_read(handle: IO[bytes], *, file_format: str) -> Iterator[ReadItem]:
    """Every record of the file, with the issues the file itself causes, stopping with
    ``import_too_many_rows`` past ``HUB_IMPORT_MAX_ROWS``."""
    readers = {"csv": csv_rows, "json": json_rows, "ndjson": ndjson_rows, "xlsx": xlsx_rows}
    count = 0
    for item in readers[file_format](handle):
        if isinstance(item, SourceRow):
            count += 1
            if count > settings.HUB_IMPORT_MAX_ROWS:
                raise ImportFileInvalid(
                    f"The file has more than {settings.HUB_IMPORT_MAX_ROWS} rows: split it.",
                    code=ImportErrorCode.IMPORT_TOO_MANY_ROWS,
                )
        yield item


def header_read(handle: IO[bytes], *, file_format: str) -> list[str] | None:
    """The column names of a CSV or XLSX file (None for JSON: each record names its own)."""
    try:
        if file_format == "csv":
            return csv_header(handle)[0]
        if file_format == "xlsx":
            return xlsx_header(handle)
        return None
    finally:
        handle.seek(0)
