"""What a fuzzer found at the edges of a request: over-long request lines and headers, list-valued
query parameters past their ``maxItems``, and dates given as numbers.

Every refusal is the contract's JSON error, whoever answers it: the Hub's own guard (a URI longer
than ``api.middleware.MAX_URI_LENGTH``, in-process and under any server) and gunicorn itself
(``platform/gunicorn.conf.py``, served by ``make run`` and in production) for what never reaches
the application.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client

from api.middleware import MAX_URI_LENGTH
from tests.helpers import assert_error, gunicorn_serving

CALENDAR = "/api/v1/scheduling/calendar?from=2030-01-07T00:00Z&to=2030-01-08T00:00Z"
TRANSACTIONS = "/api/v1/transactions/"


def _resources(count: int) -> str:
    return "".join(f"&resource={uuid.uuid4()}" for _ in range(count))


@pytest.mark.parametrize("client_name", ["admin_client", "platform_client"])
def test_an_over_long_uri_is_a_json_414(request: pytest.FixtureRequest, client_name: str) -> None:
    client: Client = request.getfixturevalue(client_name)
    response = client.get("/api/v1/entities/?q=" + "a" * MAX_URI_LENGTH)
    assert_error(response, 414, "uri_too_long")


def test_a_uri_at_the_limit_is_served(admin_client: Client) -> None:
    path = "/api/v1/entities/?kind=a"
    response = admin_client.get(path + "&x=" + "a" * (MAX_URI_LENGTH - len(path) - 3))
    assert response.status_code == 200, response.content


def test_a_full_resource_list_fits_in_a_uri(admin_client: Client) -> None:
    # maxItems resources (unknown ones here) are read and looked up: the URI limit leaves room for them.
    assert_error(admin_client.get(CALENDAR + _resources(100)), 404, "resource_not_found")


def test_a_resource_list_past_max_items_is_a_422_naming_it(admin_client: Client) -> None:
    body = assert_error(admin_client.get(CALENDAR + _resources(101)), 422, "validation_error")
    assert body["errors"][0]["loc"][-1] == "resource"


def test_every_list_query_parameter_has_max_items() -> None:
    from api.platform import api as platform_api
    from api.tenant import api as tenant_api

    for api, prefix in ((tenant_api, "/api/v1/"), (platform_api, "/api/platform/v1/")):
        for path, operations in api.get_openapi_schema(path_prefix=prefix)["paths"].items():
            for method, operation in operations.items():
                for parameter in operation.get("parameters", []):
                    for variant in parameter["schema"].get("anyOf", [parameter["schema"]]):
                        if variant.get("type") == "array":
                            assert variant.get("maxItems"), (method, path, parameter["name"])


@pytest.mark.parametrize("value", ["0", "1700000000", "2026-01-01T00:00:00", "20260101", "2026-W01-1"])
@pytest.mark.parametrize("name", ["date_from", "date_to"])
def test_a_date_filter_is_an_iso_date_string(admin_client: Client, name: str, value: str) -> None:
    body = assert_error(admin_client.get(TRANSACTIONS, {name: value}), 422, "validation_error")
    assert body["errors"][0]["loc"][-1] == name


def test_an_iso_date_filter_is_served(admin_client: Client) -> None:
    response = admin_client.get(TRANSACTIONS, {"date_from": "2026-01-01", "date_to": "2026-12-31"})
    assert response.status_code == 200, response.content


def test_a_balance_date_is_an_iso_date_string(admin_client: Client) -> None:
    response = admin_client.get(f"{TRANSACTIONS}accounts/{uuid.uuid4()}/balance", {"as_of": "0"})
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("value", [0, 20260101, "2026-01-01T00:00:00", "2026-W01-1"])
def test_a_posting_date_is_an_iso_date_string(admin_client: Client, value: object) -> None:
    body = {
        "description": "x",
        "currency": "EUR",
        "effective_date": value,
        "postings": [
            {"account_id": str(uuid.uuid4()), "amount": "1.00"},
            {"account_id": str(uuid.uuid4()), "amount": "-1.00"},
        ],
    }
    response = admin_client.post(
        TRANSACTIONS, body, content_type="application/json", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    errors = assert_error(response, 422, "validation_error")["errors"]
    assert errors[0]["loc"] == ["effective_date"], errors


@pytest.mark.parametrize(
    ("weekly", "exceptions"),
    [
        ([{"weekday": 0, "start": 32400, "end": "17:00"}], []),
        ([{"weekday": 0, "start": "0900", "end": "17:00"}], []),
        ([], [{"date": 0}]),
        ([], [{"date": "2026-01-01T00:00:00"}]),
    ],
)
def test_availability_times_and_dates_are_iso_strings(
    admin_client: Client, weekly: list[object], exceptions: list[object]
) -> None:
    resource = admin_client.post(
        "/api/v1/scheduling/resources",
        {"kind": "room", "name": "R", "timezone": "Europe/Berlin"},
        content_type="application/json",
    ).json()
    response = admin_client.put(
        f"/api/v1/scheduling/resources/{resource['id']}/availability",
        {"weekly": weekly, "exceptions": exceptions},
        content_type="application/json",
    )
    assert_error(response, 422, "validation_error")


# gunicorn, as `make run` and the Dockerfile start it: what it refuses before the application.


@pytest.fixture(scope="module")
def gunicorn_server() -> Iterator[int]:
    with gunicorn_serving(dict(os.environ)) as port:
        yield port


def _raw_request(port: int, head: bytes) -> tuple[int, str, dict[str, object]]:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    header, _, body = answer.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), fields.get("Content-Type", ""), json.loads(body)


def test_gunicorn_answers_an_over_long_request_line_with_json(gunicorn_server: int) -> None:
    status, content_type, body = _raw_request(
        gunicorn_server, b"GET /api/v1/entities/?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    assert (status, content_type, body["code"]) == (414, "application/json", "uri_too_long")
    assert isinstance(body["detail"], str)


def test_gunicorn_answers_an_over_long_header_with_json(gunicorn_server: int) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + b"a" * 40_000 + b"\r\n\r\n"
    status, content_type, body = _raw_request(gunicorn_server, head)
    assert (status, content_type, body["code"]) == (431, "application/json", "header_too_large")


def test_gunicorn_answers_a_malformed_request_with_json(gunicorn_server: int) -> None:
    status, content_type, body = _raw_request(
        gunicorn_server, b"GET /\x01 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    assert (status, content_type, body["code"]) == (400, "application/json", "bad_request")


def test_gunicorn_passes_a_full_resource_list_to_the_hub(gunicorn_server: int) -> None:
    # A request line as long as a calendar's with maxItems resources reaches the application (its
    # health probe answers without a database).
    target = ("/healthz?" + CALENDAR.partition("?")[2] + _resources(100)).encode()
    status, content_type, body = _raw_request(
        gunicorn_server, b"GET " + target + b" HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )
    assert (status, content_type, body) == (200, "application/json", {"status": "ok"})


def _date_query_parameters() -> list[tuple[str, str, str]]:
    from api.tenant import api as tenant_api

    found = []
    for path, operations in tenant_api.get_openapi_schema(path_prefix="/api/v1/")["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                variants = parameter["schema"].get("anyOf", [parameter["schema"]])
                if parameter["in"] == "query" and any(
                    variant.get("format") in ("date", "date-time", "time") for variant in variants
                ):
                    found.append((method, path, parameter["name"]))
    return found


@pytest.mark.parametrize(("method", "path", "name"), _date_query_parameters())
def test_every_date_query_parameter_refuses_a_number(
    admin_client: Client, method: str, path: str, name: str
) -> None:
    # Every operation, so that a module added later gets the shared strict types too.
    url = path.replace("{model}", "entities.entity")
    for placeholder in ("{entity_id}", "{account_id}", "{transaction_id}", "{resource_id}", "{booking_id}"):
        url = url.replace(placeholder, str(uuid.uuid4()))
    response = getattr(admin_client, method)(f"{url}?{name}=0", headers={"Idempotency-Key": "k"})
    body = assert_error(response, 422, "validation_error")
    assert any(error["loc"][-1] == name for error in body["errors"]), body
