"""Reads of the privacy module: what the organization holds about a data subject, retention policies."""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import serializers
from django.db import models
from django.db.models import ForeignObjectRel, QuerySet
from django.utils import timezone

from apps.audit.models import ACTION_NAMES, AuditEntry
from apps.audit.services import audit_access
from apps.entities.models import Entity
from apps.entities.selectors import EntityViewer, entities_visible_to
from apps.privacy.errors import RetentionModelUnknown, SubjectNotFound
from apps.privacy.models import RetentionPolicy
from tenants.fields import BlindIndexField


def subject_get(*, entity_id: uuid.UUID, viewer: EntityViewer | None = None, lock: bool = False) -> Entity:
    """The entity ``entity_id`` of this organization that ``viewer`` may see, deleted or not (its data
    is still held). Visibility is the entities module's one rule (admins, the only callers, see all)."""
    entities = entities_visible_to(viewer, include_deleted=True)
    entity = (entities.select_for_update() if lock else entities).filter(id=entity_id).first()
    if entity is None:
        raise SubjectNotFound()
    return entity


def subject_references() -> list[tuple[type[models.Model], str]]:
    """Every (model, foreign key name) that points at an entity, in any module: what refers to a subject."""
    # include_hidden: a foreign key declared with related_name="+" refers to the entity all the same.
    return [
        (relation.related_model, relation.field.name)
        for relation in Entity._meta.get_fields(include_hidden=True)
        if isinstance(relation, ForeignObjectRel)
        and isinstance(relation.related_model, type)
        and relation.field.concrete
    ]


def _exported_fields(model: type[models.Model]) -> list[str]:
    return [
        field.name
        for field in model._meta.concrete_fields
        if not field.primary_key and not isinstance(field, BlindIndexField)
    ]


def _records(queryset: QuerySet[Any]) -> list[dict[str, Any]]:
    """Rows as ``{"type", "id", "fields"}``: Django's serializer, sensitive fields decrypted, blind
    indexes (internal) left out."""
    rows = serializers.serialize("python", queryset, fields=_exported_fields(queryset.model))
    return [{"type": row["model"], "id": row["pk"], "fields": row["fields"]} for row in rows]


def subject_export(*, entity_id: uuid.UUID, viewer: EntityViewer | None = None) -> dict[str, Any]:
    """Everything the organization holds about the entity: the entity, every row of any module that
    refers to it, and the history of its changes from the audit trail (not the reads of it: they say
    who looked, not what is held, and grow without bound). Audited as a read of the entity. One query
    per referring model, whatever the number of rows."""
    entity = subject_get(entity_id=entity_id, viewer=viewer)
    related: list[dict[str, Any]] = []
    for model, field_name in subject_references():
        related.extend(_records(model._default_manager.filter(**{field_name: entity}).order_by("pk")))
    history = [
        {
            "sequence": entry.sequence,
            "action": ACTION_NAMES[entry.action],
            "timestamp": entry.timestamp,
            "actor_id": entry.actor_id,
            "changes": entry.changes,
        }
        for entry in AuditEntry.objects.filter(object_type="entities.entity", object_pk=str(entity.pk))
        .exclude(action=AuditEntry.Action.ACCESS)
        .order_by("id")  # writing order: ``sequence`` is NULL until sealed
    ]
    audit_access(instance=entity)
    return {
        "subject": _records(Entity.objects.filter(pk=entity.pk))[0],
        "related": related,
        "history": history,
        "exported_at": timezone.now(),
    }


def retention_models() -> dict[str, type[models.Model]]:
    """The tenant models a retention policy can cover: those soft-deleted through ``deleted_at``."""
    tenant_apps = set(settings.TENANT_APPS) - set(settings.SHARED_APPS)
    found: dict[str, type[models.Model]] = {}
    for model in apps.get_models():
        config = model._meta.app_config
        if config is not None and config.name in tenant_apps:
            names = {field.name for field in model._meta.concrete_fields}
            if "deleted_at" in names:
                found[model._meta.label_lower] = model
    return found


def retention_model_get(label: str) -> type[models.Model]:
    models_by_label = retention_models()
    if label not in models_by_label:
        raise RetentionModelUnknown(
            f"{label!r} has no soft-deleted rows to retain; one of: {', '.join(sorted(models_by_label))}.",
            field="model",
        )
    return models_by_label[label]


def retention_policy_list() -> QuerySet[RetentionPolicy]:
    return RetentionPolicy.objects.order_by("model")
