"""HTTP of the notifications module: alert rules (admins) and every user's own inbox (any role)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from api.auth import admin_auth, request_actor
from api.pagination import paginate_audited
from apps.notifications import selectors, services
from apps.notifications.models import AlertRule, Notification
from apps.notifications.schemas import (
    NOTIFICATION_ERRORS,
    InboxFilter,
    NotificationOut,
    NotificationPage,
    ReadAllOut,
    RuleFilter,
    RuleIn,
    RuleOut,
    RulePage,
    RulePatch,
    UnreadCountOut,
)

router = Router()


@router.get(
    "rules", summary="List alert rules", response={200: RulePage, **NOTIFICATION_ERRORS}, auth=admin_auth
)
def rule_list(request: HttpRequest, filters: Query[RuleFilter]) -> dict[str, Any]:
    """The organization's alert rules, newest first, optionally of one `event_type` or `enabled` state."""
    rules = selectors.rule_list(event_type=filters.event_type, enabled=filters.enabled)
    return paginate_audited(rules, page=filters)


@router.post(
    "rules", summary="Create an alert rule", response={201: RuleOut, **NOTIFICATION_ERRORS}, auth=admin_auth
)
def rule_create(request: HttpRequest, payload: RuleIn) -> Status[AlertRule]:
    """On events of `event_type` meeting every condition, notify the recipients on the channels (or,
    with `action` `workflow`, start a workflow), at most once per `quiet_minutes`. Admins only."""
    return Status(201, services.rule_create(actor=request_actor(request), **payload.dict()))


@router.get(
    "rules/{uuid:rule_id}",
    summary="Read an alert rule",
    response={200: RuleOut, **NOTIFICATION_ERRORS},
    auth=admin_auth,
)
def rule_read(request: HttpRequest, rule_id: uuid.UUID) -> AlertRule:
    """One alert rule of the organization. Admins only."""
    return selectors.rule_get(rule_id=rule_id)


@router.patch(
    "rules/{uuid:rule_id}",
    summary="Update an alert rule",
    response={200: RuleOut, **NOTIFICATION_ERRORS},
    auth=admin_auth,
)
def rule_update(request: HttpRequest, rule_id: uuid.UUID, payload: RulePatch) -> AlertRule:
    """Change some fields of a rule; the rule is validated as a whole again. Admins only."""
    rule = selectors.rule_get(rule_id=rule_id)
    return services.rule_update(
        actor=request_actor(request), rule=rule, changes=payload.dict(exclude_unset=True)
    )


@router.delete(
    "rules/{uuid:rule_id}",
    summary="Delete an alert rule",
    response={204: None, **NOTIFICATION_ERRORS},
    auth=admin_auth,
)
def rule_delete(request: HttpRequest, rule_id: uuid.UUID) -> Status[None]:
    """Remove a rule; the notifications it made stay. Admins only."""
    services.rule_delete(rule=selectors.rule_get(rule_id=rule_id))
    return Status(204, None)


@router.get("", summary="List my notifications", response={200: NotificationPage, **NOTIFICATION_ERRORS})
def notification_list(request: HttpRequest, filters: Query[InboxFilter]) -> dict[str, Any]:
    """The caller's own in-app notifications, newest first; `unread=true` for the unread ones."""
    notifications = selectors.notification_list(user_id=request_actor(request).id, unread=filters.unread)
    return paginate_audited(notifications, page=filters)


@router.get(
    "unread-count",
    summary="Count my unread notifications",
    response={200: UnreadCountOut, **NOTIFICATION_ERRORS},
)
def notification_unread_count(request: HttpRequest) -> dict[str, Any]:
    """How many of the caller's notifications are unread (exact up to the lists' count bound)."""
    return selectors.notification_unread_count(user_id=request_actor(request).id)


@router.post(
    "read-all", summary="Mark all my notifications read", response={200: ReadAllOut, **NOTIFICATION_ERRORS}
)
def notification_read_all(request: HttpRequest) -> dict[str, Any]:
    """Mark every unread notification of the caller read."""
    return {"marked": services.notification_read_all(user=request_actor(request))}


@router.post(
    "{uuid:notification_id}/read",
    summary="Mark a notification read",
    response={200: NotificationOut, **NOTIFICATION_ERRORS},
)
def notification_read(request: HttpRequest, notification_id: uuid.UUID) -> Notification:
    """Mark one of the caller's notifications read; another user's id is a 404."""
    return services.notification_read(user=request_actor(request), notification_id=notification_id)


@router.delete(
    "{uuid:notification_id}", summary="Delete a notification", response={204: None, **NOTIFICATION_ERRORS}
)
def notification_delete(request: HttpRequest, notification_id: uuid.UUID) -> Status[None]:
    """Remove one of the caller's notifications from the inbox; another user's id is a 404."""
    services.notification_delete(user=request_actor(request), notification_id=notification_id)
    return Status(204, None)
