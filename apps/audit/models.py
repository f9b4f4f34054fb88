"""The organization's audit trail: django-auditlog's log entry, chained by hashes and append-only.

Lives in each organization's schema, behind row-level security like every tenant table. An entry is
appended unsealed (``sequence`` NULL, no hashes) in the transaction of what it records; right after
that transaction commits, ``audit_seal`` numbers it and links it into the chain (migration 0003,
``apps.audit.services.audit_seal_pending``). The database refuses every UPDATE, DELETE and TRUNCATE
but that one seal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from auditlog.models import AbstractLogEntry
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models

if TYPE_CHECKING:
    from tenants.models import User

ACTION_NAMES = {
    AbstractLogEntry.Action.CREATE: "create",
    AbstractLogEntry.Action.UPDATE: "update",
    AbstractLogEntry.Action.DELETE: "delete",
    AbstractLogEntry.Action.ACCESS: "access",
}
ACTION_CODES = {name: code for code, name in ACTION_NAMES.items()}


class AuditEntry(AbstractLogEntry):
    """One audited create, update, delete or read (``access``) of the organization's data."""

    # auditlog's fields without the indexes no query of the trail uses (it is filtered by actor,
    # object, type and time, and listed newest first by id).
    content_type: models.ForeignKey[ContentType, ContentType] = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="content type",
        db_index=False,
        db_constraint=False,
    )
    # Shared (public) tables are referenced by id without a database constraint, as by every tenant
    # table: a constraint would put triggers per organization on the public table (issue 17).
    actor: models.ForeignKey[User | None, User | None] = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        blank=True,
        null=True,
        related_name="+",
        verbose_name="actor",
        db_constraint=False,
    )
    object_id: models.BigIntegerField[int | None, int | None] = models.BigIntegerField(
        blank=True, null=True, verbose_name="object id"
    )
    action: models.PositiveSmallIntegerField[int, int] = models.PositiveSmallIntegerField(
        choices=AbstractLogEntry.Action.choices, verbose_name="action"
    )
    cid: models.CharField[str | None, str | None] = models.CharField(  # noqa: DJ001 - auditlog's column as it is
        max_length=255, blank=True, null=True, verbose_name="Correlation ID"
    )

    # Indexed in Meta, for equality only: a field's own index would add a LIKE (pattern-ops) twin that
    # no query of the trail uses, one more index for every entry written.
    object_pk: models.CharField[str, str] = models.CharField(max_length=255, verbose_name="object pk")
    object_type: models.CharField[str, str] = models.CharField(max_length=100)
    # A list read is one entry naming every id it returned (``object_pk`` is then empty).
    object_ids = models.JSONField(null=True, blank=True)
    request_id: models.CharField[str, str] = models.CharField(max_length=128, blank=True, default="")
    user_agent: models.CharField[str, str] = models.CharField(max_length=512, blank=True, default="")
    # Set by the seal after commit: position in the organization's chain (NULL until sealed) and the
    # SHA-256 links.
    sequence: models.BigIntegerField[int | None, int | None] = models.BigIntegerField(
        null=True, blank=True, editable=False
    )
    previous_hash: models.CharField[str, str] = models.CharField(
        max_length=64, blank=True, default="", editable=False
    )
    entry_hash: models.CharField[str, str] = models.CharField(
        max_length=64, blank=True, default="", editable=False
    )

    class Meta(AbstractLogEntry.Meta):
        ordering: ClassVar[list[str]] = ["-id"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["sequence"], name="audit_entry_sequence_unique"),
        ]
        # What the seal and its "anything left?" check look for: small, it holds only unsealed rows.
        indexes: ClassVar[list[models.Index]] = [
            models.Index(
                fields=["id"], condition=models.Q(sequence__isnull=True), name="audit_entry_unsealed"
            ),
            models.Index(fields=["object_pk"], name="audit_entry_object_pk_idx"),
            models.Index(fields=["object_type"], name="audit_entry_object_type_idx"),
        ]

    @property
    def action_name(self) -> str:
        return ACTION_NAMES[self.action]
