"""Import templates: each type's documented columns, and a file with its header and one example row."""

from __future__ import annotations

import csv
import io
from typing import Any

from apps.imports.errors import ImportErrorCode, ImportTypeUnknown
from apps.imports.importers import IMPORTERS
from apps.imports.services import importer_class

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def template_list() -> list[dict[str, Any]]:
    """Every import type with its columns, by type."""
    return [
        {
            "type": importer.type,
            "label": importer.label,
            "columns": [vars(column) for column in importer.columns],
        }
        for _, importer in sorted(IMPORTERS.items())
    ]


def template_file(*, import_type: str, file_format: str) -> tuple[bytes, str]:
    """The template of ``import_type`` as CSV or XLSX: (its bytes, its content type)."""
    if file_format not in CONTENT_TYPES:
        raise ImportTypeUnknown("format must be csv or xlsx.", code=ImportErrorCode.TEMPLATE_FORMAT_UNKNOWN)
    importer = importer_class(import_type)
    header = [column.name for column in importer.columns]
    example = importer.template_row()
    row = [str(example.get(name, "")) for name in header]
    if file_format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerows([header, row])
        return out.getvalue().encode(), CONTENT_TYPES["csv"]
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(import_type[:31])
    sheet.append(header)
    # As text: an example such as "+41..." or "=..." is a value, never a formula.
    sheet.append([_text_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue(), CONTENT_TYPES["xlsx"]


def _text_cell(sheet: Any, value: str) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"
    return cell
