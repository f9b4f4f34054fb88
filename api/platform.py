"""Platform API v1 (bare ``HUB_BASE_DOMAIN``): organization lifecycle, ``platform_admin`` only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import NinjaAPI, Query, Schema, Status
from pydantic import ConfigDict, Field

from api.auth import platform_auth, request_actor, request_token
from api.errors import StrictJSONParser, install_error_handlers
from api.pagination import Page, PageParams, paginate
from api.platform_jobs import router as platform_jobs_router
from api.schemas import BodyIn, ErrorBody, InputSchema, error_responses
from apps.members.services import EMAIL_MAX_LENGTH, EMAIL_PATTERN, Owner
from apps.usage.api import router as usage_router
from hub.errors import HubErrorCode
from tenants import selectors, services
from tenants.errors import TenantErrorCode
from tenants.models import Organization

api = NinjaAPI(
    title="Hub platform API",
    version="1",
    description=(
        "Provision, suspend, activate and delete organizations; the background job queue and the audit "
        "verifications. `platform_admin` only."
    ),
    urls_namespace="platform-v1",
    auth=platform_auth,
    parser=StrictJSONParser(),
)
install_error_handlers(api)
api.add_router("/", platform_jobs_router)
api.add_router("/", usage_router)


class OwnerIn(InputSchema):
    user_id: uuid.UUID
    email: str = Field(max_length=EMAIL_MAX_LENGTH, pattern=EMAIL_PATTERN)


class TenantIn(BodyIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organization_id": "c56a4180-65aa-42ec-a945-5fd21dec0538",
                    "slug": "acme",
                    "name": "Acme GmbH",
                }
            ]
        }
    )

    organization_id: uuid.UUID
    slug: str = Field(max_length=63)
    name: str = Field(max_length=200)
    owner: OwnerIn | None = Field(None, description="The organization's first admin (a membership).")
    skip_identity_check: bool = Field(
        False, description="Dev and test only: do not ask the identity service."
    )


class TenantPatch(BodyIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Acme Holding GmbH"}]})

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
    action: (
        Literal["provision", "rename", "suspend", "activate", "delete", "rotate_keys", "retry_job"] | None
    ) = None


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


@api.post(
    "/tenants",
    summary="Provision an organization",
    response={201: TenantOut, **TENANT_ERRORS},
    tags=["tenants"],
)
def tenant_create(request: HttpRequest, payload: TenantIn) -> Status[Organization]:
    """Create the organization's schema (migrated, under row-level security) and its domain
    `<slug>.HUB_BASE_DOMAIN`, once the identity service confirms the organization (`skip_identity_check`
    skips that, outside production only). With `owner`, that user becomes its first admin."""
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


@api.get(
    "/tenants", summary="List organizations", response={200: TenantPage, **TENANT_ERRORS}, tags=["tenants"]
)
def tenant_list(request: HttpRequest, page: Query[PageParams]) -> dict[str, object]:
    """Every provisioned organization with its slug, domain and status, a page at a time."""
    return paginate(selectors.tenant_list(), page=page)


@api.get(
    "/tenants/{organization_id}",
    summary="Read an organization",
    response={200: TenantOut, **TENANT_ERRORS},
    tags=["tenants"],
)
def tenant_read(request: HttpRequest, organization_id: uuid.UUID) -> Organization:
    """The organization's slug, name, schema, domain and status."""
    return selectors.tenant_get(organization_id=organization_id)


@api.patch(
    "/tenants/{organization_id}",
    summary="Rename an organization",
    response={200: TenantOut, **TENANT_ERRORS},
    tags=["tenants"],
)
def tenant_update(request: HttpRequest, organization_id: uuid.UUID, payload: TenantPatch) -> Organization:
    """Change the organization's display name; its slug and domain stay."""
    tenant = selectors.tenant_get(organization_id=organization_id)
    return services.tenant_rename(tenant=tenant, name=payload.name, actor=request_actor(request).id)


@api.post(
    "/tenants/{organization_id}/suspend",
    summary="Suspend an organization",
    response={200: TenantOut, **TENANT_ERRORS},
    tags=["tenants"],
)
def tenant_suspend(request: HttpRequest, organization_id: uuid.UUID) -> Organization:
    """Its host answers 403 `tenant_suspended` to every request until it is activated again; its data
    stays."""
    tenant = selectors.tenant_get(organization_id=organization_id)
    return services.tenant_suspend(tenant=tenant, actor=request_actor(request).id)


@api.post(
    "/tenants/{organization_id}/activate",
    summary="Activate an organization",
    response={200: TenantOut, **TENANT_ERRORS},
    tags=["tenants"],
)
def tenant_activate(request: HttpRequest, organization_id: uuid.UUID) -> Organization:
    """Serve a suspended organization again."""
    tenant = selectors.tenant_get(organization_id=organization_id)
    return services.tenant_activate(tenant=tenant, actor=request_actor(request).id)


@api.delete(
    "/tenants/{organization_id}",
    summary="Delete an organization",
    response={204: None, **TENANT_ERRORS},
    tags=["tenants"],
)
def tenant_delete(
    request: HttpRequest, organization_id: uuid.UUID, params: Query[DeleteParams]
) -> Status[None]:
    """Drop the organization's schema with all its data, and its domain. `?confirm=` must repeat the
    organization id, else 400 `confirmation_required` and nothing is deleted."""
    tenant = selectors.tenant_get(organization_id=organization_id)
    services.tenant_delete(tenant=tenant, confirm=params.confirm, actor=request_actor(request).id)
    return Status(204, None)


@api.get(
    "/audit",
    summary="List the platform's audit trail",
    response={200: PlatformAuditPage, **TENANT_ERRORS},
    tags=["audit"],
)
def platform_audit_list(request: HttpRequest, query: Query[PlatformAuditQuery]) -> dict[str, Any]:
    """The platform's audit trail (organization lifecycle), newest first, a page at a time."""
    entries = selectors.platform_audit_list(organization_id=query.organization_id, action=query.action)
    return paginate(entries, page=query)


# Last: the archive endpoints share TenantError (defined above) with every other /tenants path.
from api.platform_archives import router as platform_archives_router  # noqa: E402

api.add_router("/", platform_archives_router)
