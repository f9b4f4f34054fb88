"""Hard deletes of audited models, wherever they come from (cascades, later retention purges)."""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.db.models.signals import post_delete

from apps.audit.models import AuditEntry

# Models whose rows are audited; a module adds its models here.
AUDITED_MODELS = ("entities.Entity", "entities.EntityRelation", "entities.EntityKind")


def _hard_deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    from apps.audit.services import audit_change

    audit_change(action=AuditEntry.Action.DELETE, instance=instance)


for _label in AUDITED_MODELS:
    post_delete.connect(_hard_deleted, sender=_label, dispatch_uid=f"audit-hard-delete-{_label}")
