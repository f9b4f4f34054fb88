"""Reads of the members module: the only way tenant code reaches the shared user mirror.

``tenants.User`` holds every user of the platform; these selectors answer only users seen on the
current organization, so another organization's user is exactly a user that does not exist (same
error, same single query).
"""

from __future__ import annotations

import uuid

from django.db.models import OuterRef, QuerySet, Subquery

from apps.members.errors import MemberNotFound
from apps.members.models import Member
from tenants.models import User


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
    ``actor_id``), or ``NULL`` when that user does not belong to this organization: for annotating
    rows that name a user, in the same query."""
    return Subquery(organization_users().filter(id=OuterRef(user_ref)).values("email")[:1])
