"""Writes of the audit trail: entries are buffered per request and flushed in one INSERT.

A tenant request gets an ``AuditBuffer`` (``apps.audit.middleware``); ``audit_record`` and friends
append to it, and the middleware flushes it with one bulk INSERT inside the request's transaction, so
writes and their entries commit or roll back together. Outside a request (commands, shell, tests
calling services directly) an entry is written at once, in the caller's transaction.

Entries are appended unsealed (no lock, no hashing on the commit path). Right after the transaction
that wrote them commits, ``audit_seal_pending`` numbers them and links them into the organization's
hash chain (``audit_seal``, migration 0003). Sealing is a try-lock: when another process holds the
organization's seal lock, this one stops at once, and the holder seals what it left, because the holder
looks for unsealed entries again after it releases the lock (and those entries committed before that:
their writer only tried the lock after its commit). Entries a crashed process left unsealed are sealed
by the next seal of their organization, or by ``manage.py seal_audit``.
"""

from __future__ import annotations

import copy
import datetime
import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.redaction import MASK as MASK
from apps.audit.redaction import changes_redact, object_name
from tenants.db.copy import model_copy_insert, model_copy_rows
from tenants.models import Organization, User

_USER_AGENT_MAX = 512
# Entries one ``audit_seal`` call seals at most: what one seal transaction holds the lock for.
SEAL_BATCH = 1000
# Entries from which one flush copies them (``tenants.db.copy``) instead of one INSERT of their values.
COPY_FLUSH_MIN = 500


@dataclass
class AuditBuffer:
    """The entries of one request, with what every entry of it shares."""

    request_id: str = ""
    remote_addr: str | None = None
    user_agent: str = ""
    actor: User | None = None
    entries: list[AuditEntry] = field(default_factory=list)


_buffer: ContextVar[AuditBuffer | None] = ContextVar("audit_buffer", default=None)


@contextmanager
def audit_buffering(buffer: AuditBuffer) -> Iterator[AuditBuffer]:
    """Collect the entries recorded inside the block in ``buffer`` instead of writing them."""
    token = _buffer.set(buffer)
    try:
        yield buffer
    finally:
        _buffer.reset(token)


def audit_actor_set(actor: User) -> None:
    """Name the caller of the current request as the actor of its entries (set by authentication)."""
    buffer = _buffer.get()
    if buffer is not None:
        buffer.actor = actor


def audit_flush(*, entries: list[AuditEntry]) -> None:
    """Write ``entries`` (unsealed) with one INSERT, and seal them right after the transaction commits;
    nothing when there are none. From ``COPY_FLUSH_MIN`` entries on (a bulk import's), through COPY
    (``tenants.db.copy``): the entries' ids are then not read back."""
    if not entries:
        return
    if len(entries) < COPY_FLUSH_MIN:
        AuditEntry.objects.bulk_create(entries)
    else:
        rows = model_copy_rows(_COPY_FIELDS, entries)
        model_copy_insert(model=AuditEntry, fields=_COPY_FIELDS, rows=rows)
    audit_seal_after_commit(using=DEFAULT_DB_ALIAS)


# What ``bulk_create`` writes: every column but the id (its sequence's default); the trigger
# ``audit_entry_unsealed`` then clears the seal columns, however the rows arrive.
_COPY_FIELDS = [field for field in AuditEntry._meta.concrete_fields if not field.primary_key]


class _SealAfterCommit:
    """The on-commit seal of one organization's trail: one per transaction, however many flushes.

    Registered on the connection that wrote the entries; the seal runs on the runtime connection. When
    the writer was another connection (provisioning's) and the runtime one is inside a transaction of
    its own then (a platform request's), the seal waits for that one's commit too."""

    def __init__(self, tenant: Organization, *, other_connection: bool = False) -> None:
        self.tenant = tenant
        self.other_connection = other_connection
        # Django names a robust callback that failed by its __qualname__ (a lost database connection,
        # say): without one, the error report itself raised and turned a committed request into a 500.
        self.__qualname__ = f"{type(self).__qualname__}({tenant.slug})"

    def __call__(self) -> None:
        if connection.in_atomic_block:
            if self.other_connection:
                transaction.on_commit(_SealAfterCommit(self.tenant), robust=True)
            return  # run by a test inside its own transaction: nothing committed, nothing to seal
        with tenant_context(self.tenant):
            audit_seal_pending()


def audit_seal_after_commit(*, using: str) -> None:
    """Seal the trail of the organization connection ``using`` is set to right after its transaction
    commits (once per transaction and organization; the seal itself runs on the runtime connection).
    Whoever writes entries other than through ``audit_flush`` (provisioning, on the owner connection)
    calls this too."""
    tenant = getattr(connections[using], "tenant", None)
    if not isinstance(tenant, Organization):
        return  # not an organization's schema: no trail to seal (the write itself would have failed)
    registered = (hook[1] for hook in connections[using].run_on_commit)  # (savepoints, callback, robust)
    if any(isinstance(seal, _SealAfterCommit) and seal.tenant.pk == tenant.pk for seal in registered):
        return
    # robust: the entries are committed already; a seal that fails is done by the next one.
    seal = _SealAfterCommit(tenant, other_connection=using != DEFAULT_DB_ALIAS)
    transaction.on_commit(seal, using=using, robust=True)


def audit_seal_batch(*, max_rows: int = SEAL_BATCH) -> int:
    """Seal up to ``max_rows`` committed unsealed entries of the current organization, in id order;
    how many, or -1 when another transaction holds the organization's seal lock."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT audit_seal(%s)", [max_rows])
        return int(cursor.fetchone()[0])


def audit_unsealed_exists() -> bool:
    """Whether the current organization has a committed entry not sealed yet."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_auditentry WHERE sequence IS NULL)")
        return bool(cursor.fetchone()[0])


def audit_seal_pending(
    *, batch: int = SEAL_BATCH, on_batch: Callable[[int], None] | None = None
) -> int | None:
    """Seal every committed unsealed entry of the current organization; how many this call sealed, or
    None when another process held the seal lock (it seals what is left: see the module's docstring).

    Each ``audit_seal`` is a transaction of its own, so call this outside any transaction: the check
    for what is left must come after the lock is released. ``on_batch(sealed so far)`` after each.
    """
    if connection.in_atomic_block:
        raise RuntimeError("audit_seal_pending must run outside a transaction (after commit)")
    sealed = 0
    while True:
        count = audit_seal_batch(max_rows=batch)
        if count < 0:
            return None if sealed == 0 else sealed
        sealed += count
        if on_batch is not None:
            on_batch(sealed)
        if not audit_unsealed_exists():
            return sealed


def _record(entry: AuditEntry, *, actor: User | None) -> AuditEntry:
    if entry.action == AuditEntry.Action.ACCESS and not settings.HUB_AUDIT_READS:
        return entry  # reads not recorded (HUB_AUDIT_READS off); changes always are
    buffer = _buffer.get()
    actor = actor or (buffer.actor if buffer else None)
    entry.actor = actor  # by id only: ``actor_email`` stays empty, an email is personal data
    entry.timestamp = timezone.now()
    if buffer is None:
        audit_flush(entries=[entry])
    else:
        entry.request_id = buffer.request_id
        entry.remote_addr = buffer.remote_addr
        entry.user_agent = buffer.user_agent[:_USER_AGENT_MAX]
        buffer.entries.append(entry)
    return entry


_API_JSON = DjangoJSONEncoder()


def _json_value(instance: models.Model | None, field: models.Field[Any, Any]) -> Any:
    if instance is None:
        return None
    value = getattr(instance, field.attname)  # ``value_from_object``, without its call
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return _API_JSON.default(value)  # as the API renders every other one (ISO 8601, ``Z``)
    return str(value)  # UUIDs, decimals: their text form


def _diff(
    before: models.Model | None, after: models.Model | None, *, fields: Iterable[str] | None
) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` of every concrete field whose value differs (auditlog's changes shape),
    as they are: ``audit_record`` redacts them.

    Not ``auditlog.diff.model_instance_diff``: it needs auditlog's registry, whose signals would write
    one row per change and re-read the row before every update (extra round-trips).
    """
    instance = after if after is not None else before
    assert instance is not None  # noqa: S101 - one side of a change always exists
    wanted = None if fields is None else set(fields)
    changes = {}
    for model_field in _audited_fields(type(instance)):
        if wanted is not None and model_field.name not in wanted and model_field.attname not in wanted:
            continue
        old, new = _json_value(before, model_field), _json_value(after, model_field)
        if old != new:
            changes[model_field.name] = [old, new]
    return changes


@functools.cache
def _audited_fields(model: type[models.Model]) -> tuple[models.Field[Any, Any], ...]:
    """The concrete fields of ``model`` an entry records (not those marked ``audit_skip``)."""
    return tuple(field for field in model._meta.concrete_fields if not getattr(field, "audit_skip", False))


# Content types live in the shared schema, so their ids hold for every organization. Cached here for
# the process: django-tenants clears ContentType's own cache whenever the connection changes tenant.
_content_type_ids: dict[str, int] = {}


def _content_type_id(model: type[models.Model]) -> int:
    label = model._meta.label_lower
    if label not in _content_type_ids:
        _content_type_ids[label] = ContentType.objects.get_for_model(model, for_concrete_model=False).pk
    return _content_type_ids[label]


def _object_type(model: type[models.Model]) -> str:
    return model._meta.label_lower


def audit_snapshot(instance: models.Model) -> models.Model:
    """A copy of ``instance`` as it is now, to diff against after a change."""
    return copy.copy(instance)


def audit_change(
    *,
    action: int,
    instance: models.Model,
    before: models.Model | None = None,
    actor: User | None = None,
    fields: Iterable[str] | None = None,
    extra: dict[str, list[Any]] | None = None,
) -> AuditEntry:
    """Record a change of ``instance`` with its changed fields (old and new values, redacted by
    ``apps.audit.redaction``), and ``extra`` changes that are not fields of it (its postings, say).

    A create has no ``before``; a delete without ``before`` (a hard delete) records the values removed.
    """
    if action == AuditEntry.Action.DELETE and before is None:
        changes = _diff(instance, None, fields=None)
    else:
        changes = _diff(before, instance, fields=fields)
    return audit_record(action=action, instance=instance, changes={**changes, **(extra or {})}, actor=actor)


def audit_access(*, instance: models.Model, actor: User | None = None) -> AuditEntry:
    """Record a read of one object."""
    return audit_record(action=AuditEntry.Action.ACCESS, instance=instance, changes=None, actor=actor)


def audit_access_list(
    *, model: type[models.Model], objects: Iterable[Any], actor: User | None = None
) -> AuditEntry:
    """Record a list read: one entry naming the ids of every object it returned."""
    ids = [str(obj.pk) for obj in objects]
    return _record(
        AuditEntry(
            action=AuditEntry.Action.ACCESS,
            content_type_id=_content_type_id(model),
            object_type=_object_type(model),
            object_pk="",
            object_ids=ids,
            object_repr=f"{len(ids)} {model._meta.verbose_name_plural}",
        ),
        actor=actor,
    )


def audit_record(
    *,
    action: int,
    instance: models.Model,
    changes: dict[str, list[Any]] | None,
    actor: User | None = None,
) -> AuditEntry:
    """Record an entry about ``instance``, named by its id. ``changes`` is ``{name: [old, new]}``: its
    own fields for ``audit_change``, anything else (a permission grant on it, say) for direct callers;
    ``None`` for a read. Every entry is redacted here (``apps.audit.redaction``): no caller can put a
    personal value in the trail."""
    model = type(instance)
    entry = AuditEntry(
        action=action,
        content_type_id=_content_type_id(model),
        object_type=_object_type(model),
        object_pk=str(instance.pk),
        object_repr=object_name(model, instance.pk),
    )
    if changes is not None:
        entry.changes = changes_redact(model, changes)
    return _record(entry, actor=actor)
