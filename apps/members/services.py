"""Writes of the members module: the users seen on the organization, and its memberships (roles).

Every change of a membership is audited (``apps.audit``): the role is a code and shows, the email is
personal (``Member.PERSONAL_FIELDS``) and shows only that it changed. An organization never loses its
last admin: every membership write first locks the admins' rows, so two admins demoting each other at
once are served one after the other, and the second sees one admin left.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction

from apps.audit.models import AuditEntry
from apps.audit.services import (
    AuditBuffer,
    audit_buffering,
    audit_change,
    audit_seal_after_commit,
    audit_snapshot,
)
from apps.members.errors import LastAdmin, MembershipNotFound, OwnerInvalid
from apps.members.models import Member, MemberRole
from tenants.models import Organization, User

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
EMAIL_MAX_LENGTH = 254

# How long a sighting is remembered before the next request writes ``last_seen_at`` again.
SEEN_CACHE_SECONDS = 300


def member_seen(*, tenant: Organization, user_id: uuid.UUID, email: str = "") -> None:
    """Record that ``user_id`` (already in the user mirror) made a request on the current organization,
    with the email of its token when it has one.

    At most one write per user and organization every ``SEEN_CACHE_SECONDS``; remembered only once the
    request's transaction commits, so a rolled-back request never leaves the cache claiming a row that
    is not there. ``tenant`` (the current one) keys the cache only: its creation time is in the key, so
    an organization deleted and provisioned again under the same id starts with nobody remembered.
    """
    key = f"hub:member-seen:{tenant.organization_id}:{tenant.created_at.timestamp()}:{user_id}"
    if cache.get(key):
        return
    Member.objects.bulk_create(
        [Member(user_id=user_id, email=email)],
        update_conflicts=True,
        unique_fields=["user"],
        update_fields=["last_seen_at", "email"] if email else ["last_seen_at"],
    )
    transaction.on_commit(lambda: cache.set(key, True, SEEN_CACHE_SECONDS))


def _admins_lock() -> list[uuid.UUID]:
    """Lock the rows of the organization's admins (in one order, so writers queue without deadlock) and
    return their user ids as they are once the lock is held."""
    return list(
        Member.objects.select_for_update()
        .filter(role=MemberRole.ADMIN)
        .order_by("id")
        .values_list("user_id", flat=True)
    )


def _member_lock(*, user_id: uuid.UUID, email: str) -> Member:
    """The row of ``user_id``, locked; created (with the user's mirror row) when there is none."""
    User.objects.bulk_create(
        [User(id=user_id, email="", password="!")],  # noqa: S106 - unusable, as the mirror's rows are
        ignore_conflicts=True,
    )
    Member.objects.bulk_create([Member(user_id=user_id, email=email)], ignore_conflicts=True)
    return Member.objects.select_for_update().get(user_id=user_id)


def _membership_write(*, member: Member, role: str | None, email: str | None, actor: User | None) -> Member:
    before, role_before = audit_snapshot(member), member.role
    member.role = role
    if email is not None:
        member.email = email
    fields = [name for name in ("role", "email") if getattr(before, name) != getattr(member, name)]
    if not fields:
        return member
    member.save(update_fields=fields)
    if role is None:
        action = AuditEntry.Action.DELETE
    elif role_before is None:
        action = AuditEntry.Action.CREATE
    else:
        action = AuditEntry.Action.UPDATE
    audit_change(action=action, instance=member, before=before, actor=actor, fields=fields)
    return member


def member_role_set(
    *, actor: User | None, user_id: uuid.UUID, role: MemberRole, email: str | None = None
) -> Member:
    """Give ``user_id`` the role ``role`` here: a new membership, or a changed one (and its email when
    given). Demoting the last admin is refused (``LastAdmin``)."""
    with transaction.atomic():
        admins = _admins_lock()
        member = _member_lock(user_id=user_id, email=email or "")
        if member.role == MemberRole.ADMIN and role != MemberRole.ADMIN and len(admins) <= 1:
            raise LastAdmin()
        return _membership_write(member=member, role=role, email=email, actor=actor)


def member_remove(*, actor: User | None, user_id: uuid.UUID) -> None:
    """End the membership of ``user_id`` (the user stays known as seen, without a role). Removing the
    last admin is refused (``LastAdmin``); a user without a membership here is not found."""
    with transaction.atomic():
        admins = _admins_lock()
        member = Member.objects.select_for_update().filter(user_id=user_id, role__isnull=False).first()
        if member is None:
            raise MembershipNotFound()
        if member.role == MemberRole.ADMIN and len(admins) <= 1:
            raise LastAdmin()
        _membership_write(member=member, role=None, email=None, actor=actor)


def member_join(*, user_id: uuid.UUID, email: str, role: MemberRole) -> Member:
    """Auto-join (``HUB_DEFAULT_MEMBER_ROLE``): ``user_id``, whose token names this organization, gets
    ``role`` here unless a membership was recorded meanwhile. The user is its own actor."""
    with transaction.atomic():
        member = _member_lock(user_id=user_id, email=email)
        if member.role is not None:
            return member
        return _membership_write(member=member, role=role, email=email or None, actor=User(id=user_id))


@dataclass(frozen=True)
class Owner:
    """The first admin of an organization, named when it is provisioned."""

    user_id: uuid.UUID
    email: str

    def __post_init__(self) -> None:
        if len(self.email) > EMAIL_MAX_LENGTH or not re.fullmatch(EMAIL_PATTERN, self.email):
            raise OwnerInvalid(field="owner.email")


def member_owner_create(*, owner: Owner, actor: uuid.UUID | None, using: str) -> Member:
    """Make ``owner`` the first admin of the organization being provisioned, audited in its trail.

    Runs on ``using`` (the owner connection, set to the new organization's schema by the caller) inside
    the provisioning's transaction, so the organization never exists without its first admin."""
    User.objects.using(using).bulk_create(
        [User(id=owner.user_id, email="", password="!")],  # noqa: S106 - unusable, as the mirror's are
        ignore_conflicts=True,
    )
    actor_user = User.objects.using(using).filter(id=actor).first() if actor else None
    member = Member(user_id=owner.user_id, email=owner.email, role=MemberRole.ADMIN)
    member.save(using=using, force_insert=True)
    with audit_buffering(AuditBuffer(actor=actor_user)) as buffer:
        audit_change(action=AuditEntry.Action.CREATE, instance=member, actor=actor_user)
    AuditEntry.objects.using(using).bulk_create(buffer.entries)
    audit_seal_after_commit(using=using)
    return member
