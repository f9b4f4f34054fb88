"""Bulk imports and their validation reports.

These tables live in each organization's schema, behind row-level security (``tenants.rls``). The
uploaded file itself is kept in the Hub's file store (``hub.files``, area ``imports``), under a name
built from the organization's and the import's ids only.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q


class ImportStatus(models.TextChoices):
    VALIDATING = "validating"  # the dry run's job is reading the file
    VALIDATED = "validated"  # the report is ready; commit or cancel
    COMMITTING = "committing"  # the commit's job is writing
    COMMITTED = "committed"
    FAILED = "failed"  # the file could not be read, or the commit refused (``error_code``)
    CANCELLED = "cancelled"
    UNDONE = "undone"


class ImportMode(models.TextChoices):
    ALL = "all"  # any issue: nothing written
    VALID_ROWS = "valid_rows"  # the rows without an issue are written


class ImportFormat(models.TextChoices):
    CSV = "csv"
    JSON = "json"
    NDJSON = "ndjson"
    XLSX = "xlsx"


class Import(models.Model):
    """One uploaded file of one import type: its dry run, then its commit (or cancel), then maybe its
    undo. The same content (``content_hash``) of the same type is one import per organization, unless
    the earlier one was cancelled or failed."""

    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("type", "format", "status", "mode", "error_code")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=40)
    format = models.CharField(max_length=8, choices=ImportFormat.choices)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.VALIDATING)
    mode = models.CharField(max_length=16, choices=ImportMode.choices, default=ImportMode.ALL)
    content_hash = models.CharField(max_length=64)  # SHA-256 of the file's bytes, hex
    file_name = models.CharField(max_length=200)  # in the file store (``hub.files``); "" once removed
    size = models.BigIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    rows_valid = models.PositiveIntegerField(default=0)
    rows_invalid = models.PositiveIntegerField(default=0)
    rows_created = models.PositiveIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_detail = models.CharField(max_length=500, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, null=True, on_delete=models.PROTECT, related_name="+"
    )
    # Whether the uploader was an admin: what the import may see (restricted entities as relation targets).
    created_by_admin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["created_at", "id"], name="imports_import_created_idx"),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            # The same file of the same type is imported once, unless that import was cancelled or failed.
            models.UniqueConstraint(
                fields=["type", "content_hash"],
                condition=~Q(status__in=["cancelled", "failed"]),
                name="imports_import_content_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[status.value for status in ImportStatus]),
                name="imports_import_status_valid",
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="imports_import_progress_max"),
        ]

    def __str__(self) -> str:
        return f"import {self.id}"


class ImportIssue(models.Model):
    """One line of an import's validation report: a row (as ``apps.imports.base.SourceRow`` numbers
    it), a column ("" for the row as a whole), a code (``apps.imports.base.IssueCode``) and a message."""

    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("column", "code")

    id = models.BigAutoField(primary_key=True)
    import_record = models.ForeignKey(Import, on_delete=models.CASCADE, related_name="issues")
    row = models.PositiveIntegerField()
    column = models.CharField(max_length=100, blank=True, default="")
    code = models.CharField(max_length=40)
    message = models.CharField(max_length=500)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["import_record", "row", "id"], name="imports_issue_row_idx"),
        ]

    def __str__(self) -> str:
        return f"row {self.row}: {self.code}"
