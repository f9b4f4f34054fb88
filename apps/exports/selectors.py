"""Reads of the exports module. Every lookup is inside the current organization (its schema, behind
row-level security), and a caller who is not an admin sees only the exports they asked for: another
organization's export id, or another member's, is the same 404 as one that never existed."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.audit.services import audit_access
from apps.entities.selectors import EntityViewer
from apps.exports.errors import ExportNotFound
from apps.exports.models import Export


def exports_visible_to(viewer: EntityViewer) -> QuerySet[Export]:
    """Admins see every export of the organization; anyone else their own."""
    exports = Export.objects.all()
    return exports if viewer.is_admin else exports.filter(requested_by_id=viewer.user_id)


def export_list(*, viewer: EntityViewer) -> QuerySet[Export]:
    """The exports ``viewer`` may see, newest first."""
    return exports_visible_to(viewer).order_by("-created_at", "-id")


def export_get(*, export_id: uuid.UUID, viewer: EntityViewer, audit: bool = True) -> Export:
    """One export ``viewer`` may see (audited as a read unless the caller audits its own use)."""
    export = exports_visible_to(viewer).filter(id=export_id).first()
    if export is None:
        raise ExportNotFound()
    if audit:
        audit_access(instance=export)
    return export
