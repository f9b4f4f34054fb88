"""Writes of the members module: recording the users seen on the organization."""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import transaction

from apps.members.models import Member
from tenants.models import Organization

# How long a sighting is remembered before the next request writes ``last_seen_at`` again.
SEEN_CACHE_SECONDS = 300


def member_seen(*, tenant: Organization, user_id: uuid.UUID) -> None:
    """Record that ``user_id`` (already in the user mirror) made a request on the current organization.

    At most one write per user and organization every ``SEEN_CACHE_SECONDS``; remembered only once the
    request's transaction commits, so a rolled-back request never leaves the cache claiming a row that
    is not there. ``tenant`` (the current one) keys the cache only: its creation time is in the key, so
    an organization deleted and provisioned again under the same id starts with nobody remembered.
    """
    key = f"hub:member-seen:{tenant.organization_id}:{tenant.created_at.timestamp()}:{user_id}"
    if cache.get(key):
        return
    Member.objects.bulk_create(
        [Member(user_id=user_id)],
        update_conflicts=True,
        unique_fields=["user"],
        update_fields=["last_seen_at"],
    )
    transaction.on_commit(lambda: cache.set(key, True, SEEN_CACHE_SECONDS))
