"""The platform API (contract section 4) and the tenant lifecycle: provision, read, rename, suspend,
activate, delete; atomic provisioning; the identity-service check."""

from __future__ import annotations

import uuid
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from tenants.models import Domain, Organization

BASE = "/api/platform/v1/tenants"


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


def _provision(client, slug: str, **extra) -> tuple[uuid.UUID, Any]:
    organization_id = uuid.uuid4()
    body = {"organization_id": str(organization_id), "slug": slug, "name": f"{slug} Inc", **extra}
    return organization_id, client.post(BASE, body, content_type="application/json")


def _nothing_left(organization_id: uuid.UUID) -> bool:
    return not Organization.objects.filter(organization_id=organization_id).exists() and not _schema_exists(
        Organization.schema_name_for(organization_id)
    )


def test_provision_then_serve_then_delete(committed_db, platform_client, client_for):
    organization_id, response = _provision(platform_client, "gamma", skip_identity_check=True)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["organization_id"] == str(organization_id)
    assert body["slug"] == "gamma"
    assert body["domain"] == "gamma.localhost"
    assert body["status"] == "active"
    assert body["schema_name"] == Organization.schema_name_for(organization_id)
    assert _schema_exists(body["schema_name"])
    assert Domain.objects.filter(domain="gamma.localhost", tenant_id=organization_id).exists()

    tenant = Organization.objects.get(organization_id=organization_id)
    member = client_for(tenant, ["member"])
    created = member.post(
        "/api/v1/entities/", {"kind": "asset", "name": "Forklift"}, content_type="application/json"
    )
    assert created.status_code == 201

    refused = platform_client.delete(f"{BASE}/{organization_id}")
    assert refused.status_code == 400
    assert refused.json()["code"] == "confirmation_required"
    wrong = platform_client.delete(f"{BASE}/{organization_id}?confirm={uuid.uuid4()}")
    assert wrong.status_code == 400
    assert _schema_exists(body["schema_name"])

    deleted = platform_client.delete(f"{BASE}/{organization_id}?confirm={organization_id}")
    assert deleted.status_code == 204
    assert _nothing_left(organization_id)
    assert not Domain.objects.filter(domain="gamma.localhost").exists()
    assert member.get("/api/v1/entities/").status_code == 404


def test_failure_half_way_leaves_nothing_behind(committed_db, platform_client, tenant_a_committed):
    # Another organization already answers at victim.localhost (a custom domain). Provisioning "victim"
    # gets through the row, the schema, every migration and the RLS step, then fails on the domain.
    Domain.objects.create(domain="victim.localhost", tenant=tenant_a_committed, is_primary=False)
    try:
        organization_id, response = _provision(platform_client, "victim", skip_identity_check=True)
        assert response.status_code == 409
        assert response.json()["code"] == "tenant_conflict"
        assert _nothing_left(organization_id)
        assert Domain.objects.get(domain="victim.localhost").tenant_id == tenant_a_committed.organization_id
    finally:
        Domain.objects.filter(domain="victim.localhost").delete()


@pytest.fixture
def tenant_a_committed(committed_db) -> Organization:
    return Organization.objects.get(slug="alpha")


def test_identity_service_confirms_the_organization(committed_db, platform_client, identity_service):
    organization_id = uuid.uuid4()
    identity_service.route(
        "GET", f"/api/v1/organizations/{organization_id}", 200, {"id": str(organization_id)}
    )
    body = {"organization_id": str(organization_id), "slug": "delta", "name": "Delta"}
    response = platform_client.post(BASE, body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert ("GET", f"/api/v1/organizations/{organization_id}", None) in identity_service.requests


def test_identity_service_does_not_know_the_organization(committed_db, platform_client, identity_service):
    organization_id = uuid.uuid4()
    path = f"/api/v1/organizations/{organization_id}"
    identity_service.route("GET", path, 404, {"detail": "Organization not found"})
    body = {"organization_id": str(organization_id), "slug": "epsilon", "name": "Epsilon"}
    response = platform_client.post(BASE, body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["organization_id"]
    assert _nothing_left(organization_id)


def test_an_identity_service_without_the_organization_route_is_503_not_422(
    committed_db, platform_client, identity_service
):
    organization_id, response = _provision(platform_client, "epsilon")  # FastAPI's 404: no such route
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "identity_misconfigured"
    assert response["Retry-After"]
    assert _nothing_left(organization_id)


def test_organization_check_off_provisions_without_asking(
    committed_db, platform_client, identity_service, settings
):
    settings.IDENTITY_ORGANIZATION_CHECK = "off"
    _, response = _provision(platform_client, "iota")
    assert response.status_code == 201, response.content
    assert identity_service.requests == []


def test_the_real_shaped_identity_service_confirms_an_organization_to_its_superuser(
    committed_db, fake_identity
):
    known = fake_identity.organization_add(name="Lambda", slug="lambda")
    admin = fake_identity.user_add(
        email="root@example.com",
        password="pw",
        organization=None,
        is_superuser=True,
        roles=["platform_admin"],
    )
    client = Client(headers={"Host": "localhost", "Authorization": f"Bearer {fake_identity.login(admin)}"})

    unknown_id, unknown = _provision(client, "mu")
    body = {"organization_id": str(known.organization_id), "slug": "lambda", "name": "Lambda"}
    created = client.post(BASE, body, content_type="application/json")

    assert unknown.status_code == 422, unknown.content
    assert _nothing_left(unknown_id)
    assert created.status_code == 201, created.content


def test_the_real_shaped_identity_service_confirms_an_organization_to_the_service_token(
    committed_db, fake_identity, settings
):
    fake_identity.service_token = settings.IDENTITY_SERVICE_TOKEN = "hub-service-token"
    known = fake_identity.organization_add(name="Nu", slug="nu")
    admin = fake_identity.user_add(
        email="ops@example.com",
        password="pw",
        organization=None,
        roles=["platform_admin"],
    )  # not a superuser: its own token would not see the organization
    client = Client(headers={"Host": "localhost", "Authorization": f"Bearer {fake_identity.login(admin)}"})

    body = {"organization_id": str(known.organization_id), "slug": "nu", "name": "Nu"}
    created = client.post(BASE, body, content_type="application/json")

    assert created.status_code == 201, created.content


def test_identity_service_down_is_503_unless_skipped(committed_db, platform_client, settings, closed_port):
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"
    organization_id, response = _provision(platform_client, "zeta")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json()["code"] == "identity_unavailable"
    assert _nothing_left(organization_id)


def test_identity_service_error_is_503(committed_db, platform_client, identity_service):
    organization_id = uuid.uuid4()
    identity_service.route("GET", f"/api/v1/organizations/{organization_id}", 500, {"oops": True})
    body = {"organization_id": str(organization_id), "slug": "eta", "name": "Eta"}
    response = platform_client.post(BASE, body, content_type="application/json")
    assert response.status_code == 503
    assert _nothing_left(organization_id)


def test_skipping_the_identity_check_is_refused_in_production(committed_db, platform_client, settings):
    settings.IS_PROD = True
    organization_id, response = _provision(platform_client, "theta", skip_identity_check=True)
    assert response.status_code == 422
    assert _nothing_left(organization_id)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("slug", "why"),
    [
        ("Upper", "DNS label"),
        ("-lead", "DNS label"),
        ("trail-", "DNS label"),
        ("under_score", "DNS label"),
        ("a" * 64, "DNS label"),
        ("", "DNS label"),
        ("www", "reserved"),
        ("api", "reserved"),
        ("xn--bcher-kva", "reserved"),
    ],
)
def test_bad_slugs_are_refused(platform_client, slug, why):
    organization_id, response = _provision(platform_client, slug, skip_identity_check=True)
    assert response.status_code == 422
    body = response.json()
    assert why in body["detail"] or body["code"] == "validation_error"
    assert not Organization.objects.filter(organization_id=organization_id).exists()


@pytest.mark.django_db
def test_taken_slug_and_taken_id_are_conflicts(platform_client, tenant_a):
    _, response = _provision(platform_client, "alpha", skip_identity_check=True)
    assert response.status_code == 409
    body = {
        "organization_id": str(tenant_a.organization_id),
        "slug": "new-one",
        "name": "X",
        "skip_identity_check": True,
    }
    response = platform_client.post(BASE, body, content_type="application/json")
    assert response.status_code == 409


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"slug": "x", "name": "X"},
        {"organization_id": "not-a-uuid", "slug": "x", "name": "X"},
        {"organization_id": str(uuid.uuid4()), "slug": 5, "name": "X"},
        {"organization_id": str(uuid.uuid4()), "slug": "x", "name": "   "},
        {"organization_id": str(uuid.uuid4()), "slug": "x", "name": "X" * 201},
        [],
        '"just a JSON string"',
    ],
)
def test_malformed_provisioning_bodies(platform_client, body):
    count = Organization.objects.count()
    response = platform_client.post(BASE, body, content_type="application/json")
    assert response.status_code == 422
    assert set(response.json()) >= {"detail", "code"}
    assert Organization.objects.count() == count


@pytest.mark.django_db
def test_unparseable_body_is_400(platform_client):
    response = platform_client.post(BASE, "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_body"


@pytest.mark.django_db
def test_list_read_rename(platform_client, tenant_a):
    listed = platform_client.get(f"{BASE}?limit=1")
    assert listed.status_code == 200
    assert listed.json()["count"] >= 2
    assert len(listed.json()["items"]) == 1

    read = platform_client.get(f"{BASE}/{tenant_a.organization_id}")
    assert read.json()["slug"] == "alpha"

    renamed = platform_client.patch(
        f"{BASE}/{tenant_a.organization_id}", {"name": "  Alpha Renamed "}, content_type="application/json"
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Alpha Renamed"
    assert renamed.json()["slug"] == "alpha"

    blank = platform_client.patch(
        f"{BASE}/{tenant_a.organization_id}", {"name": ""}, content_type="application/json"
    )
    assert blank.status_code == 422
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Alpha Renamed"


@pytest.mark.django_db
def test_unknown_organization_is_404(platform_client):
    for method, path in [
        ("get", f"{BASE}/{uuid.uuid4()}"),
        ("post", f"{BASE}/{uuid.uuid4()}/suspend"),
        ("delete", f"{BASE}/{uuid.uuid4()}?confirm=x"),
    ]:
        response = getattr(platform_client, method)(path)
        assert response.status_code == 404
        assert response.json()["code"] == "tenant_not_found"
    assert platform_client.get(f"{BASE}/not-a-uuid").status_code in (404, 422)


@pytest.mark.django_db
def test_suspend_then_activate(platform_client, tenant_a, client_for):
    member = client_for(tenant_a, ["member"])
    assert member.get("/api/v1/entities/").status_code == 200

    suspended = platform_client.post(f"{BASE}/{tenant_a.organization_id}/suspend")
    assert suspended.json()["status"] == "suspended"
    response = member.get("/api/v1/entities/")
    assert response.status_code == 403
    assert response.json()["code"] == "tenant_suspended"

    activated = platform_client.post(f"{BASE}/{tenant_a.organization_id}/activate")
    assert activated.json()["status"] == "active"
    assert member.get("/api/v1/entities/").status_code == 200


@pytest.mark.django_db
def test_platform_api_is_for_platform_admins_only(client_for, tenant_a):
    assert client_for(None).get(BASE).status_code == 401
    assert client_for(None, ["admin"]).get(BASE).status_code == 403
    tenant_admin = client_for(None, ["admin"], tenant_id=str(tenant_a.organization_id))
    response = tenant_admin.post(BASE, {}, content_type="application/json")
    assert response.status_code in (401, 403, 422)
    assert tenant_admin.get(BASE).status_code == 403


@pytest.mark.django_db
def test_platform_api_is_not_served_on_tenant_hosts(admin_client, client_for, tenant_a):
    platform_on_tenant_host = client_for(tenant_a, ["platform_admin"])
    assert platform_on_tenant_host.get(BASE).status_code == 404


def test_commands_provision_and_migrate_with_progress(committed_db):
    organization_id = uuid.uuid4()
    out = StringIO()
    call_command(
        "provision_tenant",
        organization_id=organization_id,
        slug="iota",
        name="Iota",
        skip_identity_check=True,
        stdout=out,
    )
    assert "provisioned iota" in out.getvalue()
    with pytest.raises(CommandError, match="tenant_conflict"):
        call_command(
            "provision_tenant",
            organization_id=uuid.uuid4(),
            slug="iota",
            name="Again",
            skip_identity_check=True,
        )

    out = StringIO()
    call_command("migrate_schemas", every=True, stdout=out)  # every tenant, even those already current
    text = out.getvalue()
    assert "[shared] done" in text
    total = Organization.objects.count()
    assert f"[{total}/{total} 100%]" in text
    assert "iota" in text

    out = StringIO()
    call_command("migrate_schemas", slug="iota", stdout=out)
    assert "[1/1 100%] iota" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("migrate_schemas", slug="nope")
