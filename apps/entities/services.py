"""Writes of the entities module. Every function is atomic and validates before it touches a row."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from guardian.models import UserObjectPermission

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_record, audit_snapshot
from apps.entities import validators
from apps.entities.errors import (
    EntityConflict,
    EntityErrorCode,
    EntityGrantNotFound,
    EntityInvalid,
    EntityKindUnknown,
    EntityNotFound,
    EntityRelationNotFound,
    EntityUserUnknown,
)
from apps.entities.models import Entity, EntityKind, EntityRelation
from apps.entities.selectors import PERMISSIONS, EntityViewer, entity_list, entity_relation_list
from apps.members.errors import MemberNotFound
from apps.members.selectors import organization_user_get
from apps.notifications.events import entities_event_emit, entity_event_emit
from hub.errors import violated_constraint
from tenants.crypto import data_keys_pinned
from tenants.db.copy import model_copy_insert, model_copy_rows
from tenants.fields import connection_organization_id, with_blind_indexes
from tenants.models import User

if TYPE_CHECKING:
    from api.etags import IfMatch

# Fields a PATCH may send as null: null clears them. The others are required and refuse null.
_NULLABLE = frozenset({"reference", "email", "phone"})
_CLEANERS: dict[str, Callable[[Any], Any]] = {
    "name": validators.name_clean,
    "reference": validators.reference_clean,
    "email": validators.email_clean,
    "phone": validators.phone_clean,
    "attributes": validators.attributes_clean,
    "tags": validators.tags_clean,
}


def _kind_get(key: str) -> EntityKind:
    key = validators.kind_key_clean(key)
    try:
        return EntityKind.objects.get(key=key)
    except EntityKind.DoesNotExist:
        raise EntityKindUnknown(f"Unknown kind {key!r}; add it first.", field="kind") from None


def _status_clean(value: str) -> str:
    if value not in Entity.Status.values:
        raise EntityInvalid(f"status must be one of {', '.join(Entity.Status.values)}.", field="status")
    return value


def _save(entity: Entity, **kwargs: Any) -> None:
    try:
        with transaction.atomic():
            entity.save(**kwargs)
    except IntegrityError as exc:
        if violated_constraint(exc) == "entity_reference_unique_per_kind":
            raise EntityConflict(
                f"An entity of kind {entity.kind_id!r} already has reference {entity.reference!r}.",
                code=EntityErrorCode.REFERENCE_TAKEN,
            ) from exc
        raise


def entity_clean(
    *,
    kind: EntityKind,
    name: str,
    reference: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    attributes: dict[str, Any] | None = None,
    status: str = Entity.Status.ACTIVE,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """The fields of a new entity of a known ``kind``, every one cleaned by the rules of ``validators``
    (``EntityInvalid`` naming the field otherwise): what ``entity_build`` builds, and what the bulk
    import checks (its dry run builds no entity)."""
    return {
        "kind": kind,
        "name": validators.name_clean(name),
        "reference": validators.reference_clean(reference),
        "email": validators.email_clean(email),
        "phone": validators.phone_clean(phone),
        "attributes": validators.attributes_clean(attributes or {}),
        "status": _status_clean(status),
        "tags": validators.tags_clean(tags or []),
    }


def entity_build(
    *,
    actor: User,
    kind: EntityKind,
    name: str,
    reference: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    attributes: dict[str, Any] | None = None,
    status: str = Entity.Status.ACTIVE,
    tags: list[str] | None = None,
) -> Entity:
    """An unsaved entity of a known ``kind``, its fields cleaned by ``entity_clean``: what
    ``entity_create`` and the bulk import's ``entity_create_many`` save."""
    fields = entity_clean(
        kind=kind,
        name=name,
        reference=reference,
        email=email,
        phone=phone,
        attributes=attributes,
        status=status,
        tags=tags,
    )
    return Entity(**fields, created_by=actor, updated_by=actor)


@transaction.atomic
def entity_create(
    *,
    actor: User,
    kind: str,
    name: str,
    reference: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    attributes: dict[str, Any] | None = None,
    status: str = Entity.Status.ACTIVE,
    tags: list[str] | None = None,
) -> Entity:
    """Create an entity; its reference must be unique among live entities of its kind."""
    entity = entity_build(
        actor=actor,
        kind=_kind_get(kind),
        name=name,
        reference=reference,
        email=email,
        phone=phone,
        attributes=attributes,
        status=status,
        tags=tags,
    )
    _save(entity, force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=entity, actor=actor)
    entity_event_emit(event_type="entity.created", entity=entity, actor_id=actor.id)
    return entity


def _entities_copy(entities: list[Entity]) -> None:
    """INSERT the entities through COPY (``tenants.db.copy``): what ``bulk_create`` writes (each field's
    ``pre_save`` and database value: timestamps, encrypted contact fields, blind indexes), without
    building and quoting one SQL text of every value (the larger part of a bulk INSERT's cost here)."""
    fields = [field for field in Entity._meta.concrete_fields if field.column != "organization_id"]
    model_copy_insert(model=Entity, fields=fields, rows=model_copy_rows(fields, entities))
    for entity in entities:
        entity._state.adding = False


@transaction.atomic
def entity_create_many(*, actor: User, entities: list[Entity], source_import: uuid.UUID) -> list[Entity]:
    """Insert entities built by ``entity_build`` in one statement, tagged with the import that made them:
    each audited as ``entity_create`` audits it (one entry per entity) and its ``entity.created`` event
    emitted (one statement for all). A reference already taken is ``EntityConflict`` and nothing is
    written; the caller checks references first, for a row-by-row report."""
    for entity in entities:
        entity.source_import = source_import
        entity.created_by = entity.updated_by = actor
    try:
        # One statement: its encrypted values under keys checked once (``tenants.crypto``).
        with transaction.atomic(), data_keys_pinned(connection_organization_id(connection)):
            _entities_copy(entities)
    except IntegrityError as exc:
        if violated_constraint(exc) == "entity_reference_unique_per_kind":
            raise EntityConflict(
                "An entity of the file has a reference already taken.", code=EntityErrorCode.REFERENCE_TAKEN
            ) from exc
        raise
    for entity in entities:
        audit_change(action=AuditEntry.Action.CREATE, instance=entity, actor=actor)
    entities_event_emit(event_type="entity.created", entities=entities, actor_id=actor.id)
    return entities


@transaction.atomic
def entity_relation_create_many(*, actor: User, relations: list[EntityRelation]) -> list[EntityRelation]:
    """Insert relations between entities the caller checked (same organization, live, visible to the
    actor, no self-link, no duplicate), in one statement, each audited as ``entity_relation_create``
    audits it."""
    for relation in relations:
        relation.created_by = actor
    EntityRelation.objects.bulk_create(relations)
    for relation in relations:
        audit_change(action=AuditEntry.Action.CREATE, instance=relation, actor=actor)
    return relations


# What may refer to an entity and keeps an import's entities from being undone (the table's label,
# the referring column): ledger accounts and transactions, scheduling resources and bookings.
_REFERRERS = (
    ("ledger.Account", "entity"),
    ("ledger.Transaction", "entity"),
    ("scheduling.Resource", "entity"),
    ("scheduling.Booking", "entity"),
)


def entity_import_referrers(*, source_import: uuid.UUID) -> list[str]:
    """What refers to the live entities ``source_import`` created, besides the import's own relations:
    the names of the kinds of rows that do (empty: the import can be undone)."""
    from django.apps import apps

    created = Entity.objects.filter(source_import=source_import, deleted_at__isnull=True).values("id")
    found = []
    for label, column in _REFERRERS:
        model = apps.get_model(label)
        if model._default_manager.filter(**{f"{column}__in": created}).exists():
            found.append(str(model._meta.verbose_name_plural))
    foreign = EntityRelation.objects.filter(target__in=created).exclude(source__source_import=source_import)
    if foreign.exists():
        found.append("relations from other entities")
    return [str(name) for name in found]


@transaction.atomic
def entity_import_undo(*, actor: User, source_import: uuid.UUID) -> int:
    """Soft-delete the live entities ``source_import`` created and remove their relations, each audited
    (one entry per entity and per relation); the caller checked ``entity_import_referrers`` first.
    Returns how many entities were deleted."""
    entities = list(
        Entity.objects.select_for_update().filter(source_import=source_import, deleted_at__isnull=True)
    )
    # Each relation removed is audited by the hard-delete receiver (``apps.audit.receivers``).
    EntityRelation.objects.filter(source__in=[entity.id for entity in entities]).delete()
    now = timezone.now()
    fields = ["deleted_at", "deleted_by", "updated_by", "updated_at"]
    for entity in entities:
        before = audit_snapshot(entity)
        entity.deleted_at, entity.deleted_by, entity.updated_by, entity.updated_at = now, actor, actor, now
        audit_change(
            action=AuditEntry.Action.DELETE, instance=entity, before=before, actor=actor, fields=fields
        )
    Entity.objects.filter(id__in=[entity.id for entity in entities]).update(
        deleted_at=now, deleted_by=actor, updated_by=actor, updated_at=now
    )
    entities_event_emit(event_type="entity.deleted", entities=entities, actor_id=actor.id)
    return len(entities)


def _live_locked(entity: Entity, if_match: IfMatch | None = None) -> Entity:
    """``entity`` re-read under its row lock, still live (deleted meanwhile: not found), and still the
    version ``if_match`` names (else 412): compared under the lock, so two writers holding the same
    ETag cannot both pass."""
    locked = Entity.objects.select_for_update().filter(pk=entity.pk, deleted_at__isnull=True).first()
    if locked is None:
        raise EntityNotFound()
    if if_match is not None:
        if_match.check(locked)
    return locked


@transaction.atomic
def entity_update(
    *, actor: User, entity: Entity, changes: dict[str, Any], if_match: IfMatch | None = None
) -> Entity:
    """Apply a partial update: only the fields in ``changes``; ``None`` clears an optional field.

    The row is re-read under its lock first: a delete or an erasure that committed since the caller
    loaded it wins (not found; personal fields of an erased entity stay erased, 409 ``subject_erased``),
    and so does any change since the version ``if_match`` names (412).
    """
    entity = _live_locked(entity, if_match)
    erased = set(changes) & set(Entity.PERSONAL_FIELDS) if entity.erased_at is not None else set()
    if erased:
        raise EntityConflict(
            f"This entity's personal data was erased; {', '.join(sorted(erased))} cannot be set again.",
            code=EntityErrorCode.SUBJECT_ERASED,
        )
    before = audit_snapshot(entity)
    for field, value in changes.items():
        if field not in _CLEANERS and field not in ("kind", "status", "restricted"):
            raise EntityInvalid(f"{field} cannot be changed.", field=field)
        if value is None and field not in _NULLABLE:
            raise EntityInvalid(f"{field} cannot be null.", field=field)
        if field == "kind":
            entity.kind = _kind_get(value)
        elif field == "status":
            entity.status = _status_clean(value)
        elif field == "restricted":
            entity.restricted = bool(value)
        else:
            setattr(entity, field, _CLEANERS[field](value))
    entity.updated_by = actor
    fields = with_blind_indexes(Entity, [*changes, "updated_by", "updated_at"])
    _save(entity, update_fields=fields)
    audit_change(action=AuditEntry.Action.UPDATE, instance=entity, before=before, actor=actor, fields=fields)
    entity_event_emit(event_type="entity.updated", entity=entity, actor_id=actor.id)
    return entity


@transaction.atomic
def entity_delete(*, actor: User, entity: Entity, if_match: IfMatch | None = None) -> Entity:
    """Soft delete: the entity disappears from reads but its row (and history) stays. Refused (412)
    when it changed since the version ``if_match`` names."""
    entity = _live_locked(entity, if_match)
    before = audit_snapshot(entity)
    entity.deleted_at = timezone.now()
    entity.deleted_by = actor
    entity.updated_by = actor
    fields = ["deleted_at", "deleted_by", "updated_by", "updated_at"]
    entity.save(update_fields=fields)
    audit_change(action=AuditEntry.Action.DELETE, instance=entity, before=before, actor=actor, fields=fields)
    entity_event_emit(event_type="entity.deleted", entity=entity, actor_id=actor.id)
    return entity


@transaction.atomic
def entity_relation_create(
    *, actor: User, source: Entity, target_id: Any, kind: str, viewer: EntityViewer | None = None
) -> EntityRelation:
    """Link ``source`` to a live entity of the same organization that ``viewer`` may see; no
    self-links, no duplicates."""
    kind = validators.kind_key_clean(kind)
    if str(target_id) == str(source.id):
        raise EntityInvalid(
            "An entity cannot be related to itself.", field="target_id", code=EntityErrorCode.SELF_RELATION
        )
    # A missing, deleted or other organization's target is the same 404 as an unknown path id.
    target = entity_list(viewer=viewer).filter(id=target_id).first()
    if target is None:
        raise EntityNotFound("No entity has this target_id.", code=EntityErrorCode.TARGET_NOT_FOUND)
    relation = EntityRelation(source=source, target=target, kind=kind, created_by=actor)
    try:
        with transaction.atomic():
            relation.save(force_insert=True)
    except IntegrityError as exc:
        if violated_constraint(exc) == "entity_relation_unique":
            raise EntityConflict(
                "This relation already exists.", code=EntityErrorCode.RELATION_EXISTS
            ) from exc
        raise
    audit_change(action=AuditEntry.Action.CREATE, instance=relation, actor=actor)
    return relation


@transaction.atomic
def entity_relation_delete(
    *, source: Entity, relation_id: uuid.UUID, viewer: EntityViewer | None = None
) -> None:
    """Remove a relation made from ``source`` whose target ``viewer`` may see (the rules of creating
    one). Any other id (unknown, from another entity, to a hidden target, of another organization) is
    the same 404. The row is locked first, so of two concurrent deletes one removes it and the other
    finds nothing; the hard-delete receiver (``apps.audit.receivers``) records it with the actor."""
    relation = (
        entity_relation_list(entity=source, viewer=viewer)
        .filter(id=relation_id, source=source)
        .select_for_update(of=("self",))
        .first()
    )
    if relation is None:
        raise EntityRelationNotFound()
    relation.delete()


@transaction.atomic
def entity_kind_create(*, key: str, label: str) -> EntityKind:
    """Extend the organization's list of kinds."""
    key = validators.kind_key_clean(key)
    label = validators.kind_label_clean(label)
    kind, created = EntityKind.objects.get_or_create(key=key, defaults={"label": label})
    if not created:
        raise EntityConflict(f"Kind {key!r} already exists.", code=EntityErrorCode.KIND_EXISTS)
    audit_change(action=AuditEntry.Action.CREATE, instance=kind)
    return kind


def _grant_parts(*, user_id: uuid.UUID, permission: str) -> tuple[User, Permission]:
    if permission not in PERMISSIONS:
        raise EntityInvalid(f"permission must be one of {', '.join(PERMISSIONS)}.", field="permission")
    try:
        # Only users of this organization: another organization's user is exactly an unknown one.
        user = organization_user_get(user_id=user_id)
    except MemberNotFound:
        raise EntityUserUnknown("No known user has this user_id.", field="user_id") from None
    codename = PERMISSIONS[permission]
    return user, Permission.objects.get(content_type__app_label="entities", codename=codename)


def _grant_audit(*, action: int, actor: User, entity: Entity, user: User, permission: str) -> None:
    granted = action == AuditEntry.Action.CREATE
    audit_record(
        action=action,
        instance=entity,
        changes={
            "permission": [None, permission] if granted else [permission, None],
            "user": [None, str(user.id)] if granted else [str(user.id), None],
        },
        actor=actor,
    )


@transaction.atomic
def entity_permission_grant(
    *, actor: User, entity: Entity, user_id: uuid.UUID, permission: str
) -> tuple[UserObjectPermission, bool]:
    """Grant ``permission`` (view, change, delete) on ``entity`` to a known (mirrored) user.

    Returns the grant and whether it is new; granting twice changes nothing and records nothing.
    """
    user, perm = _grant_parts(user_id=user_id, permission=permission)
    grant, created = UserObjectPermission.objects.get_or_create(
        user=user, permission=perm, content_type_id=perm.content_type_id, object_pk=str(entity.pk)
    )
    if created:
        _grant_audit(
            action=AuditEntry.Action.CREATE, actor=actor, entity=entity, user=user, permission=permission
        )
    return grant, created


@transaction.atomic
def entity_permission_revoke(*, actor: User, entity: Entity, user_id: uuid.UUID, permission: str) -> None:
    """Take ``permission`` on ``entity`` back from the user; a grant that does not exist is a 404."""
    user, perm = _grant_parts(user_id=user_id, permission=permission)
    deleted, _ = UserObjectPermission.objects.filter(
        user=user, permission=perm, content_type_id=perm.content_type_id, object_pk=str(entity.pk)
    ).delete()
    if not deleted:
        raise EntityGrantNotFound()
    _grant_audit(
        action=AuditEntry.Action.DELETE, actor=actor, entity=entity, user=user, permission=permission
    )
