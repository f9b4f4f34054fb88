"""ETags and If-Match on entities, accounts, resources and bookings (issue 13 item 3, ``api.etags``).

Every object answers a strong ETag on its reads and writes; a PATCH or DELETE (and a booking's cancel)
with a stale If-Match is a 412 that changes nothing; ``HUB_REQUIRE_IF_MATCH`` makes the header
mandatory (428). The comparison is made under the row lock: of two writers holding the same ETag, the
second waits for the first and then fails (staged races, no sleeps). Another organization's object is
a 404 whatever the header says.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from api.etags import IfMatch, etag_of, if_match_parse
from apps.entities import services as entities
from apps.entities.models import Entity
from apps.ledger import services as ledger
from apps.ledger.models import Account
from apps.scheduling import services as scheduling
from apps.scheduling.models import Booking, Resource
from hub.errors import BadRequest, PreconditionFailed
from tenants.models import Organization, User
from tenants.services import tenant_provision
from tests.helpers import assert_error, staged
from tests.query_counts import assert_statements

JSON = "application/json"
ETAG = re.compile(r'^"[0-9a-f]{32}"$')
DEFAULT_SUB = uuid.UUID(int=0x1234)  # the sub of conftest.make_token's tokens
START = datetime(2031, 3, 3, 9, tzinfo=UTC)


def _user() -> User:
    user, _ = User.objects.get_or_create(id=DEFAULT_SUB, defaults={"email": "someone@example.com"})
    return user


def _entity(tenant: Organization) -> Entity:
    with tenant_context(tenant):
        return entities.entity_create(actor=_user(), kind="customer", name="Acme AG")


def _account(tenant: Organization) -> Account:
    with tenant_context(tenant):
        return ledger.account_create(
            actor=_user(), code=uuid.uuid4().hex[:8], name="Cash", type="asset", currency="EUR"
        )


def _resource(tenant: Organization) -> Resource:
    with tenant_context(tenant):
        return scheduling.resource_create(kind="room", name="Room 1", timezone="UTC")


def _booking(tenant: Organization) -> Booking:
    resource = _resource(tenant)
    with tenant_context(tenant):
        return scheduling.booking_create(
            actor=_user(), resource_id=resource.id, start=START, end=START + timedelta(hours=1)
        )


@dataclass(frozen=True)
class Kind:
    """One of the four objects: how to make one, where it lives, a change, who may write it."""

    name: str
    make: Callable[[Organization], Any]
    path: str  # the detail URL, ``{}`` for the id

    def url(self, obj: Any) -> str:
        return self.path.format(getattr(obj, "id", obj))

    change: dict[str, Any]
    role: str
    deletable: bool
    create: tuple[str, Callable[[Organization], dict[str, Any]]]


KINDS = [
    Kind(
        "entity",
        _entity,
        "/api/v1/entities/{}",
        {"name": "Acme Holding"},
        "member",
        deletable=True,
        create=("/api/v1/entities/", lambda tenant: {"kind": "customer", "name": "New"}),
    ),
    Kind(
        "account",
        _account,
        "/api/v1/transactions/accounts/{}",
        {"name": "Petty cash"},
        "member",
        deletable=False,
        create=(
            "/api/v1/transactions/accounts",
            lambda tenant: {"code": "7777", "name": "New", "type": "asset", "currency": "EUR"},
        ),
    ),
    Kind(
        "resource",
        _resource,
        "/api/v1/scheduling/resources/{}",
        {"name": "Room 2"},
        "admin",
        deletable=True,
        create=(
            "/api/v1/scheduling/resources",
            lambda tenant: {"kind": "room", "name": "R", "timezone": "UTC"},
        ),
    ),
    Kind(
        "booking",
        _booking,
        "/api/v1/scheduling/bookings/{}",
        {"notes": "moved to the afternoon"},
        "member",
        deletable=False,
        create=(
            "/api/v1/scheduling/bookings",
            lambda tenant: {
                "resource_id": str(_resource(tenant).id),
                "start": "2031-04-01T10:00:00Z",
                "end": "2031-04-01T11:00:00Z",
            },
        ),
    ),
]
BY_NAME = {kind.name: kind for kind in KINDS}
DELETABLE = [kind for kind in KINDS if kind.deletable]


@pytest.fixture(params=KINDS, ids=lambda kind: kind.name)
def kind(request: pytest.FixtureRequest) -> Kind:
    return request.param


def _client(client_for: Any, tenant: Organization, kind: Kind) -> Client:
    return client_for(tenant, [kind.role])


def _patch(client: Client, url: str, body: dict[str, Any], **headers: str) -> Any:
    return client.patch(url, body, content_type=JSON, headers=headers)


# --- Parsing ---------------------------------------------------------------------------------------


def test_if_match_parses_star_lists_and_drops_weak_tags() -> None:
    assert if_match_parse(" * ").any
    parsed = if_match_parse('"a" , W/"b","c,d"')
    assert not parsed.any
    assert parsed.tags == {'"a"', '"c,d"'}  # a comma inside the quotes belongs to the tag
    assert if_match_parse('W/"only-weak"').tags == frozenset()


@pytest.mark.parametrize("value", ["", "abc", '"a" "b"', '"a",,', '"unterminated', '*, "a"', 'W/ "a"'])
def test_a_malformed_if_match_is_a_bad_request(value: str) -> None:
    with pytest.raises(BadRequest):
        if_match_parse(value)


# --- Headers on reads and writes -------------------------------------------------------------------


def test_reads_and_writes_answer_the_current_strong_etag(
    kind: Kind, tenant_a: Organization, client_for: Any
) -> None:
    obj = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)

    read = client.get(kind.url(obj))
    again = client.get(kind.url(obj))
    changed = _patch(client, kind.url(obj), kind.change)
    reread = client.get(kind.url(obj))

    assert read.status_code == again.status_code == changed.status_code == reread.status_code == 200
    assert ETAG.match(read["ETag"]), read["ETag"]
    assert read["ETag"] == again["ETag"]
    assert changed["ETag"] != read["ETag"]
    assert changed["ETag"] == reread["ETag"]  # the write answers the version it made


def test_a_create_answers_the_etag_a_read_then_answers(
    kind: Kind, tenant_a: Organization, client_for: Any
) -> None:
    url, body = kind.create
    client = _client(client_for, tenant_a, kind)
    created = client.post(url, body(tenant_a), content_type=JSON)
    assert created.status_code == 201, created.content
    read = client.get(kind.url(created.json()["id"]))
    assert created["ETag"] == read["ETag"]


# --- If-Match on PATCH -----------------------------------------------------------------------------


def test_a_patch_with_the_current_etag_applies(kind: Kind, tenant_a: Organization, client_for: Any) -> None:
    obj = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    current = client.get(kind.url(obj))["ETag"]

    response = _patch(client, kind.url(obj), kind.change, **{"If-Match": current})

    assert response.status_code == 200, response.content
    field, value = next(iter(kind.change.items()))
    assert response.json()[field] == value


def test_a_patch_with_a_stale_etag_is_412_and_changes_nothing(
    kind: Kind, tenant_a: Organization, client_for: Any
) -> None:
    obj = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    stale = client.get(kind.url(obj))["ETag"]
    first = _patch(client, kind.url(obj), kind.change, **{"If-Match": stale})
    assert first.status_code == 200
    field = next(iter(kind.change))

    second = _patch(client, kind.url(obj), {field: "a lost update"}, **{"If-Match": stale})

    body = assert_error(second, 412, "precondition_failed")
    assert "changed since you read it" in body["detail"]
    now = client.get(kind.url(obj))
    assert now.json()[field] == kind.change[field]
    assert now["ETag"] == first["ETag"]


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("*", 200),
        ('"0123456789abcdef0123456789abcdef", {current}', 200),
        ("W/{current}", 412),  # weak tags never match for If-Match (RFC 9110, 13.1.1)
        ('"0123456789abcdef0123456789abcdef"', 412),
        ("{current}x", 400),
    ],
)
def test_if_match_star_lists_and_weak_tags(
    kind: Kind, tenant_a: Organization, client_for: Any, header: str, status: int
) -> None:
    obj = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    current = client.get(kind.url(obj))["ETag"]

    response = _patch(client, kind.url(obj), kind.change, **{"If-Match": header.format(current=current)})

    assert response.status_code == status, response.content
    if status != 200:
        assert_error(response, status, "precondition_failed" if status == 412 else "malformed_request")


def test_etags_of_two_objects_never_match_each_other(tenant_a: Organization, client_for: Any) -> None:
    kind = BY_NAME["entity"]
    one, other = kind.make(tenant_a), kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    others = client.get(kind.url(other))["ETag"]
    assert_error(
        _patch(client, kind.url(one), kind.change, **{"If-Match": others}), 412, "precondition_failed"
    )


# --- If-Match on DELETE and on a booking's cancel --------------------------------------------------


@pytest.mark.parametrize("kind", DELETABLE, ids=lambda kind: kind.name)
def test_a_delete_with_a_stale_etag_is_412_and_with_the_current_one_204(
    kind: Kind, tenant_a: Organization, client_for: Any
) -> None:
    obj = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    stale = client.get(kind.url(obj))["ETag"]
    current = _patch(client, kind.url(obj), kind.change)["ETag"]

    assert_error(client.delete(kind.url(obj), headers={"If-Match": stale}), 412, "precondition_failed")
    assert client.get(kind.url(obj)).status_code == 200  # still there
    assert client.delete(kind.url(obj), headers={"If-Match": current}).status_code == 204
    assert client.get(kind.url(obj)).status_code == 404


def test_a_booking_cancel_honours_if_match(tenant_a: Organization, client_for: Any) -> None:
    kind = BY_NAME["booking"]
    booking = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    stale = client.get(kind.url(booking))["ETag"]
    current = _patch(client, kind.url(booking), kind.change)["ETag"]
    cancel = f"{kind.url(booking)}/cancel"

    assert_error(client.post(cancel, headers={"If-Match": stale}), 412, "precondition_failed")
    assert client.get(kind.url(booking)).json()["status"] == "confirmed"
    cancelled = client.post(cancel, headers={"If-Match": current})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled["ETag"] == client.get(kind.url(booking))["ETag"] != current


# --- HUB_REQUIRE_IF_MATCH --------------------------------------------------------------------------


def test_required_if_match_refuses_a_write_without_it_with_428(
    kind: Kind, tenant_a: Organization, client_for: Any, settings: Any
) -> None:
    settings.HUB_REQUIRE_IF_MATCH = True
    obj = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    current = client.get(kind.url(obj))["ETag"]

    body = assert_error(_patch(client, kind.url(obj), kind.change), 428, "precondition_required")
    assert "If-Match" in body["detail"]
    if kind.deletable:
        assert_error(client.delete(kind.url(obj)), 428, "precondition_required")
    assert _patch(client, kind.url(obj), kind.change, **{"If-Match": current}).status_code == 200
    assert client.get(kind.url(obj)).status_code == 200  # reads never need it


def test_if_match_is_optional_by_default(kind: Kind, tenant_a: Organization, client_for: Any) -> None:
    obj = kind.make(tenant_a)
    assert _patch(_client(client_for, tenant_a, kind), kind.url(obj), kind.change).status_code == 200


# --- Isolation -------------------------------------------------------------------------------------


def test_another_organizations_object_is_404_whatever_if_match_says(
    kind: Kind, tenant_a: Organization, tenant_b: Organization, client_for: Any, settings: Any
) -> None:
    obj = kind.make(tenant_a)
    mine = _client(client_for, tenant_a, kind)
    theirs = _client(client_for, tenant_b, kind)
    etag = mine.get(kind.url(obj))["ETag"]

    for header in (etag, '"stale"', "*"):
        response = _patch(theirs, kind.url(obj), kind.change, **{"If-Match": header})
        assert response.status_code == 404, (header, response.content)
        assert "ETag" not in response
    settings.HUB_REQUIRE_IF_MATCH = True
    assert _patch(theirs, kind.url(obj), kind.change).status_code == 404  # not 428: it is not there
    if kind.deletable:
        assert theirs.delete(kind.url(obj), headers={"If-Match": etag}).status_code == 404
    assert mine.get(kind.url(obj))["ETag"] == etag  # untouched


# --- Query counts and OpenAPI ----------------------------------------------------------------------


def test_etags_cost_no_query(kind: Kind, tenant_a: Organization, client_for: Any) -> None:
    obj = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    field = next(iter(kind.change))
    client.get(kind.url(obj))  # warm the caches (routes, roles) both measured requests find warm

    with CaptureQueriesContext(connection) as plain:
        assert _patch(client, kind.url(obj), {field: kind.change[field]}).status_code == 200
    current = client.get(kind.url(obj))["ETag"]
    with CaptureQueriesContext(connection) as conditional:
        response = _patch(client, kind.url(obj), {field: kind.change[field]}, **{"If-Match": current})
    assert response.status_code == 200

    assert len(conditional.captured_queries) == len(plain.captured_queries), [
        q["sql"][:100] for q in conditional.captured_queries
    ]


def test_statements_of_conditional_entity_writes(tenant_a: Organization, client_for: Any) -> None:
    """The counts ``apps/entities/tests/test_query_counts.py`` pins for the unconditional writes: the
    comparison is made on the row the service locks anyway."""
    kind = BY_NAME["entity"]
    entity = kind.make(tenant_a)
    client = _client(client_for, tenant_a, kind)
    current = client.get(kind.url(entity))["ETag"]
    machinery = 5  # routing, the user mirror and membership, the request's savepoint (tests.query_counts)

    patched = assert_statements(
        lambda: _patch(client, kind.url(entity), {"name": "Renamed", "tags": ["a"]}, **{"If-Match": current}),
        machinery + 9,
        status=200,
    )
    assert_statements(
        lambda: client.delete(kind.url(entity), headers={"If-Match": patched["ETag"]}),
        machinery + 7,
        status=204,
    )


CONDITIONAL_OPERATIONS = [
    ("/api/v1/entities/{entity_id}", "patch"),
    ("/api/v1/entities/{entity_id}", "delete"),
    ("/api/v1/transactions/accounts/{account_id}", "patch"),
    ("/api/v1/scheduling/resources/{resource_id}", "patch"),
    ("/api/v1/scheduling/resources/{resource_id}", "delete"),
    ("/api/v1/scheduling/bookings/{booking_id}", "patch"),
    ("/api/v1/scheduling/bookings/{booking_id}/cancel", "post"),
]


def test_the_openapi_document_declares_412_and_428_where_they_can_happen(
    tenant_a: Organization, client_for: Any
) -> None:
    document = client_for(tenant_a, ["viewer"]).get("/api/v1/openapi.json").json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    assert {"precondition_failed", "precondition_required"} <= set(schemas["HubErrorCode"]["enum"])
    for path, method in CONDITIONAL_OPERATIONS:
        responses = paths[path][method]["responses"]
        assert {"412", "428"} <= responses.keys(), (path, method)
        headers = [p for p in paths[path][method].get("parameters", []) if p["in"] == "header"]
        assert [p["name"] for p in headers] == ["If-Match"], (path, method)
        assert not headers[0].get("required", False)
        error = responses["412"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert "#/components/schemas/HubErrorCode" in str(schemas[error]["properties"]["code"]), error
    for path, operations in paths.items():
        for method, operation in operations.items():
            if (path, method) not in CONDITIONAL_OPERATIONS:
                assert "412" not in operation["responses"], (path, method)


# --- Staged races: the comparison is atomic with the write -----------------------------------------


@pytest.fixture
def gamma(committed_db: None) -> Organization:
    """A committed organization (threads with their own connections see its rows), dropped after."""
    return tenant_provision(
        organization_id=uuid.uuid4(), slug=f"gamma-{uuid.uuid4().hex[:6]}", name="Gamma", check_identity=False
    )


def _write(kind: Kind, tenant: Organization, obj: Any, if_match: IfMatch, name: str) -> Callable[[], Any]:
    """The kind's update, as a request holding its own copy of ``obj`` (read before either write) and
    the ETag it read then."""

    def write() -> Any:
        with tenant_context(tenant):
            actor, stale = _user(), copy.copy(obj)
            if kind.name == "entity":
                return entities.entity_update(
                    actor=actor, entity=stale, changes={"name": name}, if_match=if_match
                )
            if kind.name == "account":
                return ledger.account_update(
                    actor=actor, account=stale, changes={"name": name}, if_match=if_match
                )
            if kind.name == "resource":
                return scheduling.resource_update(resource=stale, changes={"name": name}, if_match=if_match)
            return scheduling.booking_update(
                actor=actor, booking=stale, changes={"notes": name}, if_match=if_match
            )

    return write


def test_two_writers_with_the_same_etag_cannot_both_win(kind: Kind, gamma: Organization) -> None:
    obj = kind.make(gamma)
    read = if_match_parse(etag_of(obj))  # both clients read the same version

    outcome = staged(_write(kind, gamma, obj, read, "first"), _write(kind, gamma, obj, read, "second"))

    assert not isinstance(outcome["first"], Exception), outcome
    assert isinstance(outcome["second"], PreconditionFailed), outcome
    with tenant_context(gamma):
        stored = type(obj).objects.get(id=obj.id)
    assert getattr(stored, "notes" if kind.name == "booking" else "name") == "first"
