"""The organization's audit trail: django-auditlog's log entry, chained by hashes and append-only.

Lives in each organization's schema, behind row-level security like every tenant table. The
database fills ``sequence``, ``previous_hash`` and ``entry_hash`` on insert (trigger
``audit_entry_chain``, migration 0002) and refuses every UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

from typing import ClassVar

from auditlog.models import AbstractLogEntry
from django.db import models

ACTION_NAMES = {
    AbstractLogEntry.Action.CREATE: "create",
    AbstractLogEntry.Action.UPDATE: "update",
    AbstractLogEntry.Action.DELETE: "delete",
    AbstractLogEntry.Action.ACCESS: "access",
}
ACTION_CODES = {name: code for code, name in ACTION_NAMES.items()}


class AuditEntry(AbstractLogEntry):
    """One audited create, update, delete or read (``access``) of the organization's data."""

    object_type: models.CharField[str, str] = models.CharField(max_length=100, db_index=True)
    # A list read is one entry naming every id it returned (``object_pk`` is then empty).
    object_ids = models.JSONField(null=True, blank=True)
    request_id: models.CharField[str, str] = models.CharField(
        max_length=128, blank=True, default="", db_index=True
    )
    user_agent: models.CharField[str, str] = models.CharField(max_length=512, blank=True, default="")
    # Set by the database on insert: position in the organization's chain and the SHA-256 links.
    sequence: models.BigIntegerField[int, int] = models.BigIntegerField(default=0, editable=False)
    previous_hash: models.CharField[str, str] = models.CharField(
        max_length=64, blank=True, default="", editable=False
    )
    entry_hash: models.CharField[str, str] = models.CharField(
        max_length=64, blank=True, default="", editable=False
    )

    class Meta(AbstractLogEntry.Meta):
        ordering: ClassVar[list[str]] = ["-sequence"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["sequence"], name="audit_entry_sequence_unique"),
        ]

    @property
    def action_name(self) -> str:
        return ACTION_NAMES[self.action]
