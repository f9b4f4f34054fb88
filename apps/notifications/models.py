"""Events of the organization, the alert rules that match them, and each user's inbox.

These tables live in each organization's schema, behind row-level security (``tenants.rls``).
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from tenants.fields import EncryptedTextField


class Event(models.Model):
    """Something that happened, written in the transaction of the change (``events.event_emit``).

    Its payload holds ids, numbers and codes only (``events.CATALOGUE``), never personal text: an event
    outlives an erasure. ``processed_at`` is set by the job that matched it against the rules, in the
    transaction that created its notifications, so a second run finds it done.
    """

    # Events are purged in bulk by retention; they are not business data of their own.
    AUDIT_HARD_DELETES: ClassVar[bool] = False

    id = models.BigAutoField(primary_key=True)
    event_type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    actor_id = models.UUIDField(null=True, blank=True)
    subject_id = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(default=dict)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["occurred_at", "id"], name="notif_event_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id}"


class RuleAction(models.TextChoices):
    """What a rule does when it matches: notify its recipients, or start a workflow."""

    NOTIFY = "notify"
    WORKFLOW = "workflow"


class Channel(models.TextChoices):
    IN_APP = "in_app"
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"


class AlertRule(models.Model):
    """An admin's rule: on ``event_type`` events meeting every condition, notify the recipients on
    the channels (or trigger a workflow), at most once per ``quiet_minutes``."""

    # Codes from closed sets, shown in clear in the audit trail (``apps.audit.redaction``).
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("event_type", "action", "channels")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    event_type = models.CharField(max_length=64)
    # [{"field", "op", "value"}], validated against the catalogue (``validators.conditions_clean``).
    conditions = models.JSONField(default=list, blank=True)
    # {"user_ids": [...], "roles": [...], "entity_contact": bool}
    recipients = models.JSONField(default=dict, blank=True)
    channels = ArrayField(models.CharField(max_length=16, choices=Channel.choices), default=list, blank=True)
    action = models.CharField(max_length=16, choices=RuleAction.choices, default=RuleAction.NOTIFY)
    enabled = models.BooleanField(default=True)
    quiet_minutes = models.PositiveIntegerField(default=0)
    # When it last fired: the quiet period counts from here (read under the rule's row lock).
    last_fired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+", null=True
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=~Q(name=""), name="notif_rule_name_not_blank"),
            models.CheckConstraint(condition=Q(action__in=RuleAction.values), name="notif_rule_action_valid"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["created_at", "id"], name="notif_rule_created_idx"),
            models.Index(fields=["event_type", "enabled"], name="notif_rule_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type}: {self.id}"


class Dispatch(models.Model):
    """One firing of a rule for one event to one recipient on one channel: the unique row that makes
    processing an event twice create nothing twice."""

    AUDIT_HARD_DELETES: ClassVar[bool] = False

    id = models.BigAutoField(primary_key=True)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    # No database constraint, no cascade: deleting a rule leaves its dispatches as they are (a rule
    # that fired a million times is deleted with one statement, not a million rows loaded).
    rule = models.ForeignKey(AlertRule, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    # A user id, or "entity:<id>" for the entity's own contact, or "workflow".
    recipient = models.CharField(max_length=80)
    channel = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["event", "rule", "recipient", "channel"], name="notif_dispatch_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id}/{self.rule_id}/{self.channel}"


class Notification(models.Model):
    """An in-app notification in one user's inbox. Title and body are personal data: encrypted at
    rest, exported and erased with their user (``apps.privacy``), purged by retention once read."""

    # Retention purges notifications deleted, or read, longer ago than its policy (``apps.privacy``).
    RETENTION_EXPIRES_ON: ClassVar[tuple[str, ...]] = ("deleted_at", "read_at")
    # Erasure of the entity it is about leaves these in their place (``apps.privacy``).
    PERSONAL_FIELDS: ClassVar[dict[str, str]] = {"title": "[erased]", "body": ""}
    AUDIT_CLEAR_FIELDS: ClassVar[tuple[str, ...]] = ("event_type",)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+"
    )
    event = models.ForeignKey(Event, on_delete=models.SET_NULL, related_name="+", null=True, blank=True)
    rule = models.ForeignKey(AlertRule, on_delete=models.SET_NULL, related_name="+", null=True, blank=True)
    event_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64, blank=True, default="")
    # The entity the event is about, if any: a data subject's export and erasure reach it through this.
    entity = models.ForeignKey(
        "entities.Entity", on_delete=models.SET_NULL, related_name="+", null=True, blank=True
    )
    title = EncryptedTextField(blank=True, default="")
    body = EncryptedTextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Soft delete: retention purges deleted (and old read) notifications (``apps.privacy``).
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            # The inbox: one user's live notifications, newest first (a keyset on created_at, id).
            models.Index(
                fields=["user", "-created_at", "-id"],
                name="notif_inbox_idx",
                condition=Q(deleted_at__isnull=True),
            ),
            models.Index(
                fields=["user"],
                name="notif_unread_idx",
                condition=Q(deleted_at__isnull=True, read_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.event_type}"
