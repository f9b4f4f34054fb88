"""Platform API v1 (bare ``HUB_BASE_DOMAIN``): organization lifecycle, ``platform_admin`` only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import NinjaAPI, Query, Schema, Status
from pydantic import Field

from api.auth import platform_auth, request_actor, request_token
from api.errors import StrictJSONParser, install_error_handlers
from api.pagination import Page, PageParams, paginate
from api.schemas import BodyIn, ErrorBody, InputSchema, error_responses
from apps.members.services import EMAIL_MAX_LENGTH, EMAIL_PATTERN, Owner
from hub.errors import HubErrorCode
from tenants import selectors, services
from tenants.errors import TenantErrorCode
from tenants.models import Organization

api = NinjaAPI(
    title="Hub platform API",
    version="1",
    description="Provision, suspend, activate and delete organizations. `platform_admin` only.",
    urls_namespace="platform-v1",
    auth=platform_auth,
    parser=StrictJSONParser(),
)
install_error_handlers(api)


class OwnerIn(InputSchema):
    user_id: uuid.UUID
    email: str = Field(max_length=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN)


class TenantIn(BodyIn):
    organization_id: uuid.UUID
    slug: str = Field(max_length=63)
    name: str = Field(max_length=200)
    owner: OwnerIn | None = Field(None, description="The organization's first admin (a membership).")
    skip_identity_check: bool = Field(
        False, description="Dev and test only: do not ask the identity service."
    )


class TenantPatch(BodyIn):
    name: str = Field(max_length=200)


class TenantOut(Schema):
    organization_id: uuid.UUID
    slug: str
    name: str
    schema_name: str
    domain: str
    status: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_domain(tenant: Organization) -> str:
        return tenant.primary_domain


class TenantPage(Page):
    items: list[TenantOut]


class PlatformAuditQuery(PageParams):
    organization_id: uuid.UUID | None = None
    action: Literal["provision", "rename", "suspend", "activate", "delete", "rotate_keys"] | None = None


class PlatformAuditEntryOut(Schema):
    sequence: int
    timestamp: datetime
    actor_id: uuid.UUID | None = Field(description="The platform admin's user id; null for the system.")
    action: str
    organization_id: uuid.UUID
    changes: dict[str, Any]
    previous_hash: str
    entry_hash: str


class PlatformAuditPage(Page):
    items: list[PlatformAuditEntryOut]


class DeleteParams(Schema):
    confirm: str | None = Field(None, description="Must repeat the organization id.")


class TenantError(ErrorBody):
    code: TenantErrorCode | HubErrorCode


TENANT_ERRORS = error_responses(TenantError)


@api.post("/tenants", response={201: TenantOut, **TENANT_ERRORS}, tags=["tenants"])
def tenant_create(request: HttpRequest, payload: TenantIn) -> Status[Organization]:
    tenant = services.tenant_provision(
        organization_id=payload.organization_id,
        slug=payload.slug,
        name=payload.name,
        check_identity=not payload.skip_identity_check,
        identity_bearer=request_token(request),
        actor=request_actor(request).id,
        owner=Owner(user_id=payload.owner.user_id, email=payload.owner.email) if payload.owner else None,
    )
    return Status(201, tenant)


@api.get("/tenants", response={200: TenantPage, **TENANT_ERRORS}, tags=["tenants"])
def tenant_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, object]:
    return paginate(selectors.tenant_list(), page=page)


@api.get("/tenants/{organization_id}", response={200: TenantOut, **TENANT_ERRORS}, tags=["tenants"])
def tenant_read(request: HttpRequest, organization_id: uuid.UUID) -> Organization:
    return selectors.tenant_get(organization_id=organization_id)


@api.patch("/tenants/{organization_id}", response={200: TenantOut, **TENANT_ERRORS}, tags=["tenants"])
def tenant_update(request: HttpRequest, organization_id: uuid.UUID, payload: TenantPatch) -> Organization:
    tenant = selectors.tenant_get(organization_id=organization_id)
    return services.tenant_rename(tenant=tenant, name=payload.name, actor=request_actor(request).id)


@api.post("/tenants/{organization_id}/suspend", response={200: TenantOut, **TENANT_ERRORS}, tags=["tenants"])
def tenant_suspend(request: HttpRequest, organization_id: uuid.UUID) -> Organization:
    tenant = selectors.tenant_get(organization_id=organization_id)
    return services.tenant_suspend(tenant=tenant, actor=request_actor(request).id)


@api.post("/tenants/{organization_id}/activate", response={200: TenantOut, **TENANT_ERRORS}, tags=["tenants"])
def tenant_activate(request: HttpRequest, organization_id: uuid.UUID) -> Organization:
    tenant = selectors.tenant_get(organization_id=organization_id)
    return services.tenant_activate(tenant=tenant, actor=request_actor(request).id)


@api.delete("/tenants/{organization_id}", response={204: None, **TENANT_ERRORS}, tags=["tenants"])
def tenant_delete(
    request: HttpRequest, organization_id: uuid.UUID, params: Query[DeleteParams]
) -> Status[None]:
    tenant = selectors.tenant_get(organization_id=organization_id)
    services.tenant_delete(tenant=tenant, confirm=params.confirm, actor=request_actor(request).id)
    return Status(204, None)


@api.get("/audit", response={200: PlatformAuditPage, **TENANT_ERRORS}, tags=["audit"])
def platform_audit_list(request: HttpRequest, query: Query[PlatformAuditQuery]) -> dict[str, Any]:
    """The platform's audit trail (organization lifecycle), newest first, a page at a time."""
    entries = selectors.platform_audit_list(organization_id=query.organization_id, action=query.action)
    return paginate(entries, page=query)
