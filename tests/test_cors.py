"""CORS (contract section 2, ``HUB_CORS_ORIGINS``): browser apps on the allowed origins may call both APIs.

Preflights are answered before a tenant is looked up (no token, no database); every answer to an allowed
origin, errors included, carries ``Access-Control-Allow-Origin`` so that the app can read the reason.
The browser's own view of it (a page on another origin fetching the API) is in test_docs_browser.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from hub.cors import cors_origins_parse
from tenants.models import Organization
from tests.helpers import assert_error
from tests.test_operations import _prod_environment

APP = "https://app.example.com"
ALLOWED_HEADERS = {"authorization", "content-type", "idempotency-key", "if-match", "x-request-id"}
EXPOSED_HEADERS = {"etag", "x-request-id", "idempotent-replayed", "location", "retry-after"}


@pytest.fixture(autouse=True)
def _origins(settings: Any) -> None:
    origins = cors_origins_parse([APP, "https://*.example.com", "http://localhost:3000"])
    settings.CORS_ALLOWED_ORIGINS = origins.exact
    settings.CORS_ALLOWED_ORIGIN_REGEXES = origins.patterns


def _preflight(host: str, path: str, origin: str, method: str = "POST") -> Any:
    return Client().options(
        path,
        headers={
            "Host": host,
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )


def _listed(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",")}


@pytest.mark.parametrize(
    ("host", "path"),
    [("alpha.localhost", "/api/v1/entities/"), ("localhost", "/api/platform/v1/tenants")],
)
def test_a_preflight_from_an_allowed_origin_is_answered_without_token_or_database(
    db: None, django_assert_max_num_queries: Any, host: str, path: str
) -> None:
    with django_assert_max_num_queries(0):
        response = _preflight(host, path, APP)
    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == APP
    assert _listed(response["Access-Control-Allow-Headers"]) >= ALLOWED_HEADERS
    assert {"get", "post", "patch", "put", "delete"} <= _listed(response["Access-Control-Allow-Methods"])
    assert "origin" in _listed(response["Vary"])
    assert "Access-Control-Allow-Credentials" not in response  # bearer tokens, never cookies


def test_a_preflight_on_an_unknown_tenant_host_is_answered_too(db: None) -> None:
    # Whether the organization exists is for the request itself to say (404, readable: see below).
    response = _preflight("nobody.localhost", "/api/v1/entities/", APP)
    assert (response.status_code, response["Access-Control-Allow-Origin"]) == (200, APP)


def test_a_preflight_for_a_host_not_served_is_refused() -> None:
    response = _preflight("hub.evil.org", "/api/v1/entities/", APP)
    assert_error(response, 400, "bad_host")
    assert "Access-Control-Allow-Origin" not in response


def test_a_preflight_from_another_origin_gets_no_permission(db: None) -> None:
    response = _preflight("alpha.localhost", "/api/v1/entities/", "https://evil.org")
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Headers" not in response


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://acme.example.com", True),
        ("https://app.example.com", True),
        ("http://localhost:3000", True),
        ("https://example.com", False),  # the pattern needs a subdomain label
        ("https://a.b.example.com", False),  # one label, not two
        ("https://example.com.evil.org", False),  # anchored at the end
        ("https://acme.example.com.evil.org", False),
        ("https://acmexexample.com", False),  # the dot is escaped
        ("https://evil.org/https://acme.example.com", False),
        ("http://acme.example.com", False),  # the scheme is part of the origin
        ("https://acme.example.com:8443", False),  # and so is the port
        ("http://localhost:3001", False),
        ("null", False),
    ],
)
def test_origin_patterns(db: None, origin: str, allowed: bool) -> None:
    response = _preflight("alpha.localhost", "/api/v1/entities/", origin)
    assert response.get("Access-Control-Allow-Origin") == (origin if allowed else None)


def test_an_actual_request_from_an_allowed_origin_may_read_the_answer(
    client_for: Any, tenant_a: Organization
) -> None:
    response = client_for(tenant_a, ["viewer"]).get("/api/v1/entities/", headers={"Origin": APP})
    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == APP
    assert _listed(response["Access-Control-Expose-Headers"]) >= EXPOSED_HEADERS


@pytest.mark.parametrize(
    ("host", "method", "path", "status", "code"),
    [
        ("alpha.localhost", "get", "/api/v1/entities/", 401, "not_authenticated"),
        ("alpha.localhost", "get", "/api/v1/no-such-route", 404, None),
        ("nobody.localhost", "get", "/api/v1/entities/", 404, None),
        ("localhost", "get", "/api/platform/v1/tenants", 401, "not_authenticated"),
        # Answered by the framework, then put in the contract's JSON shape by api.middleware.
        ("alpha.localhost", "put", "/api/v1/me", 405, None),
    ],
)
def test_an_error_carries_cors_headers_so_the_app_can_read_why(
    db: None, host: str, method: str, path: str, status: int, code: str | None
) -> None:
    response = getattr(Client(), method)(path, headers={"Host": host, "Origin": APP})
    assert_error(response, status, code)
    assert response["Access-Control-Allow-Origin"] == APP
    assert _listed(response["Access-Control-Expose-Headers"]) >= EXPOSED_HEADERS


def test_the_admin_is_not_opened_to_other_origins(db: None) -> None:
    response = _preflight("localhost", "/admin/login/", APP)
    assert "Access-Control-Allow-Origin" not in response


# HUB_CORS_ORIGINS itself: what is accepted, and the start-up refusal of what is not.


def test_entries_are_split_into_origins_and_anchored_patterns() -> None:
    origins = cors_origins_parse([" https://App.Example.com ", "", "http://*.localhost:3000"])
    assert origins.exact == ["https://app.example.com"]
    assert origins.patterns == [r"^http://[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.localhost:3000\Z"]


@pytest.mark.parametrize(
    "entry",
    [
        "*",
        "https://*",
        "https://*example.com",
        "https://a.*.example.com",
        "https://example.com/",
        "https://example.com/app",
        "https://user@example.com",
        "ftp://example.com",
        "example.com",
        "https://example.com:port",
        "https://exa mple.com",
        "https://(a|b).example.com",
    ],
)
def test_an_entry_that_is_no_origin_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        cors_origins_parse([entry])


def _settings_in_subprocess(environment: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, a fixed expression)
        [sys.executable, "-c", f"from django.conf import settings; print({expression})"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**environment, "DJANGO_SETTINGS_MODULE": "hub.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_bad_hub_cors_origins_stops_the_start() -> None:
    result = _settings_in_subprocess(
        {**os.environ, "HUB_CORS_ORIGINS": "https://app.example.com,https://*"},
        "settings.CORS_ALLOWED_ORIGINS",
    )
    assert result.returncode != 0
    assert "HUB_CORS_ORIGINS: 'https://*' is not an origin" in result.stderr


def test_production_allows_no_origin_unless_told() -> None:
    expression = "(settings.CORS_ALLOWED_ORIGINS, settings.CORS_ALLOWED_ORIGIN_REGEXES)"
    result = _settings_in_subprocess(_prod_environment(), expression)
    assert result.stdout.strip() == "([], [])", result.stderr
    told = _settings_in_subprocess(_prod_environment(HUB_CORS_ORIGINS="https://*.example.com"), expression)
    assert told.stdout.strip() == r"([], ['^https://[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.example\\.com\\Z'])"
    elsewhere = _settings_in_subprocess(
        {name: value for name, value in os.environ.items() if name != "HUB_CORS_ORIGINS"},
        "settings.CORS_ALLOWED_ORIGINS",
    )
    assert elsewhere.stdout.strip() == "['http://localhost:3000']", elsewhere.stderr
