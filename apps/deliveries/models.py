"""Deliveries: one message to the communication service, or one event to the workflow service.

A ``Delivery`` is written in the transaction of the change that causes it, with the job that sends it
(``apps.deliveries.services.delivery_enqueue``); every try of that job is a ``DeliveryAttempt``. These
tables live in each organization's schema, behind row-level security (``tenants.rls``).

``PERSONAL_FIELDS``: what may identify a person (the address and the text sent, one encrypted JSON
``content``: one encryption a row, not four), never in the audit trail, blanked by erasure
(``apps.privacy``). Attempts hold only codes and numbers.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import models
from django.db.models import Q

from tenants.fields import EncryptedTextField


class Delivery(models.Model):
    """One message (or workflow trigger) and its state: ``pending`` -> ``sending`` -> ``delivered``,
    or ``failed`` (dead-lettered: a permanent refusal, or every attempt used)."""

    PERSONAL_FIELDS: ClassVar[dict[str, Any]] = {"content": ""}
    # Shown in clear in the audit trail (``apps.audit.redaction``): codes from closed sets.
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("last_error",)

    class Target(models.TextChoices):
        COMMUNICATION = "communication"
        WORKFLOW = "workflow"

    class Channel(models.TextChoices):
        EMAIL = "email"
        SMS = "sms"
        PUSH = "push"
        IN_APP = "in_app"

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        DELIVERED = "delivered"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    target = models.CharField(max_length=16, choices=Target.choices)
    # NULL for a workflow trigger (it has no channel).
    channel = models.CharField(max_length=16, choices=Channel.choices, null=True, blank=True)  # noqa: DJ001
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # An identity-service id, not a foreign key: the recipient may never have called the Hub.
    recipient_user_id = models.UUIDField(null=True, blank=True)
    # The entity it is about or addressed to: a data subject's erasure and export reach the delivery
    # through this key (``apps.privacy.selectors.subject_references``).
    entity = models.ForeignKey(
        "entities.Entity", on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    # What is sent, personal data: JSON ``{to, subject, message, variables}``, encrypted; "" once erased.
    content = EncryptedTextField(blank=True, default="")
    template_id = models.CharField(max_length=200, blank=True, default="")
    # Where it came from (apps.notifications): ids only.
    rule_id = models.UUIDField(null=True, blank=True)
    event_id = models.BigIntegerField(null=True, blank=True)
    notification_id = models.UUIDField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # ``attempts`` when an admin last retried it: the attempts allowed count from there.
    retry_from = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=40, blank=True, default="")
    job_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "sending", "delivered", "failed"]),
                name="delivery_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(target="communication", channel__in=["email", "sms", "push", "in_app"])
                | Q(target="workflow", channel__isnull=True),
                name="delivery_target_channel_valid",
            ),
        ]
        indexes: ClassVar[list[models.Index]] = [
            # Newest first with the id as tie-breaker: the list's keyset cursor (api.pagination).
            models.Index(fields=["created_at", "id"], name="delivery_created_id_idx"),
            models.Index(fields=["status", "created_at", "id"], name="delivery_status_created_idx"),
            models.Index(fields=["recipient_user_id"], name="delivery_recipient_idx"),
            models.Index(fields=["delivered_at"], name="delivery_delivered_at_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.id} ({self.status})"

    def content_get(self) -> DeliveryContent:
        """What is sent (decrypted); all blank once erased."""
        return DeliveryContent(**json.loads(self.content)) if self.content else DeliveryContent()


@dataclass(frozen=True)
class DeliveryContent:
    """The personal part of a delivery: the address, the text and the template's variables."""

    to: str = ""
    subject: str = ""
    message: str = ""
    variables: dict[str, Any] | None = None

    def dumps(self) -> str:
        return json.dumps(dataclasses.asdict(self))


class DeliveryAttempt(models.Model):
    """One try at sending a delivery: when, how it ended, the HTTP status; never what was sent.

    An attempt whose worker died mid-call keeps ``outcome`` ``sending`` until the next attempt marks it
    ``interrupted``."""

    # Deleted only with their delivery (whose delete is audited): one entry per attempt would say nothing.
    AUDIT_HARD_DELETES: ClassVar[bool] = False

    class Outcome(models.TextChoices):
        SENDING = "sending"
        DELIVERED = "delivered"
        RETRYABLE = "retryable"  # 5xx, 408, 429, timeout, connection error: tried again
        PERMANENT = "permanent"  # any other 4xx: dead-lettered at once
        INTERRUPTED = "interrupted"  # the worker died before recording the outcome

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # An exception class name or "http_<status>", and a short fixed sentence: no response body, ever.
    error_class = models.CharField(max_length=80, blank=True, default="")
    error_text = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["delivery", "number"], name="delivery_attempt_number_unique"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}"
