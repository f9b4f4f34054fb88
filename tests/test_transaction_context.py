"""The organization and schema are set per transaction, never left in the session (so they hold behind a
transaction-pooling PgBouncer), and survive savepoint rollbacks correctly; and no transaction is held open
while the Hub waits on another service."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test import Client

from tenants.db import tenant_connection
from tenants.models import Organization
from tests.fakes import FakeIdentityService
from tests.helpers import assert_error


def _context() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('hub.organization_id', true), current_setting('search_path')")
        organization, search_path = cursor.fetchone()
    return organization or "", search_path


def _session_context() -> tuple[str, str]:
    """What the server session holds outside any transaction, read past Django's wrappers."""
    raw = connection.connection
    assert raw.autocommit
    organization, search_path = raw.execute(
        "SELECT current_setting('hub.organization_id', true), current_setting('search_path')"
    ).fetchone()
    return organization or "", search_path


@pytest.mark.django_db
def test_each_statement_runs_under_the_current_tenant(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_a):
        assert _context() == (str(tenant_a.organization_id), f'"{tenant_a.schema_name}","public"')
        with in_tenant(tenant_b):
            assert _context() == (str(tenant_b.organization_id), f'"{tenant_b.schema_name}","public"')
        assert _context()[0] == str(tenant_a.organization_id)
    assert _context() == ("", '"public"')


def _fail_inside_savepoint(seen: list[str]) -> None:
    with transaction.atomic():
        seen.append(_context()[0])
        raise RuntimeError("roll the savepoint back")


@pytest.mark.django_db
def test_savepoint_rollback_does_not_leave_a_stale_context(tenant_a, tenant_b, in_tenant):
    with in_tenant(tenant_a):
        assert _context()[0] == str(tenant_a.organization_id)
        with in_tenant(tenant_b):
            inside: list[str] = []
            with pytest.raises(RuntimeError):
                _fail_inside_savepoint(inside)
            assert inside == [str(tenant_b.organization_id)]
            # PostgreSQL reverted the settings made inside the savepoint; they must be set again.
            assert _context()[0] == str(tenant_b.organization_id)


def test_autocommit_statements_leave_nothing_in_the_session(committed_db):
    tenant = Organization.objects.get(slug="alpha")
    assert connection.get_autocommit()
    tenant_connection().set_tenant(tenant)
    try:
        assert _context() == (str(tenant.organization_id), f'"{tenant.schema_name}","public"')
        assert _session_context() == ("", '"$user", public')
        with transaction.atomic():
            assert _context()[0] == str(tenant.organization_id)
        assert _session_context() == ("", '"$user", public')
    finally:
        tenant_connection().set_schema_to_public()


def test_a_request_leaves_nothing_in_the_session(committed_db, client_for):
    tenant = Organization.objects.get(slug="alpha")
    response = client_for(tenant, ["viewer"]).get("/api/v1/entities/")
    assert response.status_code == 200
    assert _session_context() == ("", '"$user", public')
    assert tenant_connection().schema_name == "public"


# --- no transaction held open while another service is asked (issue 10, item 14) ------------------

VALIDATE = "/api/v1/auth/validate"
JWKS_PATH = "/jwks.json"


Seen = list[list[tuple[str, str]]]


def _transactions_open(params: dict[str, Any]) -> list[tuple[str, str]]:
    """``(state, query)`` of every other session of the Hub's role on the test database that is inside
    a transaction right now, seen from a connection of its own."""
    with psycopg.connect(**params, autocommit=True) as observer:
        rows = observer.execute(
            "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND usename = current_user AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        ).fetchall()
    return [(str(state), str(query)) for state, query in rows]


def _probe(fake: FakeIdentityService, method: str, path: str, status: int, body: Any) -> Seen:
    """Route ``method path`` of the fake identity service: it answers ``status, body`` after looking,
    while the Hub waits on it, for Hub sessions inside a transaction; each look is recorded."""
    seen: Seen = []
    params = connection.get_connection_params()

    def handler(_payload: dict[str, Any] | None) -> tuple[int, Any]:
        seen.append(_transactions_open(params))
        return status, body

    fake.routes[(method, path)] = handler
    return seen


def _bearer(host: str, token: str) -> Client:
    return Client(headers={"Host": host, "Authorization": f"Bearer {token}"})


def _validate_answer(roles: list[str]) -> dict[str, Any]:
    return {"user_id": str(uuid.uuid4()), "email": "someone@example.com", "tenant_id": None, "roles": roles}


@pytest.fixture
def alpha(committed_db: None) -> Organization:
    return Organization.objects.get(slug="alpha")


def test_the_roles_lookup_runs_outside_any_transaction(alpha, identity_service, make_token):
    seen = _probe(identity_service, "POST", VALIDATE, 200, _validate_answer(["viewer"]))

    response = _bearer(alpha.primary_domain, make_token(alpha)).get("/api/v1/entities/")

    assert response.status_code == 200, response.content
    assert seen == [[]]


def test_a_refused_roles_lookup_runs_outside_any_transaction(alpha, identity_service, make_token):
    seen = _probe(identity_service, "POST", VALIDATE, 401, {"detail": "invalid token"})

    assert_error(
        _bearer(alpha.primary_domain, make_token(alpha)).get("/api/v1/entities/"), 401, "token_invalid"
    )
    assert seen == [[]]


def test_the_jwks_fetch_runs_outside_any_transaction(alpha, identity_service, make_token, settings):
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": "ec-probe"}
    seen = _probe(identity_service, "GET", JWKS_PATH, 200, {"keys": [jwk]})
    settings.IDENTITY_JWKS_URL = identity_service.url + JWKS_PATH
    settings.IDENTITY_JWT_ALGORITHMS = ["ES256"]
    token = make_token(alpha, ["viewer"], key=key, algorithm="ES256", headers={"kid": "ec-probe"})

    response = _bearer(alpha.primary_domain, token).get("/api/v1/entities/")

    assert response.status_code == 200, response.content
    assert seen == [[]]


def test_another_organizations_token_is_refused_before_any_call(alpha, identity_service, make_token):
    response = _bearer(alpha.primary_domain, make_token(uuid.uuid4())).get("/api/v1/entities/")

    assert_error(response, 403, "tenant_mismatch")
    assert identity_service.requests == []


def test_the_platform_roles_lookup_runs_outside_any_transaction(committed_db, identity_service, make_token):
    seen = _probe(identity_service, "POST", VALIDATE, 200, _validate_answer(["platform_admin"]))

    response = _bearer(django_settings.HUB_BASE_DOMAIN, make_token(None)).get("/api/platform/v1/tenants")

    assert response.status_code == 200, response.content
    assert seen == [[]]


def test_the_organization_check_of_provisioning_runs_outside_any_transaction(
    committed_db, identity_service, client_for
):
    organization_id = uuid.uuid4()
    path = f"/api/v1/organizations/{organization_id}"
    seen = _probe(identity_service, "GET", path, 200, {"id": str(organization_id)})
    body = {"organization_id": str(organization_id), "slug": "probed", "name": "Probed"}

    response = client_for(None, ["platform_admin"]).post("/api/platform/v1/tenants", body, "application/json")

    assert response.status_code == 201, response.content
    assert seen == [[]]
