"""Reads of the deliveries module (admins only: the API checks the role).

Another organization's delivery is a missing one: every read goes through the current organization's
schema and row-level security.
"""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from apps.audit.services import audit_access
from apps.deliveries.errors import DeliveryNotFound
from apps.deliveries.models import Delivery, DeliveryAttempt

# What a list reads (``content`` for the masked address only: the text sent is never shown).
LIST_FIELDS = (
    "id",
    "target",
    "channel",
    "status",
    "recipient_user_id",
    "entity",
    "content",
    "template_id",
    "rule_id",
    "event_id",
    "notification_id",
    "attempts",
    "last_error",
    "created_at",
    "updated_at",
    "delivered_at",
    "failed_at",
)


def delivery_list(
    *, status: str | None = None, target: str | None = None, channel: str | None = None
) -> QuerySet[Delivery]:
    """The organization's deliveries, newest first, filtered; one query a page (api.pagination)."""
    deliveries = Delivery.objects.only(*LIST_FIELDS)
    if status:
        deliveries = deliveries.filter(status=status)
    if target:
        deliveries = deliveries.filter(target=target)
    if channel:
        deliveries = deliveries.filter(channel=channel)
    return deliveries.order_by("-created_at", "-id")


def delivery_get(*, delivery_id: uuid.UUID) -> Delivery:
    """One delivery of the organization with its attempts in order (two queries), the read audited."""
    attempts = Prefetch("attempt_set", queryset=DeliveryAttempt.objects.order_by("number"))
    delivery = Delivery.objects.only(*LIST_FIELDS).prefetch_related(attempts).filter(pk=delivery_id).first()
    if delivery is None:
        raise DeliveryNotFound()
    audit_access(instance=delivery)
    return delivery


def address_mask(value: str) -> str:
    """An address shown to admins: enough to tell which one it is, not enough to reuse it
    (``a***@example.com``, ``+41*******00``)."""
    if not value:
        return ""
    if "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(value) <= 4:
        return "*" * len(value)
    return f"{value[:3]}{'*' * (len(value) - 5)}{value[-2:]}"
