"""The API docs and CORS as a browser sees them: headless Chromium against the Hub under gunicorn.

The docs pages (contract section 4: "a working page: its assets are served by the Hub, no CDN") must load
their Swagger UI from the Hub on both a tenant host and the bare platform host, list the operations, and
take a bearer token in the Authorize dialog so that "Try it out" answers 200. A page on another origin
(another local port) reads the API's JSON through CORS, and a page on an origin not allowed cannot.
Static files as the image serves them (collected, compressed) are checked here too, without a browser.
"""

from __future__ import annotations

import gzip
import http.client
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connections

from tenants.models import Organization
from tenants.services import tenant_delete, tenant_provision
from tests.browser import hub_serving
from tests.helpers import gunicorn_serving

APP_PAGE = b"<!DOCTYPE html><html><head><title>frontend</title></head><body>another origin</body></html>"


class _AppPage(BaseHTTPRequestHandler):
    """A frontend on another origin: one blank page, from which the tests call the Hub with fetch()."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(APP_PAGE)))
        self.end_headers()
        self.wfile.write(APP_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def app_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AppPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def app_origin(app_port: int) -> str:
    """The allowed frontend's origin; the same page reached as ``localhost`` is another, not allowed."""
    return f"http://127.0.0.1:{app_port}"


@pytest.fixture(scope="module")
def hub(django_db_setup: None, django_db_blocker: Any, app_origin: str) -> Iterator[int]:
    with hub_serving(HUB_CORS_ORIGINS=app_origin) as port:
        yield port


@pytest.fixture(scope="module")
def docs_tenant(django_db_setup: None, django_db_blocker: Any) -> Iterator[Organization]:
    """An organization of this module's own, committed: the server's answers to a token commit a
    member sighting, which must not land in the session's organizations (their tests expect none)."""
    with django_db_blocker.unblock():
        # Fresh connections: a module fixture runs before any test's own database fixtures, and an
        # earlier module may have left this process's connections dead (tests/test_database_restart.py
        # restarts the server under them).
        connections.close_all()
        tenant = tenant_provision(
            organization_id=uuid.uuid4(),
            slug=f"docs-{uuid.uuid4().hex[:8]}",
            name="Docs",
            check_identity=False,
        )
    try:
        yield tenant
    finally:
        with django_db_blocker.unblock():
            tenant_delete(tenant=tenant, confirm=str(tenant.organization_id))


def _docs_loaded(page: Any, url: str) -> list[tuple[str, int]]:
    """Open the docs page; every response it got (URL, status) once the operations are listed."""
    responses: list[tuple[str, int]] = []
    page.on("response", lambda response: responses.append((response.url, response.status)))
    page.goto(url)
    page.locator(".opblock").first.wait_for()
    return responses


@pytest.mark.parametrize(
    ("host", "path", "operations"),
    [
        ("alpha.localhost", "/api/v1/docs", {"/api/v1/entities/", "/api/v1/me", "/api/v1/transactions/"}),
        ("localhost", "/api/platform/v1/docs", {"/api/platform/v1/tenants"}),
    ],
)
def test_the_docs_page_lists_the_operations_with_assets_from_the_hub(
    page: Any, hub: int, host: str, path: str, operations: set[str]
) -> None:
    responses = _docs_loaded(page, f"http://{host}:{hub}{path}")
    assert operations <= set(page.locator(".opblock-summary-path").all_inner_texts())
    assets = {urlsplit(url).path: status for url, status in responses if "/static/" in url}
    assert {"/static/ninja/swagger-ui.css", "/static/ninja/swagger-ui-bundle.js"} <= set(assets)
    assert set(assets.values()) == {200}, assets
    # Everything from the Hub itself: no CDN.
    assert {urlsplit(url).netloc for url, _ in responses} == {f"{host}:{hub}"}
    assert page.console_errors == []


def test_the_authorize_dialog_takes_a_token_and_try_it_out_answers_200(
    page: Any, hub: int, make_token: Any, docs_tenant: Organization
) -> None:
    _docs_loaded(page, f"http://{docs_tenant.slug}.localhost:{hub}/api/v1/docs")
    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input#auth-bearer-value").fill(make_token(docs_tenant, ["viewer"]))
    dialog.get_by_role("button", name="Apply credentials").click()
    assert dialog.get_by_role("button", name="Remove authorization").is_visible()
    dialog.get_by_role("button", name="Close").click()

    operation = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/api/v1/me"]')
    )
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert str(docs_tenant.organization_id) in operation.locator(".live-responses-table").inner_text()


_FETCH = """async ([url, token]) => {
    const headers = {"X-Request-ID": "cors-from-the-browser"};
    if (token) headers["Authorization"] = `Bearer ${token}`;
    try {
        const response = await fetch(url, {headers});
        return {status: response.status, body: await response.json(),
                requestId: response.headers.get("X-Request-ID")};
    } catch (error) {
        return {error: String(error)};
    }
}"""


def test_a_page_on_an_allowed_origin_reads_the_api(
    page: Any, hub: int, app_origin: str, make_token: Any, docs_tenant: Organization
) -> None:
    page.goto(f"{app_origin}/")
    me = f"http://{docs_tenant.slug}.localhost:{hub}/api/v1/me"
    answer = page.evaluate(_FETCH, [me, make_token(docs_tenant, ["viewer"])])
    assert answer.get("status") == 200, answer
    assert str(docs_tenant.organization_id) in str(answer["body"])
    assert answer["requestId"] == "cors-from-the-browser"  # an exposed header
    # An error too: the app can tell a missing token from anything else.
    refused = page.evaluate(_FETCH, [me, None])
    assert (refused.get("status"), refused["body"]["code"]) == (401, "not_authenticated"), refused


def test_a_page_on_another_origin_cannot_read_the_api(
    page: Any, hub: int, app_port: int, make_token: Any, docs_tenant: Organization
) -> None:
    page.goto(f"http://localhost:{app_port}/")  # same server, an origin not in HUB_CORS_ORIGINS
    answer = page.evaluate(
        _FETCH, [f"http://{docs_tenant.slug}.localhost:{hub}/api/v1/me", make_token(docs_tenant, ["viewer"])]
    )
    assert "error" in answer, answer
    assert any("CORS policy" in message for message in page.console_errors), page.console_errors


# Static files as the image serves them: collected by `manage.py collectstatic` with the Dockerfile's
# throwaway settings, then served from STATIC_ROOT (compressed for those who accept it) in production.


@pytest.fixture(scope="module")
def collected_static(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static") / "collected"
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("HUB_", "DATABASE_"))
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0", "-i", "*.map"],
        cwd=Path(__file__).resolve().parent.parent,
        env={
            **environment,
            "HUB_ENV": "test",
            "DATABASE_URL": "postgresql://collectstatic@127.0.0.1/none",
            "HUB_STATIC_ROOT": str(root),
        },
        check=True,
        timeout=300,
    )
    return root


def _get(port: int, path: str, **headers: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Host": "hub.example.com", **headers})
    return connection.getresponse()


def test_the_image_serves_the_collected_files_compressed(collected_static: Path) -> None:
    from tests.test_operations import _prod_environment

    environment = _prod_environment(HUB_STATIC_ROOT=str(collected_static), HUB_SECURE_SSL_REDIRECT="0")
    with gunicorn_serving(environment) as port:
        plain = _get(port, "/static/ninja/swagger-ui.css")
        assert plain.status == 200
        css = plain.read()
        compressed = _get(port, "/static/ninja/swagger-ui.css", **{"Accept-Encoding": "gzip"})
        assert (compressed.status, compressed.getheader("Content-Encoding")) == (200, "gzip")
        assert gzip.decompress(compressed.read()) == css
        assert _get(port, "/static/ninja/no-such-file.js").status == 404
