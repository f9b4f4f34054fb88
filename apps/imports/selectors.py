"""Reads of the imports module: imports and their reports, each audited as a read.

Every lookup is inside the current organization (its schema, behind row-level security): another
organization's import id is the same 404 as one that never existed."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.audit.services import audit_access
from apps.imports.errors import ImportNotFound
from apps.imports.models import Import, ImportIssue


def import_list() -> QuerySet[Import]:
    """The organization's imports, newest first."""
    return Import.objects.order_by("-created_at", "-id")


def import_get(*, import_id: uuid.UUID) -> Import:
    """One import of this organization, audited as a read."""
    record = Import.objects.filter(id=import_id).first()
    if record is None:
        raise ImportNotFound()
    audit_access(instance=record)
    return record


def import_issue_list(*, import_id: uuid.UUID) -> QuerySet[ImportIssue]:
    """One import's validation report, by row (the import must exist)."""
    if not Import.objects.filter(id=import_id).exists():
        raise ImportNotFound()
    return ImportIssue.objects.filter(import_record_id=import_id).order_by("row", "id")
