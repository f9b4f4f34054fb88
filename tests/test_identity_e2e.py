"""Issue 11, "Done when": the Hub against an identity service that answers as the real one does
(``tenants.fake_identity``): tokens obtained by logging in, without ``roles``; roles held by the Hub's
memberships; the organization check at provisioning made with the platform admin's own token.

The platform admin is the one account whose tokens carry ``roles`` (``platform_admin``): the real
service issues none, and the platform API has no other way to know its admins (contract section 3,
"Optional when present: roles").
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client

from tenants.models import Organization
from tests.fakes import FakeIdentityService, FakeOrganization, FakeUser

TENANTS = "/api/platform/v1/tenants"
ENTITIES = "/api/v1/entities/"


def _login(fake: FakeIdentityService, user: FakeUser) -> str:
    answer = httpx.post(
        f"{fake.url}/api/v1/auth/login", json={"email": user.email, "password": user.password}
    )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def _client(host: str, token: str) -> Client:
    return Client(headers={"Host": host, "Authorization": f"Bearer {token}"})


def _entity_create(client: Client, name: str) -> Any:
    return client.post(ENTITIES, {"kind": "customer", "name": name}, content_type="application/json")


def _member_put(client: Client, user: FakeUser, role: str) -> Any:
    return client.put(f"/api/v1/members/{user.user_id}", {"role": role}, content_type="application/json")


@pytest.fixture
def acme(fake_identity: FakeIdentityService) -> FakeOrganization:
    return fake_identity.organization_add(name="Acme Omega", slug="omega")


@pytest.fixture
def people(fake_identity: FakeIdentityService, acme: FakeOrganization) -> dict[str, FakeUser]:
    other = fake_identity.organization_add(name="Other", slug="other")
    add = fake_identity.user_add
    return {
        "platform": add(
            email="root@example.com",
            password="root-pass",
            organization=None,
            is_superuser=True,
            roles=["platform_admin"],
        ),
        "owner": add(email="owner@example.com", password="owner-pass", organization=acme),
        "member": add(email="member@example.com", password="member-pass", organization=acme),
        "viewer": add(email="viewer@example.com", password="viewer-pass", organization=acme),
        "outsider": add(email="outsider@example.com", password="outsider-pass", organization=acme),
        "foreign": add(email="foreign@example.com", password="foreign-pass", organization=other),
    }


@pytest.fixture
def omega(
    committed_db: None,
    fake_identity: FakeIdentityService,
    acme: FakeOrganization,
    people: dict[str, FakeUser],
) -> Organization:
    """Provisioned through the platform API with its owner, the organization check made with the
    platform admin's token (the real service has organization routes for users only)."""
    platform_token = _login(fake_identity, people["platform"])
    platform = _client(settings.HUB_BASE_DOMAIN, platform_token)
    owner = people["owner"]
    body = {
        "organization_id": str(acme.organization_id),
        "slug": acme.slug,
        "name": acme.name,
        "owner": {"user_id": str(owner.user_id), "email": owner.email},
    }
    created = platform.post(TENANTS, body, content_type="application/json")
    assert created.status_code == 201, created.content
    check = fake_identity.requests.index(("GET", f"/api/v1/organizations/{acme.organization_id}", None))
    assert fake_identity.authorizations[check] == f"Bearer {platform_token}"
    return Organization.objects.get(organization_id=acme.organization_id)


def test_real_shaped_tokens_get_exactly_what_their_membership_allows(
    fake_identity: FakeIdentityService, people: dict[str, FakeUser], omega: Organization
) -> None:
    host = omega.primary_domain
    owner = _client(host, _login(fake_identity, people["owner"]))

    assert _entity_create(owner, "Owned").status_code == 201
    me = owner.get("/api/v1/me")
    assert me.status_code == 200, me.content
    assert (me.json()["roles"], me.json()["roles_source"]) == (["admin"], "membership")

    assert _member_put(owner, people["member"], "member").status_code == 200
    assert _member_put(owner, people["viewer"], "viewer").status_code == 200

    member = _client(host, _login(fake_identity, people["member"]))
    assert _entity_create(member, "By a member").status_code == 201
    assert member.get(ENTITIES).status_code == 200
    refused = _member_put(member, people["outsider"], "viewer")
    assert (refused.status_code, refused.json()["code"]) == (403, "role_required")

    viewer = _client(host, _login(fake_identity, people["viewer"]))
    assert viewer.get(ENTITIES).json()["count"] == 2
    refused = _entity_create(viewer, "By a viewer")
    assert (refused.status_code, refused.json()["code"]) == (403, "role_required")
    assert viewer.get("/api/v1/members/").status_code == 403

    outsider = _client(host, _login(fake_identity, people["outsider"]))
    refused = outsider.get(ENTITIES)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_a_member")


def test_foreign_token_is_refused_before_asking_the_identity_service(
    fake_identity: FakeIdentityService, people: dict[str, FakeUser], omega: Organization, closed_port: int
) -> None:
    foreign_token = _login(fake_identity, people["foreign"])
    # Every source of roles, the identity service included, and that service down.
    settings.IDENTITY_ROLES_SOURCE = ("token", "membership", "identity")
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"

    refused = _client(omega.primary_domain, foreign_token).get(ENTITIES)

    assert (refused.status_code, refused.json()["code"]) == (403, "tenant_mismatch")


@pytest.mark.parametrize(("skew_seconds", "status"), [(20, 200), (600, 401)])
def test_clock_skew_of_the_identity_service_is_tolerated_within_the_leeway(
    fake_identity: FakeIdentityService,
    people: dict[str, FakeUser],
    omega: Organization,
    skew_seconds: int,
    status: int,
) -> None:
    fake_identity.clock_skew_seconds = skew_seconds  # its tokens are issued that far in our future

    answer = _client(omega.primary_domain, _login(fake_identity, people["owner"])).get(ENTITIES)

    assert answer.status_code == status, answer.content
