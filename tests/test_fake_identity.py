"""The identity service's stand-in answers as the real one does (``tenants.fake_identity``): real-shaped
tokens without roles, login, refresh, validate, organizations behind a user's token, FastAPI's 404."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from django.conf import settings

from tenants.management.commands.dev_setup import DEMO_ORGANIZATION_ID, DEMO_USER_ID
from tenants.management.commands.fake_identity import DEMO_ADMIN, PLATFORM_ADMIN, fake_identity_demo
from tests.fakes import FakeIdentityService, FakeOrganization, FakeUser


@pytest.fixture
def acme(fake_identity: FakeIdentityService) -> FakeOrganization:
    return fake_identity.organization_add(name="Acme", slug="acme")


@pytest.fixture
def alice(fake_identity: FakeIdentityService, acme: FakeOrganization) -> FakeUser:
    return fake_identity.user_add(email="alice@example.com", password="wonderland", organization=acme)


def _post(fake: FakeIdentityService, path: str, body: Any) -> httpx.Response:
    return httpx.post(f"{fake.url}{path}", json=body)


def _get(fake: FakeIdentityService, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{fake.url}{path}", headers=headers)


def _login(fake: FakeIdentityService, email: str, password: str) -> httpx.Response:
    return _post(fake, "/api/v1/auth/login", {"email": email, "password": password})


def test_login_issues_real_shaped_tokens(fake_identity: FakeIdentityService, alice: FakeUser) -> None:
    answer = _login(fake_identity, "alice@example.com", "wonderland")

    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] > 0
    claims = jwt.decode(body["access_token"], settings.IDENTITY_JWT_SECRET, algorithms=["HS256"])
    assert set(claims) == {"sub", "email", "type", "tenant_id", "iat", "exp"}
    assert claims["sub"] == str(alice.user_id)
    assert claims["tenant_id"] == str(alice.tenant_id)
    assert claims["type"] == "access"
    refresh = jwt.decode(body["refresh_token"], settings.IDENTITY_JWT_SECRET, algorithms=["HS256"])
    assert refresh["type"] == "refresh"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "alice@example.com", "password": "wrong"}, 401),
        ({"email": "nobody@example.com", "password": "wonderland"}, 401),
        ({"email": "alice@example.com"}, 422),
        ({"email": 7, "password": "wonderland"}, 422),
        ([], 422),
    ],
)
def test_login_refuses_bad_credentials_and_bodies(
    fake_identity: FakeIdentityService, alice: FakeUser, body: Any, status: int
) -> None:
    answer = _post(fake_identity, "/api/v1/auth/login", body)

    assert answer.status_code == status
    assert "access_token" not in answer.json()


def test_refresh_takes_a_refresh_token_only(fake_identity: FakeIdentityService, alice: FakeUser) -> None:
    pair = _login(fake_identity, alice.email, alice.password).json()

    renewed = _post(fake_identity, "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]})
    refused = _post(fake_identity, "/api/v1/auth/refresh", {"refresh_token": pair["access_token"]})

    assert renewed.status_code == 200
    assert renewed.json()["access_token"]
    assert refused.status_code == 401


def test_validate_answers_without_roles(fake_identity: FakeIdentityService, alice: FakeUser) -> None:
    token = fake_identity.login(alice)

    answer = _post(fake_identity, "/api/v1/auth/validate", {"token": token})

    assert answer.status_code == 200
    body = answer.json()
    assert body["valid"] is True
    assert (body["user_id"], body["email"], body["tenant_id"]) == (
        str(alice.user_id),
        alice.email,
        str(alice.tenant_id),
    )
    assert "roles" not in body


def test_validate_says_invalid_for_bad_expired_and_refresh_tokens(
    fake_identity: FakeIdentityService, alice: FakeUser
) -> None:
    now = int(time.time())
    expired = jwt.encode(
        {"sub": str(alice.user_id), "type": "access", "iat": now - 7200, "exp": now - 3600},
        settings.IDENTITY_JWT_SECRET,
    )
    forged = jwt.encode({"sub": str(alice.user_id), "type": "access", "exp": now + 60}, "x" * 32)
    refresh = fake_identity.token_issue(alice, kind="refresh")

    for token in (expired, forged, refresh, "not.a.token", 7):
        answer = _post(fake_identity, "/api/v1/auth/validate", {"token": token})
        assert answer.status_code == (422 if token == 7 else 200)
        assert answer.json().get("valid") in (False, None)


def test_organizations_are_reached_with_a_members_token(
    fake_identity: FakeIdentityService, acme: FakeOrganization, alice: FakeUser
) -> None:
    other = fake_identity.organization_add(name="Other", slug="other")
    root = fake_identity.user_add(
        email="root@example.com", password="r", organization=None, is_superuser=True
    )
    token = fake_identity.login(alice)

    assert (
        _get(fake_identity, f"/api/v1/organizations/{acme.organization_id}", token).json()["slug"] == "acme"
    )
    assert _get(fake_identity, f"/api/v1/organizations/{other.organization_id}", token).status_code == 404
    assert _get(fake_identity, f"/api/v1/organizations/{uuid.uuid4()}", token).status_code == 404
    assert _get(fake_identity, f"/api/v1/organizations/{acme.organization_id}").status_code == 401
    assert [o["id"] for o in _get(fake_identity, "/api/v1/users/me/organizations", token).json()] == [
        str(acme.organization_id)
    ]
    assert _get(fake_identity, "/api/v1/users/me", token).json()["id"] == str(alice.user_id)
    superuser = fake_identity.login(root)
    assert _get(fake_identity, f"/api/v1/organizations/{other.organization_id}", superuser).status_code == 200


def test_service_token_sees_every_organization(
    fake_identity: FakeIdentityService, acme: FakeOrganization
) -> None:
    fake_identity.service_token = "service-secret"

    answer = _get(fake_identity, f"/api/v1/organizations/{acme.organization_id}", "service-secret")

    assert answer.status_code == 200
    assert _get(fake_identity, f"/api/v1/organizations/{acme.organization_id}", "wrong").status_code == 401


def test_unknown_route_is_fastapis_404(fake_identity: FakeIdentityService) -> None:
    answer = _get(fake_identity, "/api/v1/organizations")

    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found"}
    assert _get(fake_identity, "/api/v1/auth/login").status_code == 405


def test_clock_skew_moves_iat_and_exp(fake_identity: FakeIdentityService, alice: FakeUser) -> None:
    fake_identity.clock_skew_seconds = 20
    before = int(time.time())

    token = _login(fake_identity, alice.email, alice.password).json()["access_token"]

    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iat"] >= before + 20
    assert _post(fake_identity, "/api/v1/auth/validate", {"token": token}).json()["valid"] is True


def test_scripted_routes_answer_first(fake_identity: FakeIdentityService) -> None:
    fake_identity.route("POST", "/api/v1/auth/validate", 500, {"detail": "boom"})

    assert _post(fake_identity, "/api/v1/auth/validate", {"token": "a"}).status_code == 500
    assert fake_identity.requests == [("POST", "/api/v1/auth/validate", {"token": "a"})]


def test_the_dev_fake_knows_the_demo_admin_and_a_platform_admin() -> None:
    fake = fake_identity_demo(secret=settings.IDENTITY_JWT_SECRET).start()
    try:
        demo = _login(fake, *DEMO_ADMIN).json()["access_token"]
        platform = _login(fake, *PLATFORM_ADMIN).json()["access_token"]
    finally:
        fake.stop()

    demo_claims = jwt.decode(demo, settings.IDENTITY_JWT_SECRET, algorithms=["HS256"])
    assert (demo_claims["sub"], demo_claims["tenant_id"]) == (str(DEMO_USER_ID), str(DEMO_ORGANIZATION_ID))
    assert "roles" not in demo_claims
    platform_claims = jwt.decode(platform, settings.IDENTITY_JWT_SECRET, algorithms=["HS256"])
    assert (platform_claims["tenant_id"], platform_claims["roles"]) == (None, ["platform_admin"])
