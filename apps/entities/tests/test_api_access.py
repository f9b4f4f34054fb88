"""Who may do what: roles, missing or foreign tokens, and another organization's entities (always 404)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.test import Client

from apps.entities.models import Entity
from apps.entities.tests.helpers import (
    JSON,
    KINDS_URL,
    URL,
    assert_error,
    detail_url,
    relations_url,
    tenant_state,
)
from tenants.models import Organization

pytestmark = pytest.mark.django_db

# (method, path template, body): every operation of the module. {detail} and {relations} are the URLs
# of one live entity, {other} the id of another.
Operation = tuple[str, str, Any]
READS: list[Operation] = [
    ("get", URL, None),
    ("get", "{detail}", None),
    ("get", "{relations}", None),
    ("get", KINDS_URL, None),
]
WRITES: list[Operation] = [
    ("post", URL, {"kind": "customer", "name": "New"}),
    ("patch", "{detail}", {"name": "Renamed"}),
    ("delete", "{detail}", None),
    ("post", "{relations}", {"target_id": "{other}", "kind": "owns"}),
]
ADMIN_WRITES: list[Operation] = [("post", KINDS_URL, {"key": "vendor", "label": "Vendor"})]
EVERY: list[Operation] = READS + WRITES + ADMIN_WRITES


def _call(client: Client, method: str, path: str, body: Any, entity: Entity, other: Any) -> Any:
    path = path.format(detail=detail_url(entity.id), relations=relations_url(entity.id))
    if isinstance(body, dict):
        body = {key: value.format(other=other) for key, value in body.items()}
        return getattr(client, method)(path, body, content_type=JSON)
    return getattr(client, method)(path)


def _ids(operations: list[Operation]) -> list[str]:
    return [f"{method} {path}" for method, path, _ in operations]


@pytest.mark.parametrize(("method", "path", "body"), EVERY, ids=_ids(EVERY))
def test_no_token_is_401(
    client_for: Any,
    tenant_a: Organization,
    entity_a: Entity,
    other_a: Entity,
    method: str,
    path: str,
    body: Any,
) -> None:
    before = tenant_state(tenant_a)
    response = _call(client_for(tenant_a), method, path, body, entity_a, other_a.id)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 120},  # beyond IDENTITY_JWT_LEEWAY_SECONDS
        {"type": "refresh"},
        {"sub": "not-a-uuid"},
        {"key": "another-secret-that-is-long-enough-for-hs256"},
    ],
    ids=["expired", "refresh", "bad-sub", "bad-signature"],
)
def test_invalid_tokens_are_401(
    client_for: Any, tenant_a: Organization, entity_a: Entity, claims: dict[str, Any], make_token: Any
) -> None:
    key = claims.pop("key", None)
    token = make_token(tenant_a, ["admin"], key=key, **claims)
    client = Client(headers={"Host": tenant_a.primary_domain, "Authorization": f"Bearer {token}"})
    before = tenant_state(tenant_a)

    assert_error(client.get(detail_url(entity_a.id)), 401)
    assert_error(client.delete(detail_url(entity_a.id)), 401)
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize(("method", "path", "body"), READS, ids=_ids(READS))
@pytest.mark.parametrize("role", ["viewer", "member", "admin"])
def test_every_role_reads(
    client_for: Any,
    tenant_a: Organization,
    entity_a: Entity,
    other_a: Entity,
    role: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    response = _call(client_for(tenant_a, [role]), method, path, body, entity_a, other_a.id)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("method", "path", "body"), WRITES + ADMIN_WRITES, ids=_ids(WRITES + ADMIN_WRITES))
@pytest.mark.parametrize("roles", [["viewer"], [], ["nobody", "superuser"], ["platform_admin"]])
def test_viewer_and_unknown_roles_cannot_write(
    client_for: Any,
    tenant_a: Organization,
    entity_a: Entity,
    other_a: Entity,
    roles: list[str],
    method: str,
    path: str,
    body: Any,
    request: Any,
) -> None:
    if not roles:
        # An empty roles claim makes the Hub ask the identity service, which answers "viewer".
        answer = {
            "user_id": str(uuid.uuid4()),
            "email": "v@example.com",
            "tenant_id": str(tenant_a.organization_id),
            "roles": ["viewer"],
            "permissions": [],
            "expires_at": int(time.time()) + 600,
        }
        request.getfixturevalue("identity_service").route("POST", "/api/v1/auth/validate", 200, answer)
    before = tenant_state(tenant_a)

    response = _call(client_for(tenant_a, roles), method, path, body, entity_a, other_a.id)

    assert_error(response, 403, "role_required")
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=_ids(WRITES))
@pytest.mark.parametrize("role", ["member", "admin"])
def test_members_and_admins_write(
    client_for: Any,
    tenant_a: Organization,
    entity_a: Entity,
    other_a: Entity,
    role: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    before = tenant_state(tenant_a)
    response = _call(client_for(tenant_a, [role]), method, path, body, entity_a, other_a.id)
    assert response.status_code in (200, 201, 204), response.content
    assert tenant_state(tenant_a) != before


def test_member_cannot_add_kinds(member_client: Client, tenant_a: Organization) -> None:
    before = tenant_state(tenant_a)
    response = member_client.post(KINDS_URL, {"key": "vendor", "label": "Vendor"}, content_type=JSON)
    body = assert_error(response, 403, "role_required")
    assert "admin" in body["detail"]
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize(("method", "path", "body"), EVERY, ids=_ids(EVERY))
def test_a_token_for_a_on_bs_host_is_403(
    client_for: Any,
    tenant_a: Organization,
    tenant_b: Organization,
    entity_b: Entity,
    method: str,
    path: str,
    body: Any,
    in_tenant: Any,
    b_actor: Any,
) -> None:
    from apps.entities import services

    with in_tenant(tenant_b):
        other_b = services.entity_create(actor=b_actor, kind="asset", name="B's asset")
    token = client_for(tenant_a, ["admin"]).defaults["HTTP_AUTHORIZATION"]
    client = Client(headers={"Host": tenant_b.primary_domain, "Authorization": token})
    before = tenant_state(tenant_b)

    response = _call(client, method, path, body, entity_b, other_b.id)

    body = assert_error(response, 403, "tenant_mismatch")
    assert "Beta" not in str(body)
    assert tenant_state(tenant_b) == before


def test_a_platform_token_on_a_tenant_host_is_403(platform_client: Client, tenant_a: Organization) -> None:
    client = Client(
        headers={
            "Host": tenant_a.primary_domain,
            "Authorization": platform_client.defaults["HTTP_AUTHORIZATION"],
        }
    )
    assert_error(client.get(URL), 403, "tenant_mismatch")


class TestAnotherOrganizationsEntityIsNotFound:
    """A's callers, whatever their role, cannot tell B's entities from missing ones; B is never changed."""

    @pytest.fixture(params=["member", "admin"])
    def a_client(self, request: Any, client_for: Any, tenant_a: Organization) -> Client:
        client: Client = client_for(tenant_a, [request.param])
        return client

    @pytest.fixture
    def untouched(self, tenant_a: Organization, tenant_b: Organization, entity_b: Entity) -> Any:
        before = (tenant_state(tenant_a), tenant_state(tenant_b))
        yield
        assert (tenant_state(tenant_a), tenant_state(tenant_b)) == before

    def _same_as_missing(self, response: Any, missing: Any) -> None:
        assert_error(response, 404)
        assert response.json() == missing.json()

    def test_read(self, a_client: Client, entity_b: Entity, untouched: None) -> None:
        self._same_as_missing(a_client.get(detail_url(entity_b.id)), a_client.get(detail_url(uuid.uuid4())))

    def test_patch(self, a_client: Client, entity_b: Entity, untouched: None) -> None:
        patch = {"name": "Pwned", "reference": None}
        response = a_client.patch(detail_url(entity_b.id), patch, content_type=JSON)
        self._same_as_missing(response, a_client.patch(detail_url(uuid.uuid4()), patch, content_type=JSON))

    def test_delete(self, a_client: Client, entity_b: Entity, untouched: None) -> None:
        self._same_as_missing(
            a_client.delete(detail_url(entity_b.id)), a_client.delete(detail_url(uuid.uuid4()))
        )

    def test_relations_list(self, a_client: Client, entity_b: Entity, untouched: None) -> None:
        missing = a_client.get(relations_url(uuid.uuid4()))
        self._same_as_missing(a_client.get(relations_url(entity_b.id)), missing)

    def test_relate_from(self, a_client: Client, entity_a: Entity, entity_b: Entity, untouched: None) -> None:
        body = {"target_id": str(entity_a.id), "kind": "owns"}
        missing = a_client.post(relations_url(uuid.uuid4()), body, content_type=JSON)
        self._same_as_missing(a_client.post(relations_url(entity_b.id), body, content_type=JSON), missing)

    def test_relate_to_as_target(
        self, a_client: Client, entity_a: Entity, entity_b: Entity, untouched: None
    ) -> None:
        url = relations_url(entity_a.id)
        missing = a_client.post(url, {"target_id": str(uuid.uuid4()), "kind": "owns"}, content_type=JSON)
        response = a_client.post(url, {"target_id": str(entity_b.id), "kind": "owns"}, content_type=JSON)
        self._same_as_missing(response, missing)
        assert response.json()["code"] == "target_not_found"

    def test_list(self, a_client: Client, entity_b: Entity, untouched: None) -> None:
        for query in ({}, {"q": "Beta"}, {"kind": "customer"}):
            assert a_client.get(URL, query).json() == {
                "items": [],
                "count": 0,
                "count_exact": True,
                "next": None,
            }

    def test_b_still_sees_its_entity(
        self, b_member_client: Client, entity_b: Entity, untouched: None
    ) -> None:
        body = b_member_client.get(detail_url(entity_b.id)).json()
        assert body["name"] == "Beta Secret Ltd"


def test_b_member_cannot_reach_as_entities(
    b_member_client: Client,
    entity_a: Entity,
    other_a: Entity,
    tenant_a: Organization,
    tenant_b: Organization,
    entity_b: Entity,
) -> None:
    before = (tenant_state(tenant_a), tenant_state(tenant_b))

    assert_error(b_member_client.get(detail_url(entity_a.id)), 404, "entity_not_found")
    assert_error(b_member_client.patch(detail_url(entity_a.id), {"name": "X"}, content_type=JSON), 404)
    assert_error(b_member_client.delete(detail_url(entity_a.id)), 404)
    assert_error(b_member_client.get(relations_url(entity_a.id)), 404)
    relate = {"target_id": str(entity_a.id), "kind": "owns"}
    assert_error(
        b_member_client.post(relations_url(entity_b.id), relate, content_type=JSON), 404, "target_not_found"
    )
    assert (tenant_state(tenant_a), tenant_state(tenant_b)) == before


def test_references_are_unique_per_organization(
    member_client: Client, b_member_client: Client, entity_a: Entity, entity_b: Entity
) -> None:
    assert entity_a.reference == entity_b.reference == "C-1"
    created = b_member_client.post(
        URL, {"kind": "supplier", "name": "S", "reference": "S-1"}, content_type=JSON
    )
    assert created.status_code == 201
    assert (
        member_client.post(
            URL, {"kind": "supplier", "name": "S", "reference": "S-1"}, content_type=JSON
        ).status_code
        == 201
    )


def test_b_writes_are_audited_with_bs_sub(
    b_member_client: Client, tenant_b: Organization, in_tenant: Any
) -> None:
    body = b_member_client.post(URL, {"kind": "asset", "name": "Van"}, content_type=JSON).json()
    with in_tenant(tenant_b):
        assert str(Entity.objects.get(id=body["id"]).created_by_id) == str(uuid.UUID(int=0xB0B))
