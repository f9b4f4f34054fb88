"""Reads of the members module: the only way tenant code reaches the shared user mirror.

``tenants.User`` holds every user of the platform; these selectors answer only users seen on the
current organization, so another organization's user is exactly a user that does not exist (same
error, same single query).
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django_tenants.utils import tenant_context

from apps.audit.services import audit_access
from apps.members.errors import MemberNotFound, MembershipNotFound
from apps.members.models import Member
from tenants.models import Organization, User


def organization_users() -> QuerySet[User]:
    """The users of the current organization (one query; usable as a subquery)."""
    return User.objects.filter(id__in=Member.objects.values("user_id"))


def organization_user_get(*, user_id: uuid.UUID) -> User:
    """The user ``user_id`` if it belongs to the current organization; anything else is not found."""
    user = organization_users().filter(id=user_id).first()
    if user is None:
        raise MemberNotFound()
    return user


def organization_user_email(user_ref: str) -> Subquery:
    """The email of the user an outer query's column ``user_ref`` names (an audit entry's
    ``actor_id``), as this organization knows it (``Member.email``, never the shared mirror's), or
    ``NULL`` when that user does not belong to this organization or has no known email: for annotating
    rows that name a user, in the same query."""
    emails = Member.objects.filter(user_id=OuterRef(user_ref)).exclude(email="").values("email")
    return Subquery(emails[:1])


def member_list(*, role: str | None = None) -> QuerySet[Member]:
    """The organization's members (users holding a role here), by user id; optionally of one role."""
    members = Member.objects.filter(role__isnull=False)
    if role is not None:
        members = members.filter(role=role)
    return members.order_by("user_id")


def member_get(*, user_id: uuid.UUID) -> Member:
    """The membership of ``user_id``; a user without a role here (or of another organization) is not
    found."""
    member = member_list().filter(user_id=user_id).first()
    if member is None:
        raise MembershipNotFound()
    audit_access(instance=member)
    return member


def member_role_read(*, tenant: Organization, user_id: uuid.UUID) -> str | None:
    """The role ``user_id`` holds in ``tenant``, read in a short transaction of its own under the
    organization's row-level-security setting (``tenants.db.backend``): for authentication, which runs
    before the request's transaction and must see this organization's memberships only."""
    with tenant_context(tenant), transaction.atomic():
        return Member.objects.filter(user_id=user_id).values_list("role", flat=True).first()
