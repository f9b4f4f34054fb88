"""Messages that tell the caller how to go on (issue 13 item 11): a dev provisioning without an identity
service is told that the check can be skipped (and production is not); a host that is not served is
told which names are, without learning which organizations exist."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client

from tenants.models import Organization

TENANTS = "/api/platform/v1/tenants"


def _provision(client: Client, slug: str) -> Any:
    body = {"organization_id": str(uuid.uuid4()), "slug": slug, "name": f"{slug} Inc"}
    return client.post(TENANTS, body, content_type="application/json")


def test_identity_down_in_dev_names_skip_identity_check(
    committed_db: None, platform_client: Client, settings: Any, closed_port: int
) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"

    response = _provision(platform_client, "iota")

    assert response.status_code == 503, response.content
    assert response["Retry-After"]
    body = response.json()
    assert body["code"] == "identity_unavailable"
    assert body["detail"].startswith("The identity service is unavailable; try again shortly.")
    assert '"skip_identity_check": true' in body["detail"]
    assert "--skip-identity-check" in body["detail"]


def test_identity_misconfigured_in_dev_names_skip_identity_check(
    committed_db: None, platform_client: Client, identity_service: Any
) -> None:
    # The fake service has no organization route: FastAPI's bare 404, our settings are wrong.
    response = _provision(platform_client, "kappa")

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "identity_misconfigured"
    assert '"skip_identity_check": true' in response.json()["detail"]


def test_identity_down_in_prod_does_not_offer_the_skip(
    committed_db: None, platform_client: Client, settings: Any, closed_port: int
) -> None:
    settings.IDENTITY_SERVICE_URL = f"http://127.0.0.1:{closed_port}"
    settings.IS_PROD = True  # the service reads it per request; the rest of prod's guard is start-up

    response = _provision(platform_client, "lambda")

    assert response.status_code == 503, response.content
    assert response.json()["detail"] == "The identity service is unavailable; try again shortly."


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3:8000", "evil.example.com"])
def test_host_not_served_names_the_served_hosts(db: None, tenant_a: Organization, host: str) -> None:
    response = Client(headers={"Host": host}).get("/api/v1/entities/")

    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "bad_host"
    detail = body["detail"]
    assert "platform API at localhost " in detail
    assert "<slug>.localhost" in detail
    # The pattern only: no organization that exists is named.
    assert tenant_a.slug not in detail
    assert tenant_a.primary_domain not in detail


def test_host_not_served_follows_hub_base_domain(db: None, settings: Any) -> None:
    settings.HUB_BASE_DOMAIN = "hub.example.org"
    settings.ALLOWED_HOSTS = ["hub.example.org", ".hub.example.org"]

    response = Client(headers={"Host": "127.0.0.1"}).get("/api/platform/v1/tenants")

    assert response.status_code == 400, response.content
    assert "platform API at hub.example.org " in response.json()["detail"]
    assert "<slug>.hub.example.org" in response.json()["detail"]
