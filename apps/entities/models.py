"""Core business entities (customers, suppliers, contacts, assets, ...) and their relationships.

These tables live in each organization's schema, behind row-level security (``tenants.rls``).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q

from tenants.fields import BlindIndexField, EncryptedTextField


class EntityKind(models.Model):
    """A kind of entity. Four are built in; an organization's admins may add their own."""

    key = models.SlugField(max_length=40, primary_key=True)
    label = models.CharField(max_length=100)
    builtin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["key"]

    def __str__(self) -> str:
        return self.key


class Entity(models.Model):
    """A business entity. Soft-deleted (``deleted_at``) rather than removed, so history keeps its target.

    ``PERSONAL_FIELDS``: what may identify a person, with the value erasure leaves in its place
    (``apps.privacy``); the audit trail never records these values (``apps.audit.services``).
    """

    PERSONAL_FIELDS: ClassVar[dict[str, Any]] = {
        "name": "[erased]",
        "reference": None,
        "email": "",
        "phone": "",
        "attributes": {},
        "tags": [],
    }

    class Status(models.TextChoices):
        ACTIVE = "active"
        INACTIVE = "inactive"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the (kind, name, id) and (kind, status) indexes lead with it.
    kind = models.ForeignKey(
        EntityKind, on_delete=models.PROTECT, db_column="kind", related_name="+", db_index=False
    )
    name = models.CharField(max_length=200)
    # NULL, not "", means "no reference": the per-kind uniqueness constraint ignores NULLs.
    reference = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    # Personal data: encrypted at rest, found by exact match through the blind indexes below.
    email = EncryptedTextField(blank=True, default="")
    phone = EncryptedTextField(blank=True, default="")
    # Indexed in Meta: a btree for equality only (a field's own index would add a pattern-ops twin for
    # LIKE, which a hash never meets: one more index for every write to maintain).
    email_index = BlindIndexField(source="email", db_index=False)
    phone_index = BlindIndexField(source="phone", db_index=False)
    attributes = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    # Restricted: visible only to admins and to users granted a permission on it (guardian's
    # per-object grants, ``apps.entities.selectors``); otherwise the roles alone decide.
    restricted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_constraint=False,
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # Set when the personal fields were erased (data subject request): the row stays, anonymised.
    erased_at = models.DateTimeField(null=True, blank=True)
    # The bulk import that created it (``apps.imports``): an admin lists and undoes an import by it.
    source_import = models.UUIDField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "entities"
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["kind", "reference"],
                condition=Q(deleted_at__isnull=True, reference__isnull=False),
                name="entity_reference_unique_per_kind",
            ),
            models.CheckConstraint(condition=~Q(name=""), name="entity_name_not_blank"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "inactive"]), name="entity_status_valid"
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            # One per whitelisted ordering (selectors.ORDERINGS), the id as tie-breaker, all columns in
            # one direction so an index scan serves both the ascending and the descending order and a
            # keyset cursor starts from an index position (issue 12: lists must not cost O(tenant)).
            models.Index(fields=["created_at", "id"], name="entity_created_id_idx"),
            models.Index(fields=["updated_at", "id"], name="entity_updated_id_idx"),
            models.Index(fields=["reference", "id"], name="entity_reference_id_idx"),
            models.Index(fields=["kind", "name", "id"], name="entity_kind_name_id_idx"),
            models.Index(fields=["name", "id"], name="entity_name_idx"),
            models.Index(fields=["kind", "status"], name="entity_kind_status_idx"),
            GinIndex(fields=["tags"], name="entity_tags_gin"),
            models.Index(fields=["source_import"], name="entity_source_import_idx"),
            models.Index(fields=["email_index"], name="entity_email_index_idx"),
            models.Index(fields=["phone_index"], name="entity_phone_index_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind_id}:{self.name}"


class EntityRelation(models.Model):
    """A directed, typed link between two entities of the same organization."""

    # Shown in clear in the audit trail (``apps.audit.redaction``): a kind is a code, not free text.
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("kind",)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    source = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="relations_out")
    target = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="relations_in")
    kind = models.SlugField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="entity_relation_unique"),
            models.CheckConstraint(condition=~Q(source=F("target")), name="entity_relation_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} -{self.kind}-> {self.target_id}"
