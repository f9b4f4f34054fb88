"""HTTP of the members module: the organization's memberships (admins only) and ``/me`` (any role)."""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from api.auth import admin_auth, request_actor, request_principal
from api.pagination import paginate_audited
from apps.members import selectors, services
from apps.members.models import Member
from apps.members.schemas import MEMBER_ERRORS, MemberFilter, MemberIn, MemberOut, MemberPage, MeOut

router = Router(auth=admin_auth)
me_router = Router()


@router.get("", summary="List members", response={200: MemberPage, **MEMBER_ERRORS})
def member_list(request: HttpRequest, filters: Query[MemberFilter]) -> dict[str, Any]:
    """The organization's memberships and their roles, optionally of one `role`, a page at a time. Admins
    only."""
    members = selectors.member_list(role=filters.role)
    return paginate_audited(members, page=filters)


@router.get("{user_id}", summary="Read a member", response={200: MemberOut, **MEMBER_ERRORS})
def member_read(request: HttpRequest, user_id: uuid.UUID) -> Member:
    """One user's membership of the organization: its role and email. Admins only."""
    return selectors.member_get(user_id=user_id)


@router.put(
    "{user_id}", summary="Add a member or change its role", response={200: MemberOut, **MEMBER_ERRORS}
)
def member_put(request: HttpRequest, user_id: uuid.UUID, payload: MemberIn) -> Member:
    """Give the user this role here: adds the member, or changes its role. Demoting the last admin: 409."""
    return services.member_role_set(
        actor=request_actor(request), user_id=user_id, role=payload.role, email=payload.email
    )


@router.delete("{user_id}", summary="Remove a member", response={204: None, **MEMBER_ERRORS})
def member_delete(request: HttpRequest, user_id: uuid.UUID) -> Status[None]:
    """End the membership. Removing the last admin: 409."""
    services.member_remove(actor=request_actor(request), user_id=user_id)
    return Status(204, None)


@me_router.get("", summary="Read who I am", response={200: MeOut, **MEMBER_ERRORS})
def me_read(request: HttpRequest) -> dict[str, Any]:
    """Who the caller is on this organization: its roles, where they came from, what they allow."""
    principal, tenant = request_principal(request), request.tenant  # type: ignore[attr-defined]
    return {
        "user_id": principal.user_id,
        "email": principal.email or None,
        "organization": {"id": tenant.organization_id, "slug": tenant.slug, "name": tenant.name},
        "roles": sorted(principal.roles),
        "roles_source": principal.roles_source,
        "permissions": principal.permissions,
    }
