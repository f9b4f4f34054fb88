"""Exports: a list's rows, as the caller could see them when asking, written to a file by a job.

The table lives in each organization's schema, behind row-level security (``tenants.rls``); the file
lives in the Hub's file store under the organization's own prefix (``hub.files``), named from ids only.
Who asked and what they could see (``viewer_is_admin``) is fixed when the export is requested: the job
reads with that viewer, not with whoever runs the worker.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q


class ExportStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


class ExportFormat(models.TextChoices):
    CSV = "csv"
    NDJSON = "ndjson"
    XLSX = "xlsx"


class Export(models.Model):
    """One export of one list (``resource``, a key of ``apps.exports.registry``) with its filters."""

    # Codes of closed sets and the validated filters' names: shown in clear in the audit trail.
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("resource", "checksum", "error_code")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    resource = models.CharField(max_length=64)
    # The list's filters as validated by its filter schema (JSON form), re-read by the job.
    filters = models.JSONField(default=dict, blank=True)
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    row_count = models.PositiveIntegerField(default=0)
    size = models.BigIntegerField(default=0)
    checksum = models.CharField(max_length=71, blank=True, default="")  # "sha256:<64 hex>"
    # The file's name in the store (``hub.files.file_name``); empty until written and once removed.
    file = models.CharField(max_length=200, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_detail = models.CharField(max_length=500, blank=True, default="")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, null=True, on_delete=models.PROTECT, related_name="+"
    )
    # The requester's sight when asking: admins see restricted entities and personal columns.
    viewer_is_admin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["-created_at", "-id"], name="exports_export_created_idx"),
            models.Index(
                fields=["expires_at"],
                name="exports_export_expiry_idx",
                condition=Q(status="succeeded"),
            ),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "expired"]),
                name="exports_export_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(format__in=["csv", "ndjson", "xlsx"]), name="exports_export_format_valid"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="exports_export_progress_max"),
        ]

    def __str__(self) -> str:
        return f"export {self.id}"
