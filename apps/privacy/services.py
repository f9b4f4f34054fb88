"""Writes of the privacy module: erasure of a data subject, retention policies and their purge."""

from __future__ import annotations

import copy
import datetime
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError, Q, RestrictedError
from django.utils import timezone
from guardian.models import GroupObjectPermission, UserObjectPermission

from apps.audit.models import AuditEntry
from apps.audit.services import audit_access, audit_change, audit_snapshot
from apps.entities.models import Entity
from apps.entities.selectors import EntityViewer
from apps.notifications.events import event_emit
from apps.privacy.errors import RetentionPolicyNotFound
from apps.privacy.models import RetentionPolicy
from apps.privacy.selectors import retention_model_get, retention_models, subject_get, subject_references
from hub.errors import FOREIGN_KEY_VIOLATION, UNIQUE_VIOLATION, violated_sqlstate
from tenants.fields import with_blind_indexes
from tenants.models import User

PURGE_BATCH = 500  # rows per transaction of a retention purge


@dataclass(frozen=True)
class Erasure:
    entity: Entity
    erased_now: bool  # False: it had been erased before (the call is idempotent)
    related_rows: int


def _anonymise(instance: models.Model, *, extra_fields: dict[str, Any], actor: User) -> None:
    """Replace the instance's ``PERSONAL_FIELDS`` by their erased values; save and audit the change."""
    before = audit_snapshot(instance)
    personal: dict[str, Any] = type(instance).PERSONAL_FIELDS  # type: ignore[attr-defined]
    for name, value in {**personal, **extra_fields}.items():
        setattr(instance, name, copy.deepcopy(value))
    fields = with_blind_indexes(type(instance), [*personal, *extra_fields])
    instance.save(update_fields=fields)
    audit_change(
        action=AuditEntry.Action.UPDATE, instance=instance, before=before, actor=actor, fields=fields
    )


@transaction.atomic
def subject_erase(*, actor: User, entity_id: uuid.UUID, viewer: EntityViewer | None = None) -> Erasure:
    """Anonymise the entity's personal fields, and those of every row of any module referring to it.

    The rows stay (what accounting or the audit trail must keep), without personal data; the audit
    trail never held those values (``apps.audit.services``). Irreversible; erasing again changes
    nothing and is recorded as a read.
    """
    entity = subject_get(entity_id=entity_id, viewer=viewer, lock=True)
    if entity.erased_at is not None:
        audit_access(instance=entity, actor=actor)
        return Erasure(entity=entity, erased_now=False, related_rows=0)
    now = timezone.now()
    _anonymise(entity, extra_fields={"erased_at": now, "updated_by": actor, "updated_at": now}, actor=actor)
    related_rows = 0
    for model, field_name in subject_references():
        if getattr(model, "PERSONAL_FIELDS", None):
            rows = list(model._default_manager.select_for_update().filter(**{field_name: entity}))
            _anonymise_rows(model, rows, actor=actor)
            related_rows += len(rows)
    return Erasure(entity=entity, erased_now=True, related_rows=related_rows)


def _anonymise_rows(model: type[models.Model], rows: list[models.Model], *, actor: User) -> None:
    """``_anonymise`` for the rows of one model linked to a subject: one ``UPDATE`` for all of them,
    however many (each audited as its own change), instead of a statement per row."""
    if not rows:
        return
    personal: dict[str, Any] = model.PERSONAL_FIELDS  # type: ignore[attr-defined]
    concrete = {model_field.name: model_field for model_field in model._meta.concrete_fields}
    fields = [concrete[name] for name in with_blind_indexes(model, list(personal))]
    befores = [audit_snapshot(row) for row in rows]
    for row in rows:
        for name, value in personal.items():
            setattr(row, name, copy.deepcopy(value))
        for model_field in fields:  # what save() does per field: blind indexes computed, auto_now set
            setattr(row, model_field.attname, model_field.pre_save(row, False))
    model._default_manager.bulk_update(rows, [model_field.name for model_field in fields])
    names = [model_field.name for model_field in fields]
    for row, before in zip(rows, befores, strict=True):
        audit_change(action=AuditEntry.Action.UPDATE, instance=row, before=before, actor=actor, fields=names)


# --- Retention ---------------------------------------------------------------------------------------


@transaction.atomic
def retention_policy_set(*, actor: User, model: str, days: int) -> RetentionPolicy:
    retention_model_get(model)
    policy = RetentionPolicy.objects.select_for_update().filter(model=model).first()
    if policy is None:
        try:
            with transaction.atomic():
                created = RetentionPolicy.objects.create(model=model, days=days, updated_by=actor)
        except IntegrityError as exc:
            if violated_sqlstate(exc) != UNIQUE_VIOLATION:
                raise
            # A concurrent first PUT of the same model committed its row meanwhile: update that one.
            policy = RetentionPolicy.objects.select_for_update().get(model=model)
        else:
            audit_change(action=AuditEntry.Action.CREATE, instance=created, actor=actor)
            return created
    before = audit_snapshot(policy)
    policy.days, policy.updated_by = days, actor
    policy.save(update_fields=["days", "updated_by", "updated_at"])
    audit_change(
        action=AuditEntry.Action.UPDATE, instance=policy, before=before, actor=actor, fields=["days"]
    )
    return policy


@transaction.atomic
def retention_policy_delete(*, actor: User, model: str) -> None:
    policy = RetentionPolicy.objects.select_for_update().filter(model=model).first()
    if policy is None:
        raise RetentionPolicyNotFound()
    policy_id = policy.pk
    policy.delete()
    policy.pk = policy_id
    audit_change(action=AuditEntry.Action.DELETE, instance=policy, actor=actor)


@dataclass
class PurgeResult:
    model: str
    days: int
    purged: int = 0
    kept: list[str] = field(default_factory=list)  # ids still referenced by rows that must stay
    batches: int = 0  # committed (a dry run commits none)


def _expired(model: type[models.Model], cutoff: datetime.datetime) -> Q:
    """Rows of ``model`` past ``cutoff``: soft-deleted before it, or past another moment the model names
    in ``RETENTION_EXPIRES_ON`` (a notification read before it)."""
    condition = Q()
    for name in getattr(model, "RETENTION_EXPIRES_ON", ("deleted_at",)):
        condition |= Q(**{f"{name}__lt": cutoff})
    return condition


def _referenced_or_raise(exc: Exception) -> None:
    """A delete refused because the row is still referenced (it is kept); any other error propagates.
    Told apart by SQLSTATE, never by the message."""
    if isinstance(exc, IntegrityError) and violated_sqlstate(exc) != FOREIGN_KEY_VIOLATION:
        raise exc


def _delete(model: type[models.Model], pks: list[Any]) -> None:
    """Delete the rows (cascading, audited by ``apps.audit.receivers``) and the object permissions on them."""
    model._default_manager.filter(pk__in=pks).delete()
    content_type = ContentType.objects.get_for_model(model)
    object_pks = [str(pk) for pk in pks]
    for permissions in (UserObjectPermission, GroupObjectPermission):
        permissions.objects.filter(content_type=content_type, object_pk__in=object_pks).delete()


def _purge_batch(
    model: type[models.Model], cutoff: datetime.datetime, after: Any, batch_size: int, result: PurgeResult
) -> list[Any]:
    """Purge the next ``batch_size`` expired rows after primary key ``after`` in one short transaction
    of its own; returns the primary keys it looked at, in order.

    The rows are locked as they are read, so none is restored or changed between the read and the
    delete. A row still referenced is kept (and the rest of the batch purged all the same).
    """
    with transaction.atomic(durable=True):
        expired = model._default_manager.filter(_expired(model, cutoff))
        if after is not None:
            expired = expired.filter(pk__gt=after)
        pks = list(expired.select_for_update().order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not pks:
            return pks
        kept: list[str] = []
        try:
            with transaction.atomic():
                _delete(model, pks)
        except (ProtectedError, RestrictedError, IntegrityError) as exc:
            _referenced_or_raise(exc)
            for pk in pks:  # some row is still referenced: keep that one, purge the others
                try:
                    with transaction.atomic():
                        _delete(model, [pk])
                except (ProtectedError, RestrictedError, IntegrityError) as exc:
                    _referenced_or_raise(exc)
                    kept.append(str(pk))
    result.purged, result.batches = result.purged + len(pks) - len(kept), result.batches + 1
    result.kept.extend(kept)
    return pks


def retention_apply(
    *,
    now: datetime.datetime | None = None,
    dry_run: bool = False,
    batch_size: int = PURGE_BATCH,
    on_batch: Callable[[PurgeResult], None] | None = None,
) -> list[PurgeResult]:
    """Purge, for every policy of the current organization, the soft-deleted rows older than it.

    Batched: each batch of ``batch_size`` rows is its own short transaction, committed before the next
    starts (so the organization's audit lock, taken by the entries of the deletes, is held for one
    batch only, and requests of the organization wait at most that long); ``on_batch`` is called after
    each commit. Resumable: what a run committed is gone, a batch that fails leaves nothing of it
    done, and the next run goes on with what is left; rows kept (still referenced) are tried again.
    Must not run inside a transaction (each batch has to commit).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    models_by_label = retention_models()
    results = []
    for policy in list(RetentionPolicy.objects.order_by("model")):
        model = models_by_label.get(policy.model)
        if model is None:
            continue  # the model was removed since; its policy applies to nothing
        result = PurgeResult(model=policy.model, days=policy.days)
        cutoff = now - datetime.timedelta(days=policy.days)
        if dry_run:
            result.purged = model._default_manager.filter(_expired(model, cutoff)).count()
        else:
            # Keyset walk by primary key: rows kept in one batch are not looked at again this run.
            pks = _purge_batch(model, cutoff, None, batch_size, result)
            while pks:
                if on_batch is not None:
                    on_batch(result)
                pks = (
                    _purge_batch(model, cutoff, pks[-1], batch_size, result) if len(pks) == batch_size else []
                )
            if result.purged:
                payload = {"model": result.model, "days": result.days, "purged": result.purged}
                with transaction.atomic():
                    event_emit(event_type="retention.purged", payload=payload)
        results.append(result)
    return results
