"""The users of this organization: those seen on it, and its members (a role held in the Hub).

``tenants.User`` lives in the shared (public) schema and holds every user of the platform; this table,
in the organization's schema behind row-level security, says which of them belong here. Tenant code
reaches a user only through it (``apps.members.selectors``), so another organization's user is never
found. A row with a ``role`` is a membership (``/api/v1/members/``); without one, a user seen here
whose roles come from elsewhere (the token, the identity service).

The member's email is kept here, not read from the shared mirror: a list of this organization's
members never reads anything another organization could have written.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class MemberRole(models.TextChoices):
    """The roles a membership may hold (every role but `platform_admin`)."""

    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Member(models.Model):
    """A user of this organization: first and last seen, email, and the role held here (if any)."""

    # Personal: an audit entry shows only that it changed.
    PERSONAL_FIELDS = ("email",)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, db_constraint=False, on_delete=models.PROTECT, related_name="+"
    )
    email = models.EmailField(blank=True, default="")
    # NULL, not "": a user seen here whose roles come from elsewhere (no membership).
    role = models.CharField(  # noqa: DJ001
        max_length=16, choices=MemberRole.choices, null=True, blank=True, default=None
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__isnull=True) | models.Q(role__in=MemberRole.values),
                name="members_member_role_valid",
            ),
        ]
        indexes = [models.Index(fields=["role", "user"], name="members_member_role_user")]

    def __str__(self) -> str:
        return str(self.user_id)
