"""The identity service's HTTP client (``tenants.identity``) against the real fake server of ``tests.fakes``.

Token validation is exercised end to end in ``tests/test_auth.py``; here, the organization check the
platform API makes before provisioning (``IDENTITY_ORGANIZATION_CHECK``), directly and through the
platform API where it can answer without provisioning.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from conftest import TokenFactory
from hub.errors import NotAuthenticated
from tenants.identity import (
    IdentityMisconfigured,
    IdentityUnavailable,
    OrganizationStatus,
    identity_organization_status,
    identity_token_validate,
)
from tenants.models import Organization
from tests.fakes import FakeIdentityService
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

PLATFORM_TENANTS = "/api/platform/v1/tenants"
PROJECT_DIR = Path(__file__).resolve().parent.parent
# What a FastAPI route answers for an organization it does not know (unlike an unknown path's 404).
UNKNOWN_ORGANIZATION = {"detail": "Organization not found"}


def _organization_path(organization_id: uuid.UUID) -> str:
    return f"/api/v1/organizations/{organization_id}"


def _status(organization_id: uuid.UUID, bearer: str | None = "user-token") -> OrganizationStatus:
    return identity_organization_status(organization_id=organization_id, bearer=bearer)


def test_organization_known_to_the_identity_service_is_found(identity_service: FakeIdentityService) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 200, {"id": str(organization_id)})

    assert _status(organization_id) is OrganizationStatus.FOUND
    assert identity_service.requests == [("GET", _organization_path(organization_id), None)]
    assert identity_service.authorizations == ["Bearer user-token"]


def test_organization_unknown_to_its_route_is_unknown(identity_service: FakeIdentityService) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 404, UNKNOWN_ORGANIZATION)

    assert _status(organization_id) is OrganizationStatus.UNKNOWN
    assert len(identity_service.requests) == 1


def test_a_missing_route_is_a_misconfiguration_logged_with_its_url(
    identity_service: FakeIdentityService, caplog: pytest.LogCaptureFixture
) -> None:
    organization_id = uuid.uuid4()  # nothing routed: FastAPI's own 404 for an unknown path

    with (
        caplog.at_level(logging.ERROR, logger="tenants.identity"),
        pytest.raises(IdentityMisconfigured) as raised,
    ):
        _status(organization_id)

    assert raised.value.status == 503
    assert raised.value.instance_code == "identity_misconfigured"
    assert int(raised.value.headers["Retry-After"]) > 0
    assert f"{identity_service.url}{_organization_path(organization_id)}" in caplog.text
    assert "IDENTITY_ORGANIZATION_CHECK" in caplog.text
    assert "user-token" not in caplog.text


def test_a_route_for_another_method_only_is_a_misconfiguration(identity_service: FakeIdentityService) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 405, {"detail": "Method Not Allowed"})

    with pytest.raises(IdentityMisconfigured):
        _status(organization_id)


def test_the_configured_route_template_is_the_one_asked(
    identity_service: FakeIdentityService, settings: Any
) -> None:
    settings.IDENTITY_ORGANIZATION_CHECK = "/api/v1/tenants/{id}/summary"
    organization_id = uuid.uuid4()
    identity_service.route("GET", f"/api/v1/tenants/{organization_id}/summary", 200, {})

    assert _status(organization_id) is OrganizationStatus.FOUND


def test_the_service_token_wins_over_the_caller_token(
    identity_service: FakeIdentityService, settings: Any
) -> None:
    settings.IDENTITY_SERVICE_TOKEN = "service-secret"
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 200, {"id": str(organization_id)})

    assert _status(organization_id, bearer="user-token") is OrganizationStatus.FOUND
    assert identity_service.authorizations == ["Bearer service-secret"]


@pytest.mark.parametrize("status", [401, 403])
def test_a_caller_token_that_may_not_see_the_organization_does_not_confirm_it(
    status: int, identity_service: FakeIdentityService
) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), status, {"detail": "Forbidden"})

    assert _status(organization_id) is OrganizationStatus.NOT_CONFIRMED


def test_a_refused_service_token_is_a_misconfiguration(
    identity_service: FakeIdentityService, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.IDENTITY_SERVICE_TOKEN = "stale-service-secret"
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 401, {"detail": "Not authenticated"})

    with caplog.at_level(logging.ERROR, logger="tenants.identity"), pytest.raises(IdentityMisconfigured):
        _status(organization_id)
    assert "IDENTITY_SERVICE_TOKEN" in caplog.text
    assert "stale-service-secret" not in caplog.text


@pytest.mark.parametrize("status", [409, 422, 429, 500, 503])
def test_organization_lookup_with_an_unexpected_answer_is_unavailable(
    status: int, identity_service: FakeIdentityService
) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), status, {"detail": "no"})

    with pytest.raises(IdentityUnavailable) as raised:
        _status(organization_id)

    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"]


def test_identity_service_unreachable_is_unavailable(closed_port: int, settings: Any) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"

    with pytest.raises(IdentityUnavailable):
        _status(uuid.uuid4())
    with pytest.raises(IdentityUnavailable):
        identity_token_validate(token="x.y.z")


def test_token_validation_returns_the_identity_answer(identity_service: FakeIdentityService) -> None:
    answer = {"user_id": str(uuid.uuid4()), "roles": ["viewer"], "permissions": ["entities.read"]}
    identity_service.route("POST", "/api/v1/auth/validate", 200, answer)

    assert identity_token_validate(token="a.b.c") == answer
    assert identity_service.requests == [("POST", "/api/v1/auth/validate", {"token": "a.b.c"})]


@pytest.mark.parametrize(
    "answer",
    [
        {"valid": False, "user_id": None, "email": None, "tenant_id": None},
        {"valid": False, "roles": None},
    ],
)
def test_token_validation_answering_valid_false_is_401(
    answer: dict[str, Any], identity_service: FakeIdentityService
) -> None:
    identity_service.route("POST", "/api/v1/auth/validate", 200, answer)

    with pytest.raises(NotAuthenticated) as raised:
        identity_token_validate(token="a.b.c")

    assert raised.value.instance_code == "token_invalid"


@pytest.mark.parametrize(
    "value",
    ["/api/v1/organizations", "api/v1/organizations/{id}", "/orgs/{id}/{name}", "/orgs/{0}", "", "of"],
)
def test_an_organization_check_without_id_refuses_to_start(value: str) -> None:
    environment = {**os.environ, "HUB_ENV": "test", "IDENTITY_ORGANIZATION_CHECK": value}
    environment["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"  # nothing is connected to

    result = subprocess.run(
        [sys.executable, "-c", "import hub.settings"],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "IDENTITY_ORGANIZATION_CHECK must be off or a path" in result.stderr


# --- through the platform API: provisioning asks the identity service first ----------------------


def _provision(platform_client: Client, organization_id: uuid.UUID, slug: str) -> Any:
    payload = {"organization_id": str(organization_id), "slug": slug, "name": "Gamma"}
    return platform_client.post(PLATFORM_TENANTS, payload, "application/json")


def test_provisioning_an_organization_unknown_to_identity_is_refused(
    identity_service: FakeIdentityService, platform_client: Client
) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 404, UNKNOWN_ORGANIZATION)

    response = _provision(platform_client, organization_id, "gamma")

    assert_error(response, 422, "validation_error")
    assert ("GET", _organization_path(organization_id), None) in identity_service.requests
    assert not Organization.objects.filter(organization_id=organization_id).exists()


def test_provisioning_against_a_missing_route_is_503_not_422(
    identity_service: FakeIdentityService, platform_client: Client
) -> None:
    organization_id = uuid.uuid4()  # the real identity service has no such route: FastAPI's 404

    response = _provision(platform_client, organization_id, "gamma")

    assert_error(response, 503, "identity_misconfigured")
    assert int(response["Retry-After"]) > 0
    assert not Organization.objects.filter(organization_id=organization_id).exists()


def test_provisioning_forwards_the_platform_admins_token(
    identity_service: FakeIdentityService, make_token: TokenFactory
) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 403, {"detail": "Forbidden"})
    token = make_token(None, ["platform_admin"])
    client = Client(headers={"Host": "localhost", "Authorization": f"Bearer {token}"})

    response = _provision(client, organization_id, "gamma")

    assert_error(response, 422, "organization_not_confirmed")
    assert identity_service.authorizations == [f"Bearer {token}"]
    assert not Organization.objects.filter(organization_id=organization_id).exists()


def test_provisioning_sends_the_service_token_when_set(
    identity_service: FakeIdentityService, platform_client: Client, settings: Any
) -> None:
    settings.IDENTITY_SERVICE_TOKEN = "service-secret"
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 404, UNKNOWN_ORGANIZATION)

    assert_error(_provision(platform_client, organization_id, "gamma"), 422, "validation_error")
    assert identity_service.authorizations == ["Bearer service-secret"]


@pytest.mark.parametrize("status", [500, 502, 429])
def test_provisioning_while_identity_misbehaves_is_503(
    status: int, identity_service: FakeIdentityService, platform_client: Client
) -> None:
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), status, {"detail": "boom"})

    response = _provision(platform_client, organization_id, "gamma")

    assert_error(response, 503, "identity_unavailable")
    assert int(response["Retry-After"]) > 0
    assert not Organization.objects.filter(organization_id=organization_id).exists()


def test_provisioning_while_identity_is_down_is_503(
    closed_port: int, settings: Any, platform_client: Client
) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"
    organization_id = uuid.uuid4()

    response = _provision(platform_client, organization_id, "gamma")

    assert_error(response, 503, "identity_unavailable")
    assert response["Retry-After"]
    assert not Organization.objects.filter(organization_id=organization_id).exists()


def test_command_without_a_service_token_refuses(
    settings: Any, identity_service: FakeIdentityService
) -> None:
    settings.IDENTITY_SERVICE_TOKEN = None

    with pytest.raises(CommandError, match="IDENTITY_SERVICE_TOKEN"):
        call_command("provision_tenant", organization_id=str(uuid.uuid4()), slug="kappa", name="Kappa")
    assert identity_service.requests == []


def test_command_sends_the_service_token(settings: Any, identity_service: FakeIdentityService) -> None:
    settings.IDENTITY_SERVICE_TOKEN = "service-secret"
    organization_id = uuid.uuid4()
    identity_service.route("GET", _organization_path(organization_id), 404, UNKNOWN_ORGANIZATION)

    with pytest.raises(CommandError, match="does not know this organization"):
        call_command("provision_tenant", organization_id=str(organization_id), slug="kappa", name="Kappa")
    assert identity_service.authorizations == ["Bearer service-secret"]
