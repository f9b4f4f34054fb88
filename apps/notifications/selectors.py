"""Reads of the notifications module: rules (admins) and each user's own inbox.

An inbox read is always of the caller's notifications: another user's notification id (of this
organization or any other) is the same 404 as one that never existed."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from apps.audit.services import audit_access
from apps.notifications.errors import NotificationNotFound, RuleNotFound
from apps.notifications.models import AlertRule, Notification


def rule_list(*, event_type: str | None = None, enabled: bool | None = None) -> QuerySet[AlertRule]:
    """The organization's alert rules, newest first; optionally of one event type or enabled state."""
    rules = AlertRule.objects.all()
    if event_type is not None:
        rules = rules.filter(event_type=event_type)
    if enabled is not None:
        rules = rules.filter(enabled=enabled)
    return rules.order_by("-created_at", "-id")


def rule_get(*, rule_id: uuid.UUID) -> AlertRule:
    """One rule of this organization, audited as a read; anything else is not found."""
    rule = AlertRule.objects.filter(id=rule_id).first()
    if rule is None:
        raise RuleNotFound()
    audit_access(instance=rule)
    return rule


def notification_list(*, user_id: uuid.UUID, unread: bool | None = None) -> QuerySet[Notification]:
    """The user's own live notifications, newest first; ``unread`` keeps the unread (or read) ones."""
    notifications = Notification.objects.filter(user_id=user_id, deleted_at__isnull=True)
    if unread is not None:
        notifications = notifications.filter(read_at__isnull=unread)
    return notifications.order_by("-created_at", "-id")


def notification_get(*, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
    """One of the user's own live notifications, audited as a read; any other id is not found."""
    notification = notification_list(user_id=user_id).filter(id=notification_id).first()
    if notification is None:
        raise NotificationNotFound()
    audit_access(instance=notification)
    return notification


def notification_unread_count(*, user_id: uuid.UUID) -> dict[str, Any]:
    """How many of the user's notifications are unread: exact up to the lists' count bound, a lower
    bound beyond (``count_exact``), so the answer never costs more than that many rows."""
    bound = int(settings.HUB_LIST_COUNT_BOUND)
    counted = notification_list(user_id=user_id, unread=True).order_by()[: bound + 1].count()
    return {"count": min(counted, bound), "count_exact": counted <= bound}
