"""Reads of the members module: the only way tenant code reaches the shared user mirror.

``tenants.User`` holds every user of the platform; these selectors answer only users seen on the
current organization, so another organization's user is exactly a user that does not exist (same
error, same single query).
"""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

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
