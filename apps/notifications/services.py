"""Writes of the notifications module: alert rules (admins), processing an event (the job), and each
user's inbox. Every function is atomic and validates before it touches a row."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.audit.services import audit_change, audit_record, audit_snapshot
from apps.deliveries.services import delivery_enqueue
from apps.entities.models import Entity
from apps.members.models import Member
from apps.members.selectors import organization_users
from apps.notifications import validators
from apps.notifications.catalogue import ENTITY_FIELD, conditions_match
from apps.notifications.errors import NotificationNotFound, RuleInvalid, RuleNotFound
from apps.notifications.events import booking_event_emit
from apps.notifications.models import AlertRule, Channel, Dispatch, Event, Notification, RuleAction
from apps.notifications.selectors import notification_list
from apps.scheduling.models import Booking
from tenants.models import User

# --- Alert rules -------------------------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "event_type",
    "conditions",
    "recipients",
    "channels",
    "action",
    "enabled",
    "quiet_minutes",
)


def _rule_clean(values: dict[str, Any]) -> dict[str, Any]:
    """Every field of a rule validated together: conditions depend on the event type, channels and
    recipients on the action."""
    for field in RULE_FIELDS:
        if values.get(field) is None:
            raise RuleInvalid(f"{field} cannot be null.", field=field)
    action = validators.action_clean(values["action"])
    event_type = validators.event_type_clean(values["event_type"])
    return {
        "name": validators.name_clean(values["name"]),
        "event_type": event_type,
        "action": action,
        "conditions": validators.conditions_clean(values["conditions"], event_type=event_type),
        "recipients": validators.recipients_clean(values["recipients"], action=action),
        "channels": validators.channels_clean(values["channels"], action=action),
        "enabled": bool(values["enabled"]),
        "quiet_minutes": validators.quiet_minutes_clean(values["quiet_minutes"]),
    }


@transaction.atomic
def rule_create(
    *,
    actor: User,
    name: str,
    event_type: str,
    conditions: list[dict[str, Any]] | None = None,
    recipients: dict[str, Any] | None = None,
    channels: list[str] | None = None,
    action: str = RuleAction.NOTIFY,
    enabled: bool = True,
    quiet_minutes: int = 0,
) -> AlertRule:
    """Create an alert rule; every field checked against the catalogue and the organization (422)."""
    values = _rule_clean(
        {
            "name": name,
            "event_type": event_type,
            "conditions": conditions or [],
            "recipients": recipients or {},
            "channels": channels or [],
            "action": action,
            "enabled": enabled,
            "quiet_minutes": quiet_minutes,
        }
    )
    rule = AlertRule(**values, created_by=actor, updated_by=actor)
    rule.save(force_insert=True)
    audit_change(action=AuditEntry.Action.CREATE, instance=rule, actor=actor)
    return rule


def _rule_locked(rule_id: uuid.UUID) -> AlertRule:
    rule = AlertRule.objects.select_for_update().filter(id=rule_id).first()
    if rule is None:
        raise RuleNotFound()
    return rule


@transaction.atomic
def rule_update(*, actor: User, rule: AlertRule, changes: dict[str, Any]) -> AlertRule:
    """Apply a partial update, re-read under the rule's lock; the whole rule is validated again (a new
    event type must suit the conditions) and only the fields that changed are saved and audited."""
    unknown = set(changes) - set(RULE_FIELDS)
    if unknown:
        raise RuleInvalid(f"{', '.join(sorted(unknown))} cannot be changed.", field=sorted(unknown)[0])
    rule = _rule_locked(rule.id)
    before = audit_snapshot(rule)
    values = _rule_clean({**{field: getattr(rule, field) for field in RULE_FIELDS}, **changes})
    changed = [field for field in RULE_FIELDS if values[field] != getattr(rule, field)]
    for field in changed:
        setattr(rule, field, values[field])
    rule.updated_by = actor
    rule.save(update_fields=[*changed, "updated_by", "updated_at"])
    audit_change(action=AuditEntry.Action.UPDATE, instance=rule, before=before, actor=actor, fields=changed)
    return rule


@transaction.atomic
def rule_delete(*, rule: AlertRule) -> None:
    """Remove a rule (its notifications stay, without it); audited by the hard-delete receiver."""
    _rule_locked(rule.id).delete()


# --- Processing an event (the job) ---------------------------------------------------------------


@dataclass(frozen=True)
class _Recipient:
    """Who a firing reaches: a user of the organization, or the entity's own contact."""

    key: str  # the user id, or "entity:<id>"
    user_id: uuid.UUID | None
    email: str
    phone: str


def _quiet(rule: AlertRule, event: Event) -> bool:
    """Whether ``rule`` fired less than ``quiet_minutes`` before ``event``; if not, it fires now (noted
    under the rule's row lock, so two jobs of the same rule cannot both fire in one quiet period)."""
    if not rule.quiet_minutes:
        return False
    last = AlertRule.objects.select_for_update().filter(id=rule.id).values_list("last_fired_at", flat=True)
    last_fired_at = last.first()
    if last_fired_at is not None and event.occurred_at < last_fired_at + datetime.timedelta(
        minutes=rule.quiet_minutes
    ):
        return True
    AlertRule.objects.filter(id=rule.id).update(last_fired_at=event.occurred_at)
    return False


def _users(rule: AlertRule) -> list[_Recipient]:
    """The rule's users who still belong to the organization, and the holders of its roles, at most
    ``HUB_NOTIFICATION_MAX_RECIPIENTS`` (one query)."""
    wanted = Q(id__in=rule.recipients.get("user_ids", []))
    roles = rule.recipients.get("roles", [])
    if roles:
        wanted |= Q(id__in=Member.objects.filter(role__in=roles).values("user_id"))
    users = organization_users().filter(wanted).order_by("id").values_list("id", "email")
    return [
        _Recipient(key=str(user_id), user_id=user_id, email=email or "", phone="")
        for user_id, email in users[: settings.HUB_NOTIFICATION_MAX_RECIPIENTS]
    ]


def _text(rule: AlertRule, event: Event, entity: Entity | None) -> tuple[str, str]:
    """The title and body of a notification (personal data: the entity's name may appear)."""
    title = event.event_type.replace(".", " ").replace("_", " ").capitalize()
    facts = [
        f"{field}: {value}"
        for field, value in event.payload.items()
        if value is not None and not field.endswith("_id") and field != "accounts"
    ]
    about = f" ({entity.name})" if entity is not None and entity.erased_at is None else ""
    return title, f"{rule.name}{about}: {', '.join(facts)}" if facts else f"{rule.name}{about}"


def _event_entity(event: Event) -> Entity | None:
    entity_id = event.payload.get(ENTITY_FIELD)
    return Entity.objects.filter(id=entity_id).first() if entity_id else None


def _targets(rule: AlertRule, entity: Entity | None) -> list[tuple[_Recipient, str]]:
    """(recipient, channel) pairs the rule reaches: users on every channel, the entity's contact by
    email and SMS only (it has no inbox nor device)."""
    recipients = _users(rule)
    pairs = [(recipient, channel) for recipient in recipients for channel in rule.channels]
    if rule.recipients.get("entity_contact") and entity is not None and entity.erased_at is None:
        contact = _Recipient(key=f"entity:{entity.id}", user_id=None, email=entity.email, phone=entity.phone)
        pairs += [
            (contact, channel)
            for channel in rule.channels
            if (channel == Channel.EMAIL and contact.email) or (channel == Channel.SMS and contact.phone)
        ]
    return [(r, c) for r, c in pairs if c != Channel.EMAIL or r.email]


def _workflow_fire(rule: AlertRule, event: Event) -> int:
    Dispatch.objects.create(event=event, rule_id=rule.id, recipient="workflow", channel="workflow")
    variables = {
        "event_id": event.id,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at.isoformat(),
        "subject_id": event.subject_id,
        "payload": event.payload,
    }
    delivery_enqueue(
        target="workflow",
        channel=None,
        recipient_user_id=None,
        to="",
        subject=event.event_type,
        message="",
        variables=variables,
        rule_id=rule.id,
        event_id=event.id,
    )
    return 1


def _rule_fire(rule: AlertRule, event: Event, entity: Entity | None) -> int:
    """Notify the rule's recipients of ``event``: in-app notifications and deliveries for the other
    channels, each (event, rule, recipient, channel) once (``notif_dispatch_unique``)."""
    if rule.action == RuleAction.WORKFLOW:
        return _workflow_fire(rule, event)
    targets = _targets(rule, entity)
    Dispatch.objects.bulk_create(
        [Dispatch(event=event, rule_id=rule.id, recipient=r.key, channel=channel) for r, channel in targets]
    )
    title, body = _text(rule, event, entity)
    entity_id = entity.id if entity is not None else None
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                user_id=r.user_id,
                event=event,
                rule=rule,
                event_type=event.event_type,
                subject_id=event.subject_id,
                entity_id=entity_id,
                title=title,
                body=body,
            )
            for r, channel in targets
            if channel == Channel.IN_APP and r.user_id is not None
        ]
    )
    for notification in notifications:
        audit_change(action=AuditEntry.Action.CREATE, instance=notification)
    for recipient, channel in targets:
        if channel != Channel.IN_APP:
            delivery_enqueue(
                target="communication",
                channel=channel,
                recipient_user_id=recipient.user_id,
                to=_address(recipient, channel),
                subject=title,
                message=body,
                variables={"event_id": event.id, "event_type": event.event_type},
                rule_id=rule.id,
                event_id=event.id,
                entity_id=entity_id if recipient.user_id is None else None,
            )
    return len(targets)


def _address(recipient: _Recipient, channel: str) -> str:
    """Where a channel reaches a recipient: an email address, or for a user's SMS and push the user id
    (the communication service knows the user's phone and devices), or the entity's phone."""
    if channel == Channel.EMAIL:
        return recipient.email
    if channel == Channel.SMS and recipient.user_id is None:
        return recipient.phone
    return str(recipient.user_id)


def event_process(*, event_id: int) -> int:
    """Match the event against the organization's enabled rules of its type and fire those whose
    conditions it meets and whose quiet period is over; returns how many (recipient, channel) pairs
    it reached. Runs in the job's transaction: the event's row lock and ``processed_at`` make a second
    run (a retried job) do nothing."""
    event = Event.objects.select_for_update().filter(id=event_id).first()
    if event is None or event.processed_at is not None:
        return 0
    rules = [
        rule
        for rule in AlertRule.objects.filter(enabled=True, event_type=event.event_type).order_by("id")
        if conditions_match(event_type=event.event_type, conditions=rule.conditions, payload=event.payload)
    ]
    entity = _event_entity(event) if rules else None
    reached = sum(_rule_fire(rule, event, entity) for rule in rules if not _quiet(rule, event))
    Event.objects.filter(id=event.id).update(processed_at=timezone.now())
    return reached


def booking_starting_soon_emit(*, booking_id: uuid.UUID, start: datetime.datetime) -> bool:
    """Emit ``booking.starting_soon`` when the booking is still on, still starts at ``start`` (a moved
    booking has its own reminder) and has not started; whether it was emitted."""
    booking = Booking.objects.filter(id=booking_id).first()
    if booking is None or booking.status == Booking.Status.CANCELLED or booking.start != start:
        return False
    if booking.start <= timezone.now():
        return False
    booking_event_emit(event_type="booking.starting_soon", booking=booking, actor_id=None)
    return True


# --- The inbox ---------------------------------------------------------------------------------------


def _own_locked(*, user: User, notification_id: uuid.UUID) -> Notification:
    notification = notification_list(user_id=user.id).filter(id=notification_id).select_for_update().first()
    if notification is None:
        raise NotificationNotFound()
    return notification


@transaction.atomic
def notification_read(*, user: User, notification_id: uuid.UUID) -> Notification:
    """Mark one of the user's own notifications read (already read: unchanged)."""
    notification = _own_locked(user=user, notification_id=notification_id)
    if notification.read_at is None:
        before = audit_snapshot(notification)
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        audit_change(
            action=AuditEntry.Action.UPDATE,
            instance=notification,
            before=before,
            actor=user,
            fields=["read_at"],
        )
    return notification


@transaction.atomic
def notification_read_all(*, user: User) -> int:
    """Mark every unread notification of the user read; how many. Each is audited by id."""
    ids = list(
        notification_list(user_id=user.id, unread=True).select_for_update().values_list("id", flat=True)
    )
    now = timezone.now()
    Notification.objects.filter(id__in=ids).update(read_at=now)
    for notification_id in ids:
        audit_record(
            action=AuditEntry.Action.UPDATE,
            instance=Notification(id=notification_id),
            changes={"read_at": [None, now.isoformat()]},
            actor=user,
        )
    return len(ids)


@transaction.atomic
def notification_delete(*, user: User, notification_id: uuid.UUID) -> None:
    """Remove one of the user's own notifications from the inbox (soft: retention purges it)."""
    notification = _own_locked(user=user, notification_id=notification_id)
    before = audit_snapshot(notification)
    notification.deleted_at = timezone.now()
    notification.save(update_fields=["deleted_at"])
    audit_change(
        action=AuditEntry.Action.DELETE,
        instance=notification,
        before=before,
        actor=user,
        fields=["deleted_at"],
    )


# Events deleted per short transaction by ``event_purge``.
EVENT_PURGE_BATCH = 5000


def event_purge(*, now: datetime.datetime | None = None, batch_size: int = EVENT_PURGE_BATCH) -> int:
    """Delete the events that occurred more than ``HUB_EVENTS_RETENTION_DAYS`` ago (with their dispatch
    rows; notifications keep their text and lose only the link), one committed batch at a time, so a
    crash leaves it resumable; how many. Must not run inside a transaction. An event is a record of
    ids and codes that served its rules once; the audit trail, not the events, is the history."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.HUB_EVENTS_RETENTION_DAYS)
    purged = 0
    while True:
        with transaction.atomic(durable=True):
            pks = list(
                Event.objects.filter(occurred_at__lt=cutoff)
                .order_by("occurred_at", "id")
                .values_list("pk", flat=True)[:batch_size]
            )
            if pks:
                Event.objects.filter(pk__in=pks).delete()
        purged += len(pks)
        if len(pks) < batch_size:
            return purged
