"""The identity service's HTTP client (``tenants.identity``) against the real fake server of ``tests.fakes``.

Token validation is exercised end to end in ``tests/test_auth.py``; here, the organization look-up the
platform API makes before provisioning, through the platform API where it can answer without provisioning.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from tenants.identity import IdentityUnavailable, identity_organization_exists, identity_token_validate
from tenants.models import Organization
from tests.fakes import FakeIdentityService

pytestmark = pytest.mark.django_db

PLATFORM_TENANTS = "/api/platform/v1/tenants"


def _organization_path(organization_id: uuid.UUID) -> str:
    return f"/api/v1/organizations/{organization_id}"


def test_organization_known_to_the_identity_service_exists(identity_service: FakeIdentityService) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 200, {"id": str(organization_id)})

    assert identity_organization_exists(organization_id=organization_id) is True
    assert identity_service.requests == [("GET", _organization_path(organization_id), None)]


def test_organization_unknown_to_the_identity_service_does_not_exist(
    identity_service: FakeIdentityService,
) -> None:
    assert identity_organization_exists(organization_id=uuid.uuid4()) is False
    assert len(identity_service.requests) == 1


@pytest.mark.parametrize("status", [401, 403, 409, 500, 503])
def test_organization_lookup_with_an_unexpected_answer_is_unavailable(
    status: int, identity_service: FakeIdentityService
) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), status, {"detail": "no"})

    with pytest.raises(IdentityUnavailable) as raised:
        identity_organization_exists(organization_id=organization_id)

    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"]


def test_identity_service_unreachable_is_unavailable(closed_port: int, settings: Any) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"

    with pytest.raises(IdentityUnavailable):
        identity_organization_exists(organization_id=uuid.uuid4())
    with pytest.raises(IdentityUnavailable):
        identity_token_validate(token="x.y.z")


def test_token_validation_returns_the_identity_answer(identity_service: FakeIdentityService) -> None:
    answer = {"user_id": str(uuid.uuid4()), "roles": ["viewer"], "permissions": ["entities.read"]}
    identity_service.route("POST", "/api/v1/auth/validate", 200, answer)

    assert identity_token_validate(token="a.b.c") == answer
    assert identity_service.requests == [("POST", "/api/v1/auth/validate", {"token": "a.b.c"})]


# --- through the platform API: provisioning asks the identity service first ----------------------


def _provision(platform_client: Client, organization_id: uuid.UUID, slug: str) -> Any:
    payload = {"organization_id": str(organization_id), "slug": slug, "name": "Gamma"}
    return platform_client.post(PLATFORM_TENANTS, payload, "application/json")


def test_provisioning_an_organization_unknown_to_identity_is_refused(
    identity_service: FakeIdentityService, platform_client: Client
) -> None:
    organization_id = uuid.uuid4()

    response = _provision(platform_client, organization_id, "gamma")

    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_error"
    assert ("GET", _organization_path(organization_id), None) in identity_service.requests
    assert not Organization.objects.filter(organization_id=organization_id).exists()


@pytest.mark.parametrize("status", [500, 403])
def test_provisioning_while_identity_misbehaves_is_503(
    status: int, identity_service: FakeIdentityService, platform_client: Client
) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), status, {"detail": "boom"})

    response = _provision(platform_client, organization_id, "gamma")

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "identity_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not Organization.objects.filter(organization_id=organization_id).exists()


def test_provisioning_while_identity_is_down_is_503(
    closed_port: int, settings: Any, platform_client: Client
) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"
    organization_id = uuid.uuid4()

    response = _provision(platform_client, organization_id, "gamma")

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "identity_unavailable"
    assert response["Retry-After"]
    assert not Organization.objects.filter(organization_id=organization_id).exists()
