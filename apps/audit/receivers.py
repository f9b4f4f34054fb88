"""Hard deletes of the Hub's models, wherever they come from (cascades, retention purges, the shell).

Every model of the Hub's own modules (``apps.*``) is audited on hard delete without code of its own,
except the audit trail itself and models that opt out with ``AUDIT_HARD_DELETES = False`` (rows whose
changes are recorded on their parent, or that are not business data). Connected per model rather than
for every sender, so the models left out keep Django's fast bulk delete.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Model
from django.db.models.signals import post_delete

from apps.audit.models import AuditEntry


def audited_models() -> list[type[Model]]:
    """The models whose hard deletes write an audit entry."""
    return [
        model
        for model in apps.get_models()
        if model._meta.app_config is not None
        and model._meta.app_config.name.startswith("apps.")
        and model._meta.app_label != "audit"
        and getattr(model, "AUDIT_HARD_DELETES", True)
    ]


def _hard_deleted(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    from apps.audit.services import audit_change

    audit_change(action=AuditEntry.Action.DELETE, instance=instance)


def hard_deletes_connect() -> None:
    for model in audited_models():
        label = model._meta.label_lower
        post_delete.connect(_hard_deleted, sender=model, dispatch_uid=f"audit-hard-delete-{label}")
