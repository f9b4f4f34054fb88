"""Writes of the deliveries module: enqueueing a delivery, the send job's state changes, a manual retry.

A delivery is written with its send job in the caller's transaction (``delivery_enqueue``), so the
change that causes it, the row and the job commit or roll back together. The job then never calls
the receiver inside a database transaction: ``delivery_attempt_begin`` marks the row ``sending`` and
commits, the call is made, ``delivery_attempt_finish`` records its outcome in a new transaction.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_snapshot
from apps.deliveries.errors import DeliveryInvalid, DeliveryNotFailed, DeliveryNotFound
from apps.deliveries.models import Delivery, DeliveryAttempt, DeliveryContent
from apps.entities.models import Entity
from tenants.jobs import tenant_job_defer
from tenants.models import User

Status = Delivery.Status
Outcome = DeliveryAttempt.Outcome


@dataclass(frozen=True)
class DeliveryRequest:
    """The HTTP call one attempt makes: built from the row inside the organization, made outside it."""

    delivery_id: uuid.UUID
    attempt_id: int
    url: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class DeliveryResult:
    """How one call ended, as the attempt records it (no response body: it may echo personal data)."""

    outcome: str
    http_status: int | None = None
    error_class: str = ""
    error_text: str = ""


def _target_clean(*, target: str, channel: str | None, to: str, subject: str) -> None:
    if target == Delivery.Target.COMMUNICATION:
        if channel not in Delivery.Channel.values:
            raise DeliveryInvalid(f"channel must be one of {', '.join(Delivery.Channel.values)}.")
        if not to:
            raise DeliveryInvalid("A message needs an address (to).")
    elif target == Delivery.Target.WORKFLOW:
        if channel is not None:
            raise DeliveryInvalid("A workflow trigger has no channel.")
        if not subject:
            raise DeliveryInvalid("A workflow trigger needs the event type (subject).")
    else:
        raise DeliveryInvalid(f"target must be one of {', '.join(Delivery.Target.values)}.")


def _erased(delivery: Delivery) -> bool:
    """Nothing left to send: its personal fields were erased (``apps.privacy``, or
    ``delivery_recipient_erase``); an enqueued delivery always has an address or an event type."""
    return delivery.content == ""


def _send_defer(delivery: Delivery) -> int:
    from apps.deliveries.tasks import delivery_send  # the task module imports these services

    # One lock per delivery: its jobs (a retry of a stalled one, a manual retry) never run at once.
    return tenant_job_defer(
        delivery_send, job_options={"lock": f"delivery:{delivery.pk}"}, delivery_id=str(delivery.pk)
    )


def delivery_enqueue(
    *,
    target: str,
    channel: str | None,
    recipient_user_id: uuid.UUID | None,
    to: str,
    subject: str,
    message: str,
    template_id: str | None = None,
    variables: dict[str, Any] | None = None,
    rule_id: uuid.UUID | None = None,
    event_id: int | None = None,
    notification_id: uuid.UUID | None = None,
    entity_id: uuid.UUID | None = None,
) -> Delivery:
    """Write a delivery and defer its send job, both in the current transaction (of the current
    organization). ``target`` ``communication`` needs a ``channel`` (email, sms, push, in_app) and an
    address ``to``. ``workflow`` has no channel: ``subject`` is the event's type and ``variables`` the
    event (``occurred_at``, ``payload``, ``subject_id``), sent to the workflow service as
    ``{type, occurred_at, payload, subject_id, event_id, rule_id, delivery_id, workflow_id}``
    (``workflow_id``: ``template_id``). Returns the delivery; its job runs once this commits."""
    _target_clean(target=target, channel=channel, to=to, subject=subject)
    if entity_id is not None and not Entity.objects.filter(pk=entity_id).exists():
        raise DeliveryInvalid("No entity has this id.")
    # No savepoint: nothing here is caught and carried on from; a fan-out pays no extra statements.
    with transaction.atomic(savepoint=False):
        delivery = Delivery(
            target=target,
            channel=channel,
            recipient_user_id=recipient_user_id,
            entity_id=entity_id,
            content=DeliveryContent(to=to, subject=subject, message=message, variables=variables).dumps(),
            template_id=template_id or "",
            rule_id=rule_id,
            event_id=event_id,
            notification_id=notification_id,
        )
        # The job first (it names the row's id): it cannot run before this transaction commits.
        delivery.job_id = _send_defer(delivery)
        delivery.save(force_insert=True)
        audit_change(action=AuditEntry.Action.CREATE, instance=delivery)
    return delivery


def delivery_retry(*, actor: User, delivery_id: uuid.UUID) -> Delivery:
    """Put a dead-lettered delivery back in the queue with a fresh budget of attempts (admin)."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None:
            raise DeliveryNotFound()
        if delivery.status != Status.FAILED:
            raise DeliveryNotFailed()
        before = audit_snapshot(delivery)
        delivery.status, delivery.retry_from, delivery.failed_at = Status.PENDING, delivery.attempts, None
        delivery.last_error = ""
        delivery.job_id = _send_defer(delivery)
        fields = ["status", "retry_from", "failed_at", "last_error", "job_id", "updated_at"]
        delivery.save(update_fields=fields)
        audit_change(
            action=AuditEntry.Action.UPDATE, instance=delivery, before=before, actor=actor, fields=fields
        )
    return delivery


def _request_build(delivery: Delivery, *, attempt_id: int) -> DeliveryRequest:
    content = delivery.content_get()
    if delivery.target == Delivery.Target.COMMUNICATION:
        url, token = (
            f"{settings.COMMUNICATION_SERVICE_URL.rstrip('/')}/api/v1/notifications",
            (settings.COMMUNICATION_SERVICE_TOKEN),
        )
        body: dict[str, Any] = {
            "type": delivery.channel,
            "to": content.to,
            "subject": content.subject,
            "message": content.message,
            "template_id": delivery.template_id or None,
            "variables": content.variables,
        }
    else:
        url, token = (
            f"{settings.WORKFLOW_SERVICE_URL.rstrip('/')}/api/v1/workflows",
            settings.WORKFLOW_SERVICE_TOKEN,
        )
        event = content.variables or {}
        body = {
            "type": content.subject,
            "occurred_at": event.get("occurred_at") or delivery.created_at.isoformat(),
            "payload": event.get("payload", {}),
            "subject_id": event.get("subject_id"),
            "event_id": delivery.event_id,
            "rule_id": str(delivery.rule_id) if delivery.rule_id else None,
            "delivery_id": str(delivery.pk),
            "workflow_id": delivery.template_id or None,
        }
    headers = {"Idempotency-Key": str(delivery.pk)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return DeliveryRequest(
        delivery_id=delivery.pk, attempt_id=attempt_id, url=url, body=body, headers=headers
    )


class DeliveryBusy(Exception):
    """The delivery's row is locked by another transaction: the job tries again shortly."""


@transaction.atomic
def delivery_attempt_begin(*, delivery_id: uuid.UUID) -> DeliveryRequest | None:
    """Start an attempt (committed before the call): ``None`` when there is nothing to send (delivered,
    dead-lettered, erased or gone). An attempt left ``sending`` by a worker that died is closed as
    ``interrupted``; the new one sends again with the same Idempotency-Key."""
    delivery = Delivery.objects.select_for_update(skip_locked=True).filter(pk=delivery_id).first()
    if delivery is None:
        if Delivery.objects.filter(pk=delivery_id).exists():
            raise DeliveryBusy(str(delivery_id))
        return None
    if delivery.status in (Status.DELIVERED, Status.FAILED):
        return None
    now = timezone.now()
    if _erased(delivery):  # a data subject erased before it went out: it never will
        delivery.status, delivery.failed_at, delivery.last_error = Status.FAILED, now, "erased"
        delivery.save(update_fields=["status", "failed_at", "last_error", "updated_at"])
        return None
    DeliveryAttempt.objects.filter(delivery=delivery, outcome=Outcome.SENDING).update(
        outcome=Outcome.INTERRUPTED, finished_at=now, error_class="interrupted", error_text="worker stopped"
    )
    delivery.attempts += 1
    delivery.status = Status.SENDING
    delivery.save(update_fields=["attempts", "status", "updated_at"])
    attempt = DeliveryAttempt.objects.create(delivery=delivery, number=delivery.attempts, started_at=now)
    return _request_build(delivery, attempt_id=attempt.pk)


@transaction.atomic
def delivery_attempt_finish(*, request: DeliveryRequest, result: DeliveryResult) -> bool:
    """Record how an attempt ended and move the delivery on; ``True`` when it is to be tried again.

    A retryable failure past ``HUB_DELIVERY_MAX_ATTEMPTS`` (since the last manual retry) dead-letters
    it, as a permanent one does at once."""
    now = timezone.now()
    DeliveryAttempt.objects.filter(pk=request.attempt_id).update(
        finished_at=now,
        outcome=result.outcome,
        http_status=result.http_status,
        error_class=result.error_class[:80],
        error_text=result.error_text[:200],
    )
    delivery = Delivery.objects.select_for_update().filter(pk=request.delivery_id).first()
    if delivery is None or delivery.status != Status.SENDING:
        return False  # erased, deleted or already settled meanwhile: nothing more to do
    before = audit_snapshot(delivery)
    retry = False
    if result.outcome == Outcome.DELIVERED:
        delivery.status, delivery.delivered_at, delivery.last_error = Status.DELIVERED, now, ""
    elif result.outcome == Outcome.RETRYABLE and (
        delivery.attempts - delivery.retry_from < settings.HUB_DELIVERY_MAX_ATTEMPTS
    ):
        delivery.status, delivery.last_error, retry = Status.PENDING, result.error_class[:40], True
    else:
        delivery.status, delivery.failed_at, delivery.last_error = Status.FAILED, now, result.error_class[:40]
    fields = ["status", "delivered_at", "failed_at", "last_error", "updated_at"]
    delivery.save(update_fields=fields)
    if not retry:
        audit_change(action=AuditEntry.Action.UPDATE, instance=delivery, before=before, fields=["status"])
    return retry


def delivery_recipient_erase(*, actor: User | None, user_id: uuid.UUID) -> int:
    """Blank the personal fields of every delivery to the user ``user_id`` (a data subject's erasure);
    how many. One UPDATE; each row audited as its own change (the trail shows only that they changed).
    A delivery still waiting is then never sent (``delivery_attempt_begin``)."""
    with transaction.atomic():
        rows = list(
            Delivery.objects.select_for_update().filter(recipient_user_id=user_id, erased_at__isnull=True)
        )
        if not rows:
            return 0
        now = timezone.now()
        Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(
            **Delivery.PERSONAL_FIELDS, erased_at=now, updated_at=now
        )
        fields = [*Delivery.PERSONAL_FIELDS, "erased_at"]
        for row in rows:
            before = audit_snapshot(row)
            for name, value in Delivery.PERSONAL_FIELDS.items():
                setattr(row, name, value)
            row.erased_at = now
            audit_change(
                action=AuditEntry.Action.UPDATE, instance=row, before=before, actor=actor, fields=fields
            )
    return len(rows)


PURGE_BATCH = 500  # rows per transaction of a purge


def delivery_purge(*, now: datetime.datetime | None = None, batch_size: int = PURGE_BATCH) -> int:
    """Delete the deliveries delivered more than ``HUB_DELIVERY_RETENTION_DAYS`` ago, with their
    attempts, in batches of one short transaction each (must not run inside a transaction); how many.
    Dead letters stay until an admin has seen them (they are few)."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.HUB_DELIVERY_RETENTION_DAYS)
    purged = 0
    while True:
        with transaction.atomic(durable=True):
            pks = list(
                Delivery.objects.filter(status=Status.DELIVERED, delivered_at__lt=cutoff)
                .select_for_update(skip_locked=True)
                .order_by("delivered_at")
                .values_list("pk", flat=True)[:batch_size]
            )
            if pks:
                Delivery.objects.filter(pk__in=pks).delete()
        purged += len(pks)
        if len(pks) < batch_size:
            return purged
