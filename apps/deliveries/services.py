"""Writes of the deliveries module: enqueueing a delivery, the send job's state changes, a manual retry.

A delivery is written with its send job in the caller's transaction (``delivery_enqueue``), so the
change that causes it, the row and the job commit or roll back together. The job then never calls
the receiver inside a database transaction: ``delivery_attempt_begin`` marks the row ``sending`` and
commits, the call is made, ``delivery_attempt_finish`` records its outcome in a new transaction.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_snapshot
from apps.deliveries.errors import DeliveryInvalid, DeliveryNotFailed, DeliveryNotFound
from apps.deliveries.models import Delivery, DeliveryAttempt
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


def _target_clean(*, target: str, channel: str | None) -> None:
    if target == Delivery.Target.COMMUNICATION:
        if channel not in Delivery.Channel.values:
            raise DeliveryInvalid(f"channel must be one of {', '.join(Delivery.Channel.values)}.")
    elif target == Delivery.Target.WORKFLOW:
        if channel is not None:
            raise DeliveryInvalid("A workflow trigger has no channel.")
    else:
        raise DeliveryInvalid(f"target must be one of {', '.join(Delivery.Target.values)}.")


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
    organization). ``target`` ``communication`` needs a ``channel`` (email, sms, push, in_app);
    ``workflow`` has none and sends ``subject`` as the event type and ``variables`` as its payload."""
    _target_clean(target=target, channel=channel)
    with transaction.atomic():
        delivery = Delivery.objects.create(
            target=target,
            channel=channel,
            recipient_user_id=recipient_user_id,
            entity_id=entity_id,
            to=to,
            subject=subject,
            message=message,
            template_id=template_id or "",
            variables=json.dumps(variables) if variables is not None else "",
            rule_id=rule_id,
            event_id=event_id,
            notification_id=notification_id,
        )
        delivery.job_id = _send_defer(delivery)
        Delivery.objects.filter(pk=delivery.pk).update(job_id=delivery.job_id)
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
    variables = json.loads(delivery.variables) if delivery.variables else None
    if delivery.target == Delivery.Target.COMMUNICATION:
        url, token = (
            f"{settings.COMMUNICATION_SERVICE_URL.rstrip('/')}/api/v1/notifications",
            (settings.COMMUNICATION_SERVICE_TOKEN),
        )
        body: dict[str, Any] = {
            "type": delivery.channel,
            "to": delivery.to,
            "subject": delivery.subject,
            "message": delivery.message,
            "template_id": delivery.template_id or None,
            "variables": variables,
        }
    else:
        url, token = (
            f"{settings.WORKFLOW_SERVICE_URL.rstrip('/')}/api/v1/workflows",
            settings.WORKFLOW_SERVICE_TOKEN,
        )
        body = {
            "type": delivery.subject,
            "occurred_at": delivery.created_at.isoformat(),
            "payload": variables or {},
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
    if delivery.status in (Status.DELIVERED, Status.FAILED) or delivery.erased_at is not None:
        return None
    now = timezone.now()
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
