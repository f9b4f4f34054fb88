"""The client's address (contract section 2, ``HUB_TRUSTED_PROXIES``): ``X-Forwarded-For`` is believed only
from a trusted proxy, read from the right; what the access log and the audit trail record."""

from __future__ import annotations

import logging
import socket

import pytest
from django.test import Client, RequestFactory
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from hub.client_address import client_address, trusted_proxies_parse
from tenants.models import Organization
from tests.helpers import gunicorn_serving
from tests.test_operations import _prod_environment

ENTITIES = "/api/v1/entities/"
PROXIES = ["10.0.0.0/8", "192.0.2.7", "2001:db8:cafe::/48"]


@pytest.mark.parametrize(
    ("trusted", "remote_addr", "forwarded_for", "client"),
    [
        # No trusted proxy (the default): the header is never believed, whoever sends it.
        ([], "198.51.100.4", "", "198.51.100.4"),
        ([], "198.51.100.4", "203.0.113.9", "198.51.100.4"),
        ([], "10.1.2.3", "203.0.113.9", "10.1.2.3"),
        # A direct client spoofing the header while proxies are configured: still its own address.
        (PROXIES, "198.51.100.4", "203.0.113.9", "198.51.100.4"),
        (PROXIES, "198.51.100.4", "10.0.0.1", "198.51.100.4"),
        # Through one trusted proxy.
        (PROXIES, "10.1.2.3", "203.0.113.9", "203.0.113.9"),
        (PROXIES, "192.0.2.7", " 203.0.113.9 ", "203.0.113.9"),
        # A chain: read from the right, skipping trusted proxies; the client's own prefix is never read.
        (PROXIES, "10.1.2.3", "1.1.1.1, 203.0.113.9, 10.9.9.9", "203.0.113.9"),
        (PROXIES, "10.1.2.3", "10.7.7.7, 10.9.9.9", "10.7.7.7"),
        (PROXIES, "10.1.2.3", "", "10.1.2.3"),
        # IPv6, with and without brackets and ports, and IPv4 behind a dual-stack socket.
        (PROXIES, "2001:db8:cafe::1", "2001:db8:1::5", "2001:db8:1::5"),
        (PROXIES, "2001:db8:cafe::1", "[2001:db8:1::5]:4711", "2001:db8:1::5"),
        (PROXIES, "::ffff:10.1.2.3", "203.0.113.9:4711", "203.0.113.9"),
        (PROXIES, "2001:db8:beef::1", "203.0.113.9", "2001:db8:beef::1"),
        # Garbage never crashes and never reaches the inet column: the last hop vouched for is kept.
        (PROXIES, "10.1.2.3", "not-an-address", "10.1.2.3"),
        (PROXIES, "10.1.2.3", "203.0.113.9, <script>", "10.1.2.3"),
        (PROXIES, "10.1.2.3", "garbage, 10.9.9.9", "10.9.9.9"),
        (PROXIES, "10.1.2.3", "fe80::1%eth0", "10.1.2.3"),
        (PROXIES, "10.1.2.3", "203.0.113.9\n", "203.0.113.9"),
        (PROXIES, "10.1.2.3", "203.0.113.9:http", "10.1.2.3"),
        (PROXIES, "10.1.2.3", "[2001:db8::1", "10.1.2.3"),
        (PROXIES, "10.1.2.3", ",,,", "10.1.2.3"),
        (PROXIES, "not-an-address", "203.0.113.9", None),
        ([], "", "203.0.113.9", None),
    ],
)
def test_client_address(settings, trusted, remote_addr, forwarded_for, client):
    settings.HUB_TRUSTED_PROXIES = trusted
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_address(request) == client


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "10.0.0.1/8", "proxy.internal", "*", "2001:db8::/129"])
def test_a_bad_trusted_proxy_is_named(entry):
    with pytest.raises(ValueError, match="is not an IP address or a CIDR network") as refused:
        trusted_proxies_parse(["10.0.0.0/8", entry])
    assert repr(entry) in str(refused.value)


def _entry_of(tenant: Organization, request_id: str) -> AuditEntry:
    with tenant_context(tenant):
        return AuditEntry.objects.get(request_id=request_id)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("trusted", "remote_addr", "forwarded_for", "recorded"),
    [
        ([], "10.1.2.3", "203.0.113.9", "10.1.2.3"),
        (PROXIES, "10.1.2.3", "198.51.100.1, 203.0.113.9", "203.0.113.9"),
        (PROXIES, "198.51.100.4", "203.0.113.9", "198.51.100.4"),
        (PROXIES, "2001:db8:cafe::1", "2001:db8:1::5", "2001:db8:1::5"),
        (PROXIES, "10.1.2.3", "'; DROP TABLE x; --", "10.1.2.3"),
    ],
)
def test_audit_entries_and_access_log_record_the_client(
    settings,
    caplog,
    viewer_client: Client,
    tenant_a: Organization,
    trusted,
    remote_addr,
    forwarded_for,
    recorded,
):
    settings.HUB_TRUSTED_PROXIES = trusted
    with caplog.at_level(logging.INFO, logger="hub.access"):
        response = viewer_client.get(
            ENTITIES,
            headers={"X-Request-ID": "req-client-address", "X-Forwarded-For": forwarded_for},
            REMOTE_ADDR=remote_addr,
        )
    assert response.status_code == 200, response.content
    assert _entry_of(tenant_a, "req-client-address").remote_addr == recorded
    [line] = [record for record in caplog.records if record.name == "hub.access"]
    assert line.client == recorded


# X-Forwarded-Proto: the same rule, applied by gunicorn as `make run` and the Dockerfile start it.


def _status(port: int, *headers: str) -> int:
    head = "\r\n".join(["GET /api/v1/me HTTP/1.1", "Host: hub.example.com", "Connection: close", *headers])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(f"{head}\r\n\r\n".encode())
        status_line = connection.recv(65536).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_a_spoofed_forwarded_proto_does_not_skip_the_https_redirect() -> None:
    with gunicorn_serving(_prod_environment()) as port:
        assert _status(port) == 301
        assert _status(port, "X-Forwarded-Proto: https") == 301


def test_a_trusted_proxy_forwarded_proto_is_believed() -> None:
    with gunicorn_serving(_prod_environment(HUB_TRUSTED_PROXIES="127.0.0.1")) as port:
        assert _status(port) == 301
        # Past the redirect: the platform API's answer (no token), whatever the database says.
        assert _status(port, "X-Forwarded-Proto: https") != 301
