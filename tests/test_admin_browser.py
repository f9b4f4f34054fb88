"""The platform admin as a person uses it: headless Chromium against the Hub under gunicorn.

Sign in with a password at ``/admin/`` on the bare domain, open the organization list, suspend one
organization through its confirmation page, and the organization's API answers 403 ``tenant_suspended``
within a second (the suspension forgets the cached host routes), with the change in the platform audit
trail under the admin's id. The pages load their assets from the Hub without a console error.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.db import connection

from tenants.models import Organization, PlatformAuditEntry, User
from tenants.services import tenant_provision

PASSWORD = "browser admin password 7"
BOUND_SECONDS = 1.0


@pytest.fixture
def admin_user(committed_db: None) -> Iterator[User]:
    user = User.objects.create_superuser(
        id=uuid.uuid4(), email="browser-admin@example.com", password=PASSWORD
    )
    yield user
    with connection.cursor() as cursor:  # not user.delete(): its cascade looks for tenant tables in public
        cursor.execute("DELETE FROM tenants_user WHERE id = %s", [user.pk])


@pytest.fixture
def victim(committed_db: None) -> Organization:
    """A committed organization of its own (``committed_db`` deletes it after the test)."""
    return tenant_provision(
        organization_id=uuid.uuid4(), slug=f"adm-{uuid.uuid4().hex[:8]}", name="Victim", check_identity=False
    )


def _tenant_get(port: int, tenant: Organization) -> tuple[int, str | None]:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "tenant_id": str(tenant.pk), "type": "access", "roles": ["member"]}
    token = jwt.encode(
        {**claims, "iat": now, "exp": now + 600}, settings.IDENTITY_JWT_SECRET, algorithm="HS256"
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Host": f"{tenant.primary_domain}:{port}", "Authorization": f"Bearer {token}"}
        conn.request("GET", "/api/v1/entities/", headers=headers)
        response = conn.getresponse()
        body = response.read()
        return response.status, json.loads(body).get("code") if response.status >= 400 else None
    finally:
        conn.close()


def test_sign_in_list_and_suspend(hub_server: int, page: Any, admin_user: User, victim: Organization) -> None:
    base = f"http://localhost:{hub_server}"
    failed: list[str] = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    assert _tenant_get(hub_server, victim) == (200, None)  # its route is now cached by the server

    page.goto(f"{base}/admin/")
    page.fill("input[name=username]", admin_user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    page.click("text=Organizations")
    page.wait_for_url(f"{base}/admin/tenants/organization/")
    row = page.locator("#result_list tr", has_text=victim.slug)
    assert "\tActive\t" in row.inner_text()

    row.locator("a.button", has_text="Suspend").click()
    page.wait_for_url(f"{base}/admin/tenants/organization/{victim.pk}/suspend/")
    assert victim.slug in page.locator("#content").inner_text()
    assert _tenant_get(hub_server, victim) == (200, None)  # nothing happens before the confirmation

    assert _tenant_get(hub_server, victim) == (200, None)  # the route is cached again, for 0.5 s
    page.click("input[value='Yes, suspend']")
    started = time.monotonic()
    page.wait_for_url(f"{base}/admin/tenants/organization/")
    # The very first request after the admin's answer is refused: the suspension forgot the cached
    # route at once (the cache alone would serve the organization for up to ROUTE_LOCAL_SECONDS more).
    assert _tenant_get(hub_server, victim) == (403, "tenant_suspended")
    assert time.monotonic() - started < BOUND_SECONDS
    assert "\tSuspended\t" in page.locator("#result_list tr", has_text=victim.slug).inner_text()
    assert "Suspended:" in page.locator(".messagelist").inner_text()

    entry = PlatformAuditEntry.objects.order_by("-sequence").first()
    assert entry is not None
    assert (entry.action, entry.organization_id, entry.actor_id) == ("suspend", victim.pk, admin_user.pk)
    assert page.console_errors == [], failed
