"""The platform admin (``tenants.admin``) through the full Django stack: only on the bare domain, only
for platform admins (password superusers, or an identity access token of a platform admin), CSRF on,
every organization change made by ``tenants.services`` and written to the platform audit trail with
the admin as actor, the other models read-only, and a list whose cost does not grow with its rows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.audit.services import MASK
from tenants.admin import _TOKEN_ADMIN_UNTIL
from tenants.models import DataKey, Domain, Organization, PlatformAuditEntry, User
from tests.helpers import assert_error

PASSWORD = "correct horse battery staple 42"
ORGANIZATIONS = "/admin/tenants/organization/"


def _platform_client(**kwargs: Any) -> Client:
    return Client(headers={"Host": settings.HUB_BASE_DOMAIN}, **kwargs)


def _superuser(email: str = "ops@example.com") -> User:
    return User.objects.create_superuser(id=uuid.uuid4(), email=email, password=PASSWORD)


@pytest.fixture
def staff(db: None) -> User:
    return _superuser()


@pytest.fixture
def web(staff: User) -> Client:
    """The admin site in a browser-like client, signed in as ``staff``."""
    client = _platform_client()
    client.force_login(staff)
    return client


def _last_entry() -> PlatformAuditEntry:
    return PlatformAuditEntry.objects.order_by("-sequence").first()  # type: ignore[return-value]


def _schema_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [name])
        return cursor.fetchone() is not None


# --- Who gets in ---------------------------------------------------------------------------------


def test_superuser_signs_in_with_email_or_id(staff: User) -> None:
    for username in (staff.email, str(staff.id)):
        client = _platform_client()
        form = {"username": username, "password": PASSWORD, "next": "/admin/"}
        response = client.post("/admin/login/", form)
        assert response.status_code == 302, response.content
        assert response["Location"] == "/admin/"
        index = client.get("/admin/")
        assert index.status_code == 200
        assert b"Organizations" in index.content


def test_non_staff_cannot_sign_in(db: None) -> None:
    plain = User.objects.create_user(id=uuid.uuid4(), email="plain@example.com")
    plain.set_password(PASSWORD)
    plain.save()
    mirror = User.objects.create_user(id=uuid.uuid4(), email="mirror@example.com")  # unusable password
    for user in (plain, mirror):
        client = _platform_client()
        refused = client.post("/admin/login/", {"username": str(user.id), "password": PASSWORD})
        assert refused.status_code == 200
        assert b"errornote" in refused.content
        assert client.get(ORGANIZATIONS).status_code == 302
        client.force_login(user)  # a session of a non-staff user lets nobody in either
        response = client.get(ORGANIZATIONS)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    wrong = _platform_client().post("/admin/login/", {"username": "not-an-id", "password": PASSWORD})
    assert wrong.status_code == 200
    assert b"errornote" in wrong.content


def test_anonymous_is_sent_to_sign_in(db: None) -> None:
    response = _platform_client().get(ORGANIZATIONS)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={ORGANIZATIONS}"


def test_platform_admin_signs_in_with_an_access_token(tenant_a: Organization, make_token: Any) -> None:
    user_id = uuid.uuid4()
    client = _platform_client()
    assert client.get("/admin/login/token/").status_code == 200
    response = client.post(
        "/admin/login/token/", {"token": make_token(None, ["platform_admin"], sub=str(user_id))}
    )
    assert response.status_code == 302, response.content
    assert client.get(ORGANIZATIONS).status_code == 200

    client.post(
        ORGANIZATIONS, {"action": "suspend_selected", "_selected_action": [tenant_a.pk], "post": "yes"}
    )
    entry = _last_entry()
    assert (entry.action, entry.organization_id, entry.actor_id) == ("suspend", tenant_a.pk, user_id)

    session = client.session
    session[_TOKEN_ADMIN_UNTIL] = 1  # the token expired: the session no longer lets its holder in
    session.save()
    assert client.get(ORGANIZATIONS).status_code == 302


def test_platform_admins_setting_names_token_admins(db: None, make_token: Any, settings: Any) -> None:
    user_id = uuid.uuid4()
    settings.HUB_PLATFORM_ADMINS = frozenset({user_id})
    client = _platform_client()
    response = client.post("/admin/login/token/", {"token": make_token(None, None, sub=str(user_id))})
    assert response.status_code == 302, response.content
    assert client.get(ORGANIZATIONS).status_code == 200


@pytest.mark.parametrize("case", ["no_role", "tenant_bound", "tenant_admin", "garbage"])
def test_token_sign_in_refused(tenant_a: Organization, make_token: Any, case: str) -> None:
    token = {
        "no_role": make_token(None, ["admin"]),
        "tenant_bound": make_token(tenant_a, ["platform_admin"]),
        "tenant_admin": make_token(tenant_a, ["admin"]),
        "garbage": "not.a.token",
    }[case]
    client = _platform_client()
    response = client.post("/admin/login/token/", {"token": token})
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert client.get(ORGANIZATIONS).status_code == 302


def test_admin_is_not_served_on_tenant_hosts(web: Client, tenant_a: Organization) -> None:
    assert web.get("/admin/").status_code == 200
    for path in ("/admin/", "/admin/login/", ORGANIZATIONS, "/admin/login/token/"):
        # The signed-in admin's cookies sent to an organization's host change nothing: no such path.
        assert_error(web.get(path, headers={"Host": tenant_a.primary_domain}), 404)
        assert_error(Client(headers={"Host": "nowhere.localhost"}).get(path), 404, "tenant_not_found")


def test_tenant_requests_never_read_the_admin_session(
    web: Client, tenant_a: Organization, make_token: Any
) -> None:
    token = make_token(tenant_a, ["member"])
    with CaptureQueriesContext(connection) as queries:
        response = web.get(
            "/api/v1/entities/", headers={"Host": tenant_a.primary_domain, "Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200
    assert not any("django_session" in query["sql"] for query in queries)
    # Sessions, users and messages are not even set up on a tenant host (tenants.middleware._PlatformOnly).
    assert not any(hasattr(response.wsgi_request, name) for name in ("session", "user", "_messages"))
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies


def test_csrf_is_enforced_and_cookies_stay_on_admin_paths(staff: User) -> None:
    client = _platform_client(enforce_csrf_checks=True)
    refused = client.post("/admin/login/", {"username": staff.email, "password": PASSWORD})
    assert refused.status_code == 403
    page = client.get("/admin/login/")
    csrf = page.cookies["csrftoken"]
    assert csrf["path"] == "/admin/"
    assert not csrf["domain"]  # host-only: never sent to an organization's host
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content)
    assert token is not None
    body = {"username": staff.email, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1).decode()}
    signed_in = client.post("/admin/login/", body)
    assert signed_in.status_code == 302
    session = signed_in.cookies["sessionid"]
    assert session["path"] == "/admin/"
    assert session["httponly"]
    assert not session["domain"]
    # An action without the token is refused even when signed in.
    action = {"action": "suspend_selected", "_selected_action": [], "post": "yes"}
    assert client.post(ORGANIZATIONS, action).status_code == 403


# --- Organizations: every change through tenants.services, audited --------------------------------


def test_suspend_selected_confirms_then_suspends(
    web: Client, staff: User, tenant_a: Organization, client_for: Any
) -> None:
    before = _last_entry().sequence
    selection = {"action": "suspend_selected", "_selected_action": [tenant_a.pk]}
    confirm = web.post(ORGANIZATIONS, selection)
    assert confirm.status_code == 200
    assert b"Yes, suspend" in confirm.content
    tenant_a.refresh_from_db()
    assert tenant_a.status == "active"
    assert _last_entry().sequence == before

    done = web.post(ORGANIZATIONS, {**selection, "post": "yes"})
    assert done.status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.status == "suspended"
    entry = _last_entry()
    assert (entry.action, entry.organization_id, entry.actor_id) == ("suspend", tenant_a.pk, staff.id)
    assert entry.changes == {"status": ["active", "suspended"]}
    assert_error(client_for(tenant_a, ["member"]).get("/api/v1/entities/"), 403, "tenant_suspended")
    listed = web.get(ORGANIZATIONS)
    assert b"Suspended: alpha." in listed.content
    assert f"{tenant_a.pk}/activate/".encode() in listed.content


def test_activate_one_from_its_page(
    web: Client, staff: User, tenant_a: Organization, client_for: Any
) -> None:
    web.post(f"{ORGANIZATIONS}{tenant_a.pk}/suspend/")
    page = web.get(f"{ORGANIZATIONS}{tenant_a.pk}/change/")
    assert f"{tenant_a.pk}/activate/".encode() in page.content
    confirm = web.get(f"{ORGANIZATIONS}{tenant_a.pk}/activate/")
    assert confirm.status_code == 200
    assert b"Yes, activate" in confirm.content
    assert web.post(f"{ORGANIZATIONS}{tenant_a.pk}/activate/").status_code == 302
    tenant_a.refresh_from_db()
    assert tenant_a.status == "active"
    entry = _last_entry()
    assert (entry.action, entry.actor_id) == ("activate", staff.id)
    assert client_for(tenant_a, ["member"]).get("/api/v1/entities/").status_code == 200
    missing = web.get(f"{ORGANIZATIONS}{uuid.uuid4()}/activate/")
    assert missing.status_code == 302


def test_rename_through_the_change_form(web: Client, staff: User, tenant_a: Organization) -> None:
    url = f"{ORGANIZATIONS}{tenant_a.pk}/change/"
    refused = web.post(url, {"name": "Bad\x07Name"})
    assert refused.status_code == 200
    assert b"printable" in refused.content
    assert (
        web.post(url, {"name": "Alpha Renamed", "slug": "ignored", "status": "suspended"}).status_code == 302
    )
    tenant_a.refresh_from_db()
    assert (tenant_a.name, tenant_a.slug, tenant_a.status) == ("Alpha Renamed", "alpha", "active")
    entry = _last_entry()
    assert (entry.action, entry.actor_id, entry.changes) == ("rename", staff.id, {"name": [MASK, MASK]})


@pytest.fixture
def committed_staff(committed_db: None) -> Iterator[User]:
    user = _superuser("committed-ops@example.com")
    yield user
    with connection.cursor() as cursor:  # not user.delete(): its cascade looks for tenant tables in public
        cursor.execute("DELETE FROM tenants_user WHERE id = %s", [user.pk])


def test_provision_then_delete_behind_the_confirm_rule(committed_staff: User) -> None:
    client = _platform_client()
    client.force_login(committed_staff)
    assert client.get(f"{ORGANIZATIONS}add/").status_code == 200
    bad = client.post(
        f"{ORGANIZATIONS}add/", {"organization_id": str(uuid.uuid4()), "slug": "admin", "name": "X"}
    )
    assert bad.status_code == 200
    assert b"reserved" in bad.content

    half_owner = {
        "organization_id": str(uuid.uuid4()),
        "slug": "delta",
        "name": "D",
        "owner_email": "o@example.com",
    }
    assert b"both user id and email" in client.post(f"{ORGANIZATIONS}add/", half_owner).content

    organization_id = uuid.uuid4()
    form = {
        "organization_id": str(organization_id),
        "slug": "delta",
        "name": "Delta Ltd",
        "skip_identity_check": "on",
    }
    created = client.post(f"{ORGANIZATIONS}add/", form)
    assert created.status_code == 302, created.content
    tenant = Organization.objects.get(organization_id=organization_id)
    assert _schema_exists(tenant.schema_name)
    assert Domain.objects.filter(domain=tenant.primary_domain).exists()
    entry = _last_entry()
    assert (entry.action, entry.organization_id, entry.actor_id) == (
        "provision",
        organization_id,
        committed_staff.id,
    )
    again = client.post(f"{ORGANIZATIONS}add/", form)
    assert again.status_code == 200
    assert b"already provisioned" in again.content

    url = f"{ORGANIZATIONS}{organization_id}/delete/"
    assert str(organization_id).encode() in client.get(url).content
    for confirm in ("", "delta", str(uuid.uuid4())):
        refused = client.post(url, {"confirm": confirm})
        assert refused.status_code == 200
        assert b"confirm" in refused.content
        assert Organization.objects.filter(organization_id=organization_id).exists()
    deleted = client.post(url, {"confirm": str(organization_id)})
    assert deleted.status_code == 302
    assert not Organization.objects.filter(organization_id=organization_id).exists()
    assert not _schema_exists(tenant.schema_name)
    entry = _last_entry()
    assert (entry.action, entry.organization_id, entry.actor_id) == (
        "delete",
        organization_id,
        committed_staff.id,
    )


def test_no_bulk_delete(web: Client, tenant_a: Organization) -> None:
    response = web.post(
        ORGANIZATIONS, {"action": "delete_selected", "_selected_action": [tenant_a.pk], "post": "yes"}
    )
    assert response.status_code == 302  # Django: "no action selected", back to the list
    assert Organization.objects.filter(pk=tenant_a.pk).exists()


# --- Read-only models ------------------------------------------------------------------------------


def test_read_only_models_refuse_add_change_delete(web: Client, staff: User, tenant_a: Organization) -> None:
    key = DataKey.objects.filter(organization=tenant_a).first()
    assert key is not None
    rows = {
        "user": staff.pk,
        "domain": Domain.objects.get(tenant=tenant_a).pk,
        "datakey": key.pk,
        "platformauditentry": _last_entry().pk,
    }
    for model, pk in rows.items():
        base = f"/admin/tenants/{model}/"
        assert web.get(base).status_code == 200, model
        assert web.get(f"{base}{pk}/change/").status_code == 200, model
        assert_error(web.get(f"{base}add/"), 403)
        assert_error(web.post(f"{base}add/", {}), 403)
        assert_error(web.post(f"{base}{pk}/change/", {}), 403)
        assert_error(web.post(f"{base}{pk}/delete/", {"post": "yes"}), 403)
        assert b"delete_selected" not in web.get(base).content
    assert User.objects.filter(pk=staff.pk).exists()
    assert DataKey.objects.filter(pk=key.pk).exists()


def test_data_key_pages_show_no_key_material(web: Client, tenant_a: Organization) -> None:
    key = DataKey.objects.filter(organization=tenant_a).first()
    assert key is not None
    material = bytes(key.wrapped_key)
    for url in ("/admin/tenants/datakey/", f"/admin/tenants/datakey/{key.pk}/change/"):
        content = web.get(url).content
        assert str(tenant_a.pk).encode() in content
        assert b"wrapped" not in content.lower()
        assert material.hex().encode() not in content
        assert repr(material).encode() not in content


# --- Cost ------------------------------------------------------------------------------------------


def _list_queries(web: Client) -> tuple[int, bytes]:
    with CaptureQueriesContext(connection) as queries:
        response = web.get(ORGANIZATIONS)
    assert response.status_code == 200
    return len(queries), response.content


def test_organization_list_costs_the_same_for_2_or_20(web: Client) -> None:
    assert Organization.objects.count() == 2
    few, _ = _list_queries(web)
    extra = [uuid.uuid4() for _ in range(18)]
    Organization.objects.bulk_create(
        Organization(organization_id=pk, slug=f"org-{pk.hex[:12]}", name="N", schema_name=f"org_{pk.hex}")
        for pk in extra
    )
    many, content = _list_queries(web)
    assert all(f"org-{pk.hex[:12]}".encode() in content for pk in extra)
    assert many == few
    for page in ("/admin/tenants/domain/", "/admin/tenants/datakey/", "/admin/tenants/user/"):
        assert web.get(page).status_code == 200
