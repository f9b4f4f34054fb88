"""Operations (contract sections 1, 2 and 4): health probes, host routing, request ids, JSON logs,
production refusals, OpenAPI documents, framework errors as JSON, rollback of error responses, and
the ``dev_setup`` command. Everything goes through ``django.test.Client`` with the full middleware."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from hub.settings import DEV_FIELD_KEY, DEV_JWT_SECRET
from tenants.management.commands.dev_setup import DEMO_ORGANIZATION_ID
from tenants.master_keys import master_key_generate
from tenants.models import Organization, User
from tenants.services import tenant_provision

PROJECT_DIR = Path(__file__).resolve().parent.parent
ENTITIES = "/api/v1/entities/"
REQUEST_ID = "X-Request-ID"


def _json_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The contract's error shape: JSON ``{"detail", "code"}`` with the given status."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("detail"), str)
    assert body["detail"]
    assert isinstance(body.get("code"), str)
    if code is not None:
        assert body["code"] == code, body
    return body


# --- Health probes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["alpha.localhost", "localhost", "nope.localhost", "10.1.2.3", "ALPHA.localhost:8000"]
)
def test_healthz_answers_on_any_host_without_touching_the_database(db, host):
    clients = [connections["default"], connections["owner"]]
    with CaptureQueriesContext(clients[0]) as runtime, CaptureQueriesContext(clients[1]) as owner:
        response = Client(headers={"Host": host}).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(runtime.captured_queries) == 0, runtime.captured_queries
    assert len(owner.captured_queries) == 0, owner.captured_queries
    assert re.fullmatch(r"[0-9a-f]{32}", response[REQUEST_ID])


def test_healthz_needs_no_database_access_at_all():
    # No ``db`` fixture: pytest-django refuses every connection attempt, so any database work in
    # the path of /healthz would turn this into an error.
    for alias in ("default", "owner"):
        connections[alias].close()
    response = Client(headers={"Host": "nope.localhost"}).get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("host", ["alpha.localhost", "localhost", "nope.localhost"])
def test_readyz_answers_ready_when_the_database_is_up(db, host):
    response = Client(headers={"Host": host}).get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready"}


@pytest.fixture
def unreachable_database(committed_db: None, closed_port: int) -> Iterator[None]:
    """The runtime connection points at a local port nothing listens on, for the test's duration.

    Outside the per-test transaction (``committed_db``): the connection is closed first, so the next
    query has to connect anew with the broken settings; everything is restored (and closed) after.
    """
    connection = connections["default"]
    original = connection.settings_dict
    broken = {**original, "HOST": "127.0.0.1", "PORT": str(closed_port)}
    # The embedded database names its socket directory in OPTIONS["host"], which would win.
    broken["OPTIONS"] = {
        name: value
        for name, value in original.get("OPTIONS", {}).items()
        if name not in {"host", "hostaddr", "port", "service"}
    }
    connection.close()
    connection.settings_dict = broken
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict = original
        connection.close()


def test_readyz_answers_503_when_the_database_is_unreachable(unreachable_database):
    response = Client(headers={"Host": "alpha.localhost"}).get("/readyz")
    _json_error(response, 503, "database_unavailable")
    assert int(response["Retry-After"]) > 0
    assert REQUEST_ID in response
    # /healthz is unaffected: the process still answers.
    assert Client(headers={"Host": "alpha.localhost"}).get("/healthz").status_code == 200


def test_readyz_recovers_once_the_database_is_back(committed_db, closed_port):
    connection = connections["default"]
    original = connection.settings_dict
    options = {k: v for k, v in original.get("OPTIONS", {}).items() if k not in {"host", "hostaddr", "port"}}
    connection.close()
    connection.settings_dict = {**original, "HOST": "127.0.0.1", "PORT": str(closed_port), "OPTIONS": options}
    try:
        assert Client().get("/readyz", headers={"Host": "localhost"}).status_code == 503
    finally:
        connection.close()
        connection.settings_dict = original
    response = Client(headers={"Host": "localhost"}).get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


# --- Host routing --------------------------------------------------------------------------------


def test_unknown_tenant_host_is_404_tenant_not_found(db):
    response = Client(headers={"Host": "nope.localhost"}).get(ENTITIES)
    _json_error(response, 404, "tenant_not_found")
    assert re.fullmatch(r"[0-9a-f]{32}", response[REQUEST_ID])


@pytest.mark.parametrize(
    "host", ["10.1.2.3", "evil.example.com", "localhost.evil.com", "alpha.localhost:abc"]
)
def test_host_outside_allowed_hosts_is_400_bad_host(db, host):
    response = Client(headers={"Host": host}).get(ENTITIES)
    _json_error(response, 400, "bad_host")
    assert REQUEST_ID in response


@pytest.mark.parametrize("host", ["alpha.localhost:8000", "ALPHA.localhost", "Alpha.LocalHost:8000"])
def test_host_with_port_or_capitals_routes_to_the_tenant(db, make_token, tenant_a, host):
    token = make_token(tenant_a, ["viewer"])
    response = Client(headers={"Host": host, "Authorization": f"Bearer {token}"}).get(ENTITIES)
    assert response.status_code == 200, response.content
    assert "items" in response.json()


def test_host_with_port_reaches_the_platform_api(db, make_token):
    token = make_token(None, ["platform_admin"])
    client = Client(headers={"Host": "LOCALHOST:8000", "Authorization": f"Bearer {token}"})
    response = client.get("/api/platform/v1/tenants")
    assert response.status_code == 200, response.content
    slugs = {tenant["slug"] for tenant in response.json()["items"]}
    assert {"alpha", "beta"} <= slugs


# --- Request ids ---------------------------------------------------------------------------------


def test_request_id_is_generated_when_absent(member_client):
    first = member_client.get(ENTITIES)
    second = member_client.get(ENTITIES)
    assert first.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", first[REQUEST_ID])
    assert re.fullmatch(r"[0-9a-f]{32}", second[REQUEST_ID])
    assert first[REQUEST_ID] != second[REQUEST_ID]


@pytest.mark.parametrize("sane", ["abc-123", "req_1.2-3", "A" * 128, str(uuid.uuid4())])
def test_sane_request_id_is_echoed(member_client, sane):
    response = member_client.get(ENTITIES, headers={REQUEST_ID: sane})
    assert response.status_code == 200
    assert response[REQUEST_ID] == sane


@pytest.mark.parametrize(
    "insane",
    [
        "A" * 129,
        "has spaces in it",
        "<script>alert(1)</script>",
        "semi;colon",
        "quote'd",
        "abc\n",
        "abc\r\nSet-Cookie: x=1",
        "é-unicode",
    ],
)
def test_insane_request_id_is_replaced(member_client, insane):
    response = member_client.get(ENTITIES, headers={REQUEST_ID: insane})
    assert response.status_code == 200, response.content
    assert response[REQUEST_ID] != insane
    assert re.fullmatch(r"[0-9a-f]{32}", response[REQUEST_ID])


def test_request_id_is_on_error_responses_too(db, client_for, tenant_a):
    sane = "trace-me-42"
    responses = [
        Client(headers={"Host": "nope.localhost"}).get(ENTITIES, headers={REQUEST_ID: sane}),  # 404
        Client(headers={"Host": "10.1.2.3"}).get(ENTITIES, headers={REQUEST_ID: sane}),  # 400
        client_for(tenant_a, None).get(ENTITIES, headers={REQUEST_ID: sane}),  # 401
        client_for(tenant_a, ["viewer"]).put(ENTITIES, headers={REQUEST_ID: sane}),  # 405
        client_for(tenant_a, ["viewer"]).get("/nothing/here", headers={REQUEST_ID: sane}),  # 404
    ]
    assert [response.status_code for response in responses] == [404, 400, 401, 405, 404]
    for response in responses:
        assert response[REQUEST_ID] == sane
        assert response["Content-Type"].startswith("application/json")


# --- Production settings (subprocesses: the settings are read once, at import) ----------------------


def _prod_environment(**overrides: str | None) -> dict[str, str]:
    """The documented production variables (contract section 2), nothing inherited that could interfere."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HUB_", "DATABASE_", "IDENTITY_", "REDIS_", "DJANGO_"))
    }
    environment.update(
        {
            "HUB_ENV": "prod",
            "HUB_SECRET_KEY": secrets.token_urlsafe(64),
            "DATABASE_URL": "postgresql://hub_app@127.0.0.1:5432/hub_x",
            "DATABASE_OWNER_URL": "postgresql://hub_owner@127.0.0.1:5432/hub_x",
            "IDENTITY_JWT_SECRET": secrets.token_urlsafe(48),
            "HUB_BASE_DOMAIN": "hub.example.com",
            "HUB_FIELD_KEYS": master_key_generate(),
        }
    )
    for name, value in overrides.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


def _manage(*args: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_prod_logs_are_json_lines_with_the_request_id():
    result = _manage(
        "shell",
        "-c",
        "import logging; logging.getLogger('hub.test').warning('hello')",
        environment=_prod_environment(),
    )
    assert result.returncode == 0, result.stderr
    records = []
    for line in result.stderr.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    hello = [record for record in records if record.get("message") == "hello"]
    assert len(hello) == 1, result.stderr
    assert hello[0]["level"] == "WARNING"
    assert hello[0]["logger"] == "hub.test"
    assert "request_id" in hello[0]


def test_prod_check_deploy_finds_no_issues():
    result = _manage("check", "--deploy", environment=_prod_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_prod_check_deploy_still_reports_a_weakened_setting():
    result = _manage("check", "--deploy", environment=_prod_environment(HUB_SECURE_SSL_REDIRECT="0"))
    assert "security.W008" in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"DATABASE_URL": None}, "DATABASE_URL"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"HUB_SECRET_KEY": None}, "HUB_SECRET_KEY"),
        ({"HUB_SECRET_KEY": "too-short"}, "HUB_SECRET_KEY"),
        ({"HUB_SECRET_KEY": "dev-insecure-hub-secret-key-never-use-in-production"}, "HUB_SECRET_KEY"),
        ({"HUB_DEBUG": "1"}, "HUB_DEBUG"),
        ({"HUB_DEBUG": "true"}, "HUB_DEBUG"),
        ({"IDENTITY_JWT_SECRET": DEV_JWT_SECRET}, "IDENTITY_JWT_SECRET"),
        ({"IDENTITY_JWT_SECRET": None}, "IDENTITY_JWT_SECRET"),
        ({"IDENTITY_JWT_SECRET": "short-shared-secret"}, "IDENTITY_JWT_SECRET"),
        ({"DATABASE_OWNER_URL": None}, "DATABASE_OWNER_URL"),
        ({"HUB_ENV": "bogus"}, "HUB_ENV"),
        ({"HUB_ENV": "Production"}, "HUB_ENV"),
        ({"HUB_FIELD_KEYS": None}, "HUB_FIELD_KEYS"),
        ({"HUB_FIELD_KEYS": ""}, "HUB_FIELD_KEYS"),
        ({"HUB_FIELD_KEYS": DEV_FIELD_KEY}, "HUB_FIELD_KEYS"),
        ({"HUB_FIELD_KEYS": "c2hvcnQ="}, "HUB_FIELD_KEYS"),
        ({"HUB_FIELD_KEYS": "not base64!"}, "HUB_FIELD_KEYS"),
    ],
    ids=lambda value: "-".join(f"{k}={v}"[:30] for k, v in value.items()) if isinstance(value, dict) else "",
)
def test_prod_refuses_unsafe_settings(overrides, problem):
    result = _manage("check", environment=_prod_environment(**overrides))
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert problem in result.stderr.strip().splitlines()[-1], result.stderr


def test_prod_refusal_names_every_problem_at_once():
    result = _manage(
        "check",
        environment=_prod_environment(HUB_DEBUG="1", HUB_SECRET_KEY=None, IDENTITY_JWT_SECRET=None),
    )
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    for problem in ("HUB_DEBUG", "HUB_SECRET_KEY", "IDENTITY_JWT_SECRET"):
        assert problem in last_line, last_line


def test_prod_accepts_a_jwks_url_instead_of_a_shared_secret():
    environment = _prod_environment(
        IDENTITY_JWT_SECRET=None, IDENTITY_JWKS_URL="https://identity.example.com/.well-known/jwks.json"
    )
    result = _manage("check", environment=environment)
    assert result.returncode == 0, result.stderr


_ZERO_FIELD_KEY = base64.b64encode(bytes(32)).decode()
_TEXT_FIELD_KEY = base64.b64encode(b"our-company-field-key-32-bytes!!").decode()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        # The identity service's published sample, and what docker-compose.yml used to carry.
        ("IDENTITY_JWT_SECRET", "your-super-secret-jwt-key-change-in-production"),
        ("IDENTITY_JWT_SECRET", "change-me-shared-with-the-identity-service"),
        ("HUB_SECRET_KEY", "change-me-to-a-random-value-of-at-least-fifty-characters-0123456789"),
        ("HUB_SECRET_KEY", DEV_JWT_SECRET + "-" + DEV_JWT_SECRET),
        ("IDENTITY_JWT_SECRET", "another-secret-that-is-long-enough-for-hs256"),
        # Placeholders and low entropy, long enough for the length rule.
        ("HUB_SECRET_KEY", "changeme" * 8),
        ("HUB_SECRET_KEY", "x" * 64),
        ("HUB_SECRET_KEY", "Xy7#kQ2!" * 8),
        ("HUB_SECRET_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP"),
        ("IDENTITY_JWT_SECRET", "secret" * 8),
        ("IDENTITY_JWT_SECRET", "correct-horse-battery-staple-is-the-key"),
        ("HUB_FIELD_KEYS", _ZERO_FIELD_KEY),
        ("HUB_FIELD_KEYS", _TEXT_FIELD_KEY),
        ("HUB_FIELD_KEYS", f"{master_key_generate()},{_ZERO_FIELD_KEY}"),
    ],
)
def test_prod_refuses_public_and_low_entropy_secrets(variable, value):
    result = _manage("check", environment=_prod_environment(**{variable: value}))
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert variable in last_line, result.stderr
    # The message names the variable, never the secret (logs are read by more people than the secret).
    for secret in value.split(","):
        assert secret not in result.stdout + result.stderr


def test_prod_accepts_generated_secrets():
    # _prod_environment draws them the way the README says to; check --deploy adds nothing for them.
    result = _manage("check", environment=_prod_environment(IDENTITY_JWT_SECRET=secrets.token_hex(16)))
    assert result.returncode == 0, result.stderr


def test_dev_and_test_keep_their_development_secrets():
    for hub_env in ("dev", "test"):
        environment = _prod_environment(
            HUB_ENV=hub_env, HUB_SECRET_KEY=None, IDENTITY_JWT_SECRET="x" * 40, HUB_FIELD_KEYS=None
        )
        result = _manage("check", environment=environment)
        assert result.returncode == 0, result.stderr


def test_docker_compose_commits_no_secret():
    compose = yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())
    secret_names = {
        "HUB_SECRET_KEY", "IDENTITY_JWT_SECRET", "HUB_FIELD_KEYS",
        "POSTGRES_PASSWORD", "HUB_OWNER_PASSWORD", "HUB_APP_PASSWORD",
    }  # fmt: skip
    seen = set()
    for service in compose["services"].values():
        dev = service["profiles"] == ["dev"]
        for name, value in (service.get("environment") or {}).items():
            if name in secret_names and not dev:
                seen.add(name)
                # From .env (manage.py generate_secrets): empty when missing, which prod refuses.
                assert re.fullmatch(rf"\$\{{{name}:[-?][^}}]*\}}", value), (name, value)
            elif name in secret_names:
                # The dev profile: the settings' development values, or a database password so named.
                assert name.endswith("_PASSWORD"), (name, value)
                assert value.startswith("dev-only-"), (name, value)
            if name.startswith("DATABASE_") and "URL" in name:
                password = re.fullmatch(r"postgresql://[^:]+:([^@]+)@.*", value)
                assert password is not None, (name, value)
                assert password.group(1).startswith("dev-only-" if dev else "${"), (name, value)
    assert seen == secret_names


@pytest.mark.parametrize("proxies", ["10.0.0.0/33", "10.0.0.0/8,proxy.internal", "*"])
def test_a_bad_trusted_proxy_refuses_to_start(proxies):
    result = _manage("check", environment=_prod_environment(HUB_TRUSTED_PROXIES=proxies))
    assert result.returncode != 0, result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured: HUB_TRUSTED_PROXIES:" in last_line, result.stderr


def test_trusted_proxies_take_addresses_and_networks():
    result = _manage("check", environment=_prod_environment(HUB_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7,::1"))
    assert result.returncode == 0, result.stderr


def test_prod_redirect_exemption_is_for_the_probes_exactly():
    # "/healthz\n" is not the probe: it must not escape the HTTPS redirect as "^healthz$" let it.
    code = (
        "from django.test import Client; client = Client(HTTP_HOST='hub.example.com'); "
        "print(client.get('/healthz').status_code, client.get('/healthz%0A').status_code)"
    )
    result = _manage("shell", "--no-imports", "-c", code, environment=_prod_environment())
    assert result.stdout.split() == ["200", "301"], result.stdout + result.stderr


def test_mint_dev_token_is_refused_in_prod():
    result = _manage("mint_dev_token", "--platform", "--roles", "admin", environment=_prod_environment())
    assert result.returncode != 0
    assert "HUB_ENV=prod" in result.stderr
    assert result.stdout.count(".") < 2  # no JWT printed


# --- OpenAPI -------------------------------------------------------------------------------------


def test_tenant_openapi_document_lists_the_entities_paths(db):
    response = Client(headers={"Host": "alpha.localhost"}).get("/api/v1/openapi.json")
    assert response.status_code == 200, response.content
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/entities/" in document["paths"]
    assert "/api/v1/entities/{entity_id}" in document["paths"]
    assert not any(path.startswith("/api/platform/") for path in document["paths"])


def test_tenant_docs_page_is_html(db):
    response = Client(headers={"Host": "alpha.localhost"}).get("/api/v1/docs")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"openapi.json" in response.content


def test_platform_openapi_document_lists_the_tenants_paths(db):
    response = Client(headers={"Host": "localhost"}).get("/api/platform/v1/openapi.json")
    assert response.status_code == 200, response.content
    paths = response.json()["paths"]
    assert "/api/platform/v1/tenants" in paths
    assert "/api/platform/v1/tenants/{organization_id}" in paths
    assert "/api/platform/v1/tenants/{organization_id}/suspend" in paths
    assert not any(path.startswith("/api/v1/") for path in paths)


@pytest.mark.parametrize("path", [ENTITIES, "/api/v1/openapi.json", "/api/v1/docs"])
def test_tenant_api_is_not_served_on_the_bare_domain(platform_client, path):
    _json_error(platform_client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    "path", ["/api/platform/v1/tenants", "/api/platform/v1/openapi.json", "/api/platform/v1/docs"]
)
def test_platform_api_is_not_served_on_tenant_hosts(db, client_for, tenant_a, path):
    # Not even to a platform_admin token: the path does not exist on a tenant host.
    _json_error(client_for(tenant_a, ["admin"]).get(path), 404, "not_found")
    _json_error(Client(headers={"Host": "alpha.localhost"}).get(path), 404, "not_found")


# --- Framework errors are JSON -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/nothing/here", "/api/v1/", "/api/v1/nope", "/api/v1/entities"])
def test_unknown_path_on_a_tenant_host_is_404_json(member_client, path):
    _json_error(member_client.get(path), 404, "not_found")


def test_unknown_path_on_the_bare_domain_is_404_json(platform_client):
    _json_error(platform_client.get("/nothing/here"), 404, "not_found")


def test_wrong_method_is_405_json_with_allow(member_client):
    response = member_client.put(ENTITIES, {"kind": "customer"}, content_type="application/json")
    _json_error(response, 405, "method_not_allowed")
    allowed = {method.strip() for method in response["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed


def test_wrong_method_on_the_platform_api_is_405_json(platform_client):
    response = platform_client.put("/api/platform/v1/tenants", {}, content_type="application/json")
    _json_error(response, 405, "method_not_allowed")
    assert "Allow" in response


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/audit/", {"object_id": "a\x00b"}),
        ("/api/v1/scheduling/resources", {"kind": "room\x00"}),
        (ENTITIES, {"a\x00": "1"}),
        ("/api/v1/privacy/retention/entities%00.entity", {}),
    ],
)
def test_nul_in_the_path_or_query_is_400_before_anything_reads_it(admin_client, path, query):
    # PostgreSQL cannot hold NUL in text: such a value reaching a query could only fail there (a 500).
    _json_error(admin_client.get(path, query), 400, "malformed_request")


def test_nul_in_a_platform_query_is_400(platform_client):
    _json_error(platform_client.get("/api/platform/v1/tenants", {"status": "\x00"}), 400, "malformed_request")


def _entity_count(client: Client) -> int:
    response = client.get(ENTITIES)
    assert response.status_code == 200
    return int(response.json()["count"])


def test_body_too_large_is_refused_as_json_and_creates_nothing(member_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 512
    before = _entity_count(member_client)
    body = {"kind": "customer", "name": "Too big", "attributes": {"note": "x" * 2000}}
    response = member_client.post(ENTITIES, body, content_type="application/json")
    assert response.status_code in (400, 413), response.content
    _json_error(response, response.status_code)
    assert _entity_count(member_client) == before
    # The same request, small enough, goes through: the size was the only problem.
    body["attributes"] = {"note": "x" * 20}
    assert member_client.post(ENTITIES, body, content_type="application/json").status_code == 201
    assert _entity_count(member_client) == before + 1


def test_malformed_json_is_400_json(member_client):
    response = member_client.post(ENTITIES, "{not json", content_type="application/json")
    _json_error(response, 400)


# --- An error response changes nothing ----------------------------------------------------------


def test_an_error_response_leaves_no_user_mirror_behind(db, client_for, tenant_a):
    sub = uuid.uuid4()
    client = client_for(tenant_a, ["member"], sub=str(sub), email=f"{sub.hex}@example.com")
    missing = client.get(f"{ENTITIES}{uuid.uuid4()}")
    _json_error(missing, 404, "entity_not_found")
    assert not User.objects.filter(id=sub).exists()

    assert client.get(ENTITIES).status_code == 200
    mirrored = User.objects.get(id=sub)
    assert mirrored.email == f"{sub.hex}@example.com"


def test_a_refused_write_leaves_nothing_behind(db, client_for, tenant_a):
    sub = uuid.uuid4()
    client = client_for(tenant_a, ["member"], sub=str(sub))
    before = _entity_count(client_for(tenant_a, ["viewer"]))
    response = client.post(ENTITIES, {"kind": "no-such-kind", "name": "X"}, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert _entity_count(client_for(tenant_a, ["viewer"])) == before
    assert not User.objects.filter(id=sub).exists()


# --- dev_setup -------------------------------------------------------------------------------------


def _dev_setup() -> str:
    out = StringIO()
    call_command("dev_setup", stdout=out)
    return out.getvalue()


def test_dev_setup_provisions_demo_once_and_prints_a_working_token(committed_db, settings):
    settings.HUB_ENV = "dev"
    assert not Organization.objects.filter(slug="demo").exists()

    output = _dev_setup()
    assert "provisioned" in output
    demo = Organization.objects.get(slug="demo")
    assert demo.organization_id == DEMO_ORGANIZATION_ID
    assert demo.primary_domain == "demo.localhost"
    token_match = re.search(r"^export HUB_TOKEN=(\S+)$", output, re.MULTILINE)
    assert token_match, output
    curl_lines = [line for line in output.splitlines() if line.startswith("curl ")]
    assert curl_lines, output
    assert all('-H "Host: demo.localhost"' in line for line in curl_lines)
    assert any(
        f"http://{django_settings.HUB_HOST}:{django_settings.HUB_PORT}/" in line for line in curl_lines
    )

    token = token_match.group(1)
    client = Client(headers={"Host": "demo.localhost", "Authorization": f"Bearer {token}"})
    listed = client.get(ENTITIES)
    assert listed.status_code == 200, listed.content
    assert listed.json()["count"] == 0
    # An admin token: it may write too.
    created = client.post(ENTITIES, {"kind": "customer", "name": "Acme"}, content_type="application/json")
    assert created.status_code == 201, created.content

    again = _dev_setup()
    assert "provisioned" not in again
    assert re.search(r"^export HUB_TOKEN=\S+$", again, re.MULTILINE)
    assert Organization.objects.filter(slug="demo").count() == 1
    # The demo data survived the second run.
    assert client.get(ENTITIES).json()["count"] == 1


def test_dev_setup_token_is_real_shaped_and_its_user_an_admin_member_of_an_older_demo(committed_db, settings):
    settings.HUB_ENV = "dev"
    # A demo tenant provisioned before memberships existed: nobody holds a role in it.
    tenant_provision(organization_id=DEMO_ORGANIZATION_ID, slug="demo", name="Demo", check_identity=False)

    token_match = re.search(r"^export HUB_TOKEN=(\S+)$", _dev_setup(), re.MULTILINE)
    assert token_match
    token = token_match.group(1)

    claims = jwt.decode(token, options={"verify_signature": False})
    assert "roles" not in claims
    client = Client(headers={"Host": "demo.localhost", "Authorization": f"Bearer {token}"})
    me = client.get("/api/v1/me")
    assert me.status_code == 200, me.content
    assert (me.json()["roles"], me.json()["roles_source"]) == (["admin"], "membership")


@pytest.mark.parametrize("hub_env", ["test", "prod"])
def test_dev_setup_does_nothing_outside_dev(committed_db, settings, hub_env):
    settings.HUB_ENV = hub_env
    output = _dev_setup()
    assert "nothing to do" in output
    assert "HUB_TOKEN" not in output
    assert not Organization.objects.filter(slug="demo").exists()
    assert not Organization.objects.filter(organization_id=DEMO_ORGANIZATION_ID).exists()
