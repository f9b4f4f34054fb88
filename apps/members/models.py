"""The users seen on this organization: the tenant side of the shared user mirror.

``tenants.User`` lives in the shared (public) schema and holds every user of the platform; this table,
in the organization's schema behind row-level security, says which of them belong here. Tenant code
reaches a user only through it (``apps.members.selectors``), so another organization's user is never
found. Hub-held memberships (roles) grow from this row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Member(models.Model):
    """A user who made an authenticated request on this organization: first and last seen."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return str(self.user_id)
