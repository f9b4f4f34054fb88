"""Reads of the entities module: a constant number of queries whatever the list length."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import CharField, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Cast
from guardian.models import UserObjectPermission

from apps.audit.services import audit_access
from apps.entities import validators
from apps.entities.errors import EntityNotFound, EntityPermissionRequired
from apps.entities.models import Entity, EntityKind, EntityRelation
from apps.members.selectors import organization_users
from tenants.fields import blind_index_filter

# The object permissions an admin may grant on an entity, by their API name: guardian codenames
# (Django's default permissions of the model).
PERMISSIONS = {"view": "view_entity", "change": "change_entity", "delete": "delete_entity"}


@dataclass(frozen=True)
class EntityViewer:
    """Who is asking. Restricted entities are seen by admins and by users holding any grant on them."""

    user_id: uuid.UUID
    is_admin: bool = False


def _grants(
    *, user_id: uuid.UUID, codenames: list[str], pk_ref: str = "pk"
) -> QuerySet[UserObjectPermission]:
    """The user's grants on the entity ``pk_ref`` of the outer query: used in ``Exists``, so a list is
    filtered in its own query, not one query per row."""
    return UserObjectPermission.objects.filter(
        user_id=user_id,
        content_type__app_label="entities",
        content_type__model="entity",
        permission__codename__in=codenames,
        object_pk=Cast(OuterRef(pk_ref), output_field=CharField()),
    )


def _visible(viewer: EntityViewer | None, *, prefix: str = "") -> Q:
    """Entities ``viewer`` may see (``None``: code acting for no caller, which sees everything)."""
    if viewer is None or viewer.is_admin:
        return Q()
    pk_ref = f"{prefix.removesuffix('__')}_id" if prefix else "pk"
    granted = Exists(_grants(user_id=viewer.user_id, codenames=list(PERMISSIONS.values()), pk_ref=pk_ref))
    return Q(**{f"{prefix}restricted": False}) | Q(granted)


def entities_visible_to(viewer: EntityViewer | None, *, include_deleted: bool = False) -> QuerySet[Entity]:
    """The entities ``viewer`` may see: the one visibility rule every module's reference to an entity
    goes through (a filter, a link, an export). Live ones only unless ``include_deleted``."""
    entities = Entity.objects.filter(_visible(viewer))
    return entities if include_deleted else entities.filter(deleted_at__isnull=True)


def entity_linked_get(entity_id: uuid.UUID | None, *, viewer: EntityViewer | None) -> Entity | None:
    """The entity a row of another module links to (``entity_id`` of an account, a transaction, a
    resource, a booking): a live entity ``viewer`` may see, or ``None`` for none. Missing, deleted,
    restricted without a grant or another organization's: the same 404, in the same single query."""
    if entity_id is None:
        return None
    entity = entities_visible_to(viewer).filter(id=entity_id).first()
    if entity is None:
        raise EntityNotFound("No entity has this entity_id.")
    return entity


def entities_linked_check(entity_ids: set[uuid.UUID], *, viewer: EntityViewer | None) -> None:
    """``entity_linked_get`` for many links at once (a bulk import's batch): each a live entity
    ``viewer`` may see, else the same 404, in one query."""
    if entity_ids and len(
        set(entities_visible_to(viewer).filter(id__in=entity_ids).values_list("id", flat=True))
    ) < len(entity_ids):
        raise EntityNotFound("No entity has this entity_id.")


def entity_linked_filter(entity_id: uuid.UUID, *, viewer: EntityViewer | None, field: str = "entity") -> Q:
    """Rows of another module linked through ``field`` to the entity ``entity_id``, when ``viewer`` may
    see it (deleted or not): an entity hidden from the viewer filters to nothing, exactly like an id no
    entity has, and in the same single query."""
    return Q(**{f"{field}__in": entities_visible_to(viewer, include_deleted=True).filter(id=entity_id)})


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
    viewer: EntityViewer | None,
    kind: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    q: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    ordering: str = "-created_at",
    source_import: uuid.UUID | None = None,
) -> QuerySet[Entity]:
    """Live entities ``viewer`` may see, filtered (``source_import``: those a bulk import created);
    ``ordering`` must be a key of ``ORDERINGS`` (checked by the schema). One query, whatever the number
    of restricted entities.

    ``email`` and ``phone`` are exact matches (email case-insensitively), answered by the blind
    indexes: the encrypted columns are never decrypted to search them."""
    entities = entities_visible_to(viewer)
    if kind:
        entities = entities.filter(kind_id=kind)
    if status:
        entities = entities.filter(status=status)
    if source_import:
        entities = entities.filter(source_import=source_import)
    if tag:
        entities = entities.filter(tags__contains=[tag])
    if q:
        entities = entities.filter(Q(name__icontains=q) | Q(reference__icontains=q))
    if email:
        entities = entities.filter(blind_index_filter(Entity, "email", validators.email_clean(email)))
    if phone:
        entities = entities.filter(blind_index_filter(Entity, "phone", validators.phone_clean(phone)))
    return entities.order_by(*ORDERINGS[ordering])


def entity_get(*, entity_id: uuid.UUID, viewer: EntityViewer | None, need: str = "view") -> Entity:
    """A live entity of the current organization that ``viewer`` may see; anything else (deleted,
    elsewhere, restricted without a grant) is not found.

    ``need`` (``change``, ``delete``) asks for that grant too when the entity is restricted: a viewer
    who sees it without holding it gets a 403. Audited as a read of it (``access``); a miss records
    nothing, so it reveals nothing.
    """
    entity = entities_visible_to(viewer).filter(id=entity_id).first()
    if entity is None:
        raise EntityNotFound()
    audit_access(instance=entity)
    if need != "view" and entity.restricted and viewer is not None and not viewer.is_admin:
        codename = PERMISSIONS[need]
        granted = UserObjectPermission.objects.filter(
            user_id=viewer.user_id,
            content_type__app_label="entities",
            content_type__model="entity",
            permission__codename=codename,
            object_pk=str(entity.pk),
        )
        if not granted.exists():
            raise EntityPermissionRequired(f"This restricted entity needs the {need} permission.")
    return entity


def entity_relation_list(*, entity: Entity, viewer: EntityViewer | None) -> QuerySet[EntityRelation]:
    """Relations in both directions whose other end is live and visible to ``viewer``."""
    return (
        EntityRelation.objects.filter(Q(source=entity) | Q(target=entity))
        .filter(source__deleted_at__isnull=True, target__deleted_at__isnull=True)
        .filter(_visible(viewer, prefix="source__"), _visible(viewer, prefix="target__"))
        .order_by("created_at", "id")
    )


def entity_permission_list(*, entity: Entity) -> QuerySet[UserObjectPermission]:
    """The users of this organization granted something on ``entity``, with their emails and
    permissions (one query). Only users of the organization (``organization_users``): a grant naming
    anyone else never shows another organization's user."""
    return (
        UserObjectPermission.objects.filter(
            user__in=organization_users(),
            content_type__app_label="entities",
            content_type__model="entity",
            permission__codename__in=PERMISSIONS.values(),
            object_pk=str(entity.pk),
        )
        .select_related("user", "permission")
        .order_by("user_id", "permission__codename")
    )


def entity_kind_list() -> QuerySet[EntityKind]:
    """The organization's kinds: the built-in ones and those its admins added."""
    return EntityKind.objects.order_by("key")
