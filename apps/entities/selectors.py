"""Reads of the entities module: a constant number of queries whatever the list length."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from apps.audit.services import audit_access
from apps.entities.errors import EntityNotFound
from apps.entities.models import Entity, EntityKind, EntityRelation

ORDERINGS = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
    "reference": ("reference", "id"),
    "-reference": ("-reference", "-id"),
    # kind_id, not kind: ordering by the relation would join EntityKind for its Meta.ordering.
    "kind": ("kind_id", "name", "id"),
    "-kind": ("-kind_id", "-name", "-id"),
}


def entity_list(
    *,
    kind: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    ordering: str = "-created_at",
) -> QuerySet[Entity]:
    """Live entities, filtered; ``ordering`` must be a key of ``ORDERINGS`` (checked by the schema)."""
    entities = Entity.objects.filter(deleted_at__isnull=True)
    if kind:
        entities = entities.filter(kind_id=kind)
    if status:
        entities = entities.filter(status=status)
    if tag:
        entities = entities.filter(tags__contains=[tag])
    if q:
        entities = entities.filter(Q(name__icontains=q) | Q(reference__icontains=q))
    return entities.order_by(*ORDERINGS[ordering])


def entity_get(*, entity_id: uuid.UUID) -> Entity:
    """A live entity of the current organization; anything else (deleted, elsewhere) is not found.

    Audited as a read of it (``access``); a miss records nothing, so it reveals nothing.
    """
    entity = Entity.objects.filter(id=entity_id, deleted_at__isnull=True).first()
    if entity is None:
        raise EntityNotFound()
    audit_access(instance=entity)
    return entity


def entity_relation_list(*, entity: Entity) -> QuerySet[EntityRelation]:
    """Relations in both directions whose other end is live."""
    return (
        EntityRelation.objects.filter(Q(source=entity) | Q(target=entity))
        .filter(source__deleted_at__isnull=True, target__deleted_at__isnull=True)
        .order_by("created_at", "id")
    )


def entity_kind_list() -> QuerySet[EntityKind]:
    """The organization's kinds: the built-in ones and those its admins added."""
    return EntityKind.objects.order_by("key")
