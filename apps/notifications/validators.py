"""Validation of alert rules against the event catalogue: each problem a 422 naming its field."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from django.conf import settings

from apps.members.models import Member, MemberRole
from apps.members.selectors import organization_users
from apps.notifications.catalogue import CATALOGUE, OPERATORS
from apps.notifications.errors import NotificationErrorCode, RuleInvalid
from apps.notifications.models import Channel, RuleAction

NAME_MAX = 200
CONDITIONS_MAX = 20
IN_VALUES_MAX = 100
CODE_MAX = 64
QUIET_MINUTES_MAX = 7 * 24 * 60


def name_clean(value: Any) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > NAME_MAX:
        raise RuleInvalid(f"name must be 1 to {NAME_MAX} characters.", field="name")
    return name


def event_type_clean(value: Any) -> str:
    if value not in CATALOGUE:
        raise RuleInvalid(
            f"Unknown event type {value!r}; one of: {', '.join(sorted(CATALOGUE))}.",
            field="event_type",
            code=NotificationErrorCode.EVENT_TYPE_UNKNOWN,
        )
    return str(value)


def quiet_minutes_clean(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= QUIET_MINUTES_MAX:
        raise RuleInvalid(f"quiet_minutes must be 0 to {QUIET_MINUTES_MAX}.", field="quiet_minutes")
    return value


def action_clean(value: Any) -> str:
    if value not in RuleAction.values:
        raise RuleInvalid(f"action must be one of {', '.join(RuleAction.values)}.", field="action")
    return str(value)


def channels_clean(value: Any, *, action: str) -> list[str]:
    """Known channels, each once; at least one for a ``notify`` rule, none for a ``workflow`` one."""
    channels = value if isinstance(value, list) else []
    for index, channel in enumerate(channels):
        if channel not in Channel.values:
            raise RuleInvalid(
                f"Unknown channel {channel!r}; one of: {', '.join(Channel.values)}.",
                field=f"channels.{index}",
                code=NotificationErrorCode.CHANNEL_UNKNOWN,
            )
    if action == RuleAction.WORKFLOW and channels:
        raise RuleInvalid("A workflow rule has no channels.", field="channels")
    if action == RuleAction.NOTIFY and not channels:
        raise RuleInvalid("A notify rule needs at least one channel.", field="channels")
    return list(dict.fromkeys(channels))


def _one_value(value: Any, *, kind: str, field: str) -> Any:
    """``value`` as the catalogue's ``kind`` stores it in a rule (JSON), or a 422 naming ``field``."""
    problem = f"value must be a{'n' if kind[0] in 'aeiou' else ''} {kind}."
    try:
        if kind in ("uuid", "uuid_list"):
            if not isinstance(value, str):
                raise ValueError
            return str(uuid.UUID(value))
        if kind == "code":
            if not isinstance(value, str) or not 0 < len(value) <= CODE_MAX:
                raise ValueError
            return value
        if kind == "decimal":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError
            number = decimal.Decimal(str(value))
            if not number.is_finite():
                raise ValueError
            return str(number)
        if kind == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError
            return value
        if kind == "bool":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "datetime":
            moment = datetime.datetime.fromisoformat(value) if isinstance(value, str) else None
            if moment is None or moment.tzinfo is None:
                raise ValueError
            return moment.isoformat()
    except (ValueError, TypeError, decimal.InvalidOperation):
        raise RuleInvalid(problem, field=field, code=NotificationErrorCode.CONDITION_INVALID) from None
    raise AssertionError(kind)


def _condition_clean(condition: Any, *, fields: dict[str, str], index: int) -> dict[str, Any]:
    where = f"conditions.{index}"
    if not isinstance(condition, dict) or set(condition) != {"field", "op", "value"}:
        raise RuleInvalid(
            "A condition is {field, op, value}.", field=where, code=NotificationErrorCode.CONDITION_INVALID
        )
    name, op, value = condition["field"], condition["op"], condition["value"]
    kind = fields.get(name) if isinstance(name, str) else None
    if kind is None:
        raise RuleInvalid(
            f"This event has no field {name!r}; its fields: {', '.join(sorted(fields))}.",
            field=f"{where}.field",
            code=NotificationErrorCode.CONDITION_INVALID,
        )
    if op not in OPERATORS[kind]:
        raise RuleInvalid(
            f"{name} ({kind}) takes the operators {', '.join(sorted(OPERATORS[kind]))}.",
            field=f"{where}.op",
            code=NotificationErrorCode.CONDITION_INVALID,
        )
    if op == "in":
        if not isinstance(value, list) or not 0 < len(value) <= IN_VALUES_MAX:
            raise RuleInvalid(
                f"in takes a list of 1 to {IN_VALUES_MAX} values.",
                field=f"{where}.value",
                code=NotificationErrorCode.CONDITION_INVALID,
            )
        cleaned: Any = [
            _one_value(item, kind=kind, field=f"{where}.value.{i}") for i, item in enumerate(value)
        ]
    else:
        cleaned = _one_value(value, kind=kind, field=f"{where}.value")
    return {"field": name, "op": op, "value": cleaned}


def conditions_clean(value: Any, *, event_type: str) -> list[dict[str, Any]]:
    """Conditions on fields ``event_type`` has, with operators and values their types take."""
    if not isinstance(value, list) or len(value) > CONDITIONS_MAX:
        raise RuleInvalid(f"conditions is a list of at most {CONDITIONS_MAX}.", field="conditions")
    fields = CATALOGUE[event_type]
    return [_condition_clean(condition, fields=fields, index=index) for index, condition in enumerate(value)]


def recipients_clean(value: Any, *, action: str) -> dict[str, Any]:
    """User ids of this organization's users, roles of it, and whether the entity's own contact is told;
    the fan-out (users now holding those roles included) at most ``HUB_NOTIFICATION_MAX_RECIPIENTS``.

    A user id that is not of this organization is refused with the same words whether or not the user
    exists elsewhere."""
    value = value if isinstance(value, dict) else {}
    user_ids = [str(user_id) for user_id in value.get("user_ids", [])]
    roles = list(dict.fromkeys(value.get("roles", [])))
    entity_contact = bool(value.get("entity_contact", False))
    for index, role in enumerate(roles):
        if role not in MemberRole.values:
            raise RuleInvalid(
                f"Unknown role {role!r}; one of: {', '.join(MemberRole.values)}.",
                field=f"recipients.roles.{index}",
                code=NotificationErrorCode.RECIPIENT_INVALID,
            )
    user_ids = list(dict.fromkeys(user_ids))
    known = {
        str(user_id) for user_id in organization_users().filter(id__in=user_ids).values_list("id", flat=True)
    }
    for index, user_id in enumerate(user_ids):
        if user_id not in known:
            raise RuleInvalid(
                f"{user_id} is not a user of this organization.",
                field=f"recipients.user_ids.{index}",
                code=NotificationErrorCode.RECIPIENT_INVALID,
            )
    fan_out = len(set(user_ids) | _role_holders(roles)) + int(entity_contact)
    most = settings.HUB_NOTIFICATION_MAX_RECIPIENTS
    if fan_out > most:
        raise RuleInvalid(
            f"This rule would notify {fan_out} recipients; at most {most}.",
            field="recipients",
            code=NotificationErrorCode.FAN_OUT_TOO_LARGE,
        )
    if action == RuleAction.NOTIFY and not (user_ids or roles or entity_contact):
        raise RuleInvalid("A notify rule needs recipients.", field="recipients")
    return {"user_ids": user_ids, "roles": roles, "entity_contact": entity_contact}


def _role_holders(roles: list[str]) -> set[str]:
    if not roles:
        return set()
    limit = settings.HUB_NOTIFICATION_MAX_RECIPIENTS + 1  # counting further changes nothing
    holders = Member.objects.filter(role__in=roles).values_list("user_id", flat=True)[:limit]
    return {str(user_id) for user_id in holders}
