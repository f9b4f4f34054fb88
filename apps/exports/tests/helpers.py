"""Helpers of the exports tests: request an export, run its job in the test's transaction, read the
file back (CSV parsed, NDJSON lines, the XLSX's sheet)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import openpyxl
from django.test import Client
from django_tenants.utils import tenant_context

from apps.exports import services
from tenants.models import Organization

URL = "/api/v1/exports/"
JSON = "application/json"


def export_post(
    client: Client, resource: str, filters: dict[str, Any] | None = None, fmt: str = "csv"
) -> Any:
    body = {"resource": resource, "filters": filters or {}, "format": fmt}
    return client.post(URL, json.dumps(body), content_type=JSON)


def export_run(tenant: Organization, export_id: str) -> None:
    """The export's job, as the worker runs it (inside the organization), in the test's transaction."""
    with tenant_context(tenant):
        services.export_write(export_id=export_id)  # type: ignore[arg-type]


def rows_read(content: bytes, fmt: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The file's header and rows (cells as the file holds them)."""
    if fmt == "csv":
        table = list(csv.reader(io.StringIO(content.decode("utf-8"), newline="")))
        return table[0], [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    if fmt == "ndjson":
        rows = [json.loads(line) for line in content.decode("utf-8").splitlines()]
        return (list(rows[0]) if rows else []), rows
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    cells: list[list[Any]] = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = [str(cell) for cell in cells[0]]
    # A write-only sheet leaves empty cells out: a row may end early.
    padded = [row + [None] * (len(header) - len(row)) for row in cells[1:]]
    return header, [dict(zip(header, row, strict=True)) for row in padded]


def download(client: Client, export_id: str) -> Any:
    response: Any = client.get(f"{URL}{export_id}/download")
    if response.status_code == 200:
        response.body = b"".join(response.streaming_content)
    return response
