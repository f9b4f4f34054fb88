"""Shared fixtures: a real PostgreSQL (embedded, or DATABASE_URL), two organizations provisioned once
per session, tokens for every role, and Django test clients bound to a tenant host."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.test import Client
from django_tenants.utils import tenant_context

from tenants.ddl import public_schema_migrate
from tenants.models import Organization
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tenants.template import template_ensure
from tests.fakes import FakeIdentityService

# Browser fixtures (``browser``, ``page``, ``hub_server``) for the tests that drive headless Chromium;
# the job queue's (``job_queue``) for the tests that run a worker.
pytest_plugins = ["tests.browser", "tests.jobs"]

ALPHA_ID = uuid.UUID("aaaaaaaa-0000-4000-8000-00000000000a")
BETA_ID = uuid.UUID("bbbbbbbb-0000-4000-8000-00000000000b")
SESSION_TENANTS = {ALPHA_ID: "alpha", BETA_ID: "beta"}


def _drop_leftover_tenants() -> None:
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'org\\_%'")
        for (schema,) in cursor.fetchall():
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        cursor.execute(
            "DELETE FROM tenants_datakey; DELETE FROM tenants_domain; DELETE FROM tenants_organization"
        )


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: Any) -> None:
    """Migrate the test database and provision the two session organizations (committed)."""
    with django_db_blocker.unblock():
        public_schema_migrate()
        _drop_leftover_tenants()
        template_ensure()  # built once (rebuilt when the migrations changed): organizations are cloned
        for organization_id, slug in SESSION_TENANTS.items():
            tenant_provision(
                organization_id=organization_id, slug=slug, name=slug.title(), check_identity=False
            )


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def tenant_a(db: None) -> Organization:
    return Organization.objects.get(organization_id=ALPHA_ID)


@pytest.fixture
def tenant_b(db: None) -> Organization:
    return Organization.objects.get(organization_id=BETA_ID)


@pytest.fixture
def committed_db(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Database access without the per-test rollback, for work that must commit (provisioning on the
    owner connection, seen by the runtime connection). Organizations made here are deleted after."""
    with django_db_blocker.unblock():
        yield
        for tenant in Organization.objects.exclude(organization_id__in=SESSION_TENANTS):
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))


TokenFactory = Callable[..., str]


@pytest.fixture
def make_token() -> TokenFactory:
    """``make_token(tenant, roles, **claim_overrides, key=..., algorithm=..., headers=...)``."""

    def factory(
        tenant: Organization | uuid.UUID | None = None,
        roles: list[str] | None = None,
        *,
        key: Any = None,
        algorithm: str = "HS256",
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        tenant_id = tenant.organization_id if isinstance(tenant, Organization) else tenant
        claims: dict[str, Any] = {
            "sub": str(uuid.UUID(int=0x1234)),
            "email": "someone@example.com",
            "tenant_id": str(tenant_id) if tenant_id else None,
            "type": "access",
            "iat": now,
            "exp": now + 600,
        }
        if roles is not None:
            claims["roles"] = roles
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not ...}
        return jwt.encode(claims, key or settings.IDENTITY_JWT_SECRET, algorithm=algorithm, headers=headers)

    return factory


ClientFactory = Callable[..., Client]


@pytest.fixture
def client_for(make_token: TokenFactory) -> ClientFactory:
    """``client_for(tenant, roles)``: a Django test client (full middleware) on the tenant's host.

    ``tenant=None`` gives a client on the bare domain (platform API); ``roles=None`` sends no token.
    """

    def factory(tenant: Organization | None, roles: list[str] | None = None, **claims: Any) -> Client:
        headers = {"Host": tenant.primary_domain if tenant else settings.HUB_BASE_DOMAIN}
        if roles is not None:
            headers["Authorization"] = f"Bearer {make_token(tenant, roles, **claims)}"
        return Client(headers=headers)

    return factory


@pytest.fixture
def admin_client(client_for: ClientFactory, tenant_a: Organization) -> Client:
    return client_for(tenant_a, ["admin"])


@pytest.fixture
def member_client(client_for: ClientFactory, tenant_a: Organization) -> Client:
    return client_for(tenant_a, ["member"])


@pytest.fixture
def viewer_client(client_for: ClientFactory, tenant_a: Organization) -> Client:
    return client_for(tenant_a, ["viewer"])


@pytest.fixture
def b_member_client(client_for: ClientFactory, tenant_b: Organization) -> Client:
    return client_for(tenant_b, ["member"], sub=str(uuid.UUID(int=0xB0B)))


@pytest.fixture
def platform_client(client_for: ClientFactory) -> Client:
    return client_for(None, ["platform_admin"])


@pytest.fixture
def in_tenant() -> Callable[[Organization], Any]:
    """``with in_tenant(tenant):`` runs ORM code in the tenant's schema and organization."""
    return tenant_context


def _identity_serve(settings: Any, fake: FakeIdentityService) -> Iterator[FakeIdentityService]:
    fake.start()
    settings.IDENTITY_SERVICE_URL = fake.url
    yield fake
    fake.stop()


@pytest.fixture
def identity_service(settings: Any) -> Iterator[FakeIdentityService]:
    """A real HTTP server on 127.0.0.1 playing the identity service; IDENTITY_SERVICE_URL points at it.
    Only the routes a test scripts answer (``route()``); any other path is FastAPI's 404. Its validate
    answer is a source of roles, after the token's and the memberships."""
    settings.IDENTITY_ROLES_SOURCE = ("token", "membership", "identity")
    yield from _identity_serve(settings, FakeIdentityService())


@pytest.fixture
def fake_identity(settings: Any) -> Iterator[FakeIdentityService]:
    """The identity service as the real one answers (``tenants.fake_identity``): users, organizations
    and memberships in memory, login, validate, organizations behind a user's token, tokens without
    roles signed with IDENTITY_JWT_SECRET. IDENTITY_SERVICE_URL points at it."""
    yield from _identity_serve(settings, FakeIdentityService(secret=settings.IDENTITY_JWT_SECRET))


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on (a neighbour service that is down)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
