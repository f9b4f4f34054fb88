"""Bad input of every kind gets a 4xx in the contract's error shape and changes nothing; never a 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from apps.entities.models import Entity
from apps.entities.tests.helpers import JSON, URL, assert_error, detail_url, tenant_state
from tenants.models import Organization

pytestmark = pytest.mark.django_db


def _deep(levels: int) -> str:
    """Raw JSON of an object nesting ``levels`` containers (not built in Python: it may be very deep)."""
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


def _body(**fields: Any) -> str:
    return json.dumps({"kind": "customer", "name": "Acme", **fields})


def _raw(fragment: str) -> str:
    """A create body with one member written as raw JSON text (for what json.dumps cannot produce)."""
    return '{"kind": "customer", "name": "Acme", ' + fragment + "}"


# (body sent as is, expected status, expected code or None). Every body would be a valid create but
# for one thing; the same bodies, less kind and name where it is not the culprit, are sent as PATCHes.
MALFORMED = [
    pytest.param("{", 400, "malformed_body", id="truncated-json"),
    pytest.param("{'kind': 'customer'}", 400, "malformed_body", id="single-quotes"),
    pytest.param('{"kind": "customer", "name": "A",}', 400, "malformed_body", id="trailing-comma"),
    pytest.param("kind=customer&name=Acme", 400, "malformed_body", id="form-encoded"),
    pytest.param(_raw('"attributes": {"x": NaN}'), 400, "malformed_body", id="nan"),
    pytest.param(_raw('"attributes": {"x": Infinity}'), 400, "malformed_body", id="infinity"),
    pytest.param(_raw('"attributes": {"x": -Infinity}'), 400, "malformed_body", id="minus-infinity"),
    pytest.param(_raw('"attributes": {"x": 1' + "0" * 5000 + "}"), 400, "malformed_body", id="huge-integer"),
    pytest.param(b'{"kind": "customer", "name": "\xff\xfe"}', 400, "malformed_body", id="invalid-utf8"),
    pytest.param(_raw('"attributes": ' + _deep(100_000)), 400, "malformed_body", id="attributes-100000-deep"),
]
INVALID = [
    # wrong types
    pytest.param(_body(name=123), 422, "validation_error", id="name-int"),
    pytest.param(_body(name=["Acme"]), 422, "validation_error", id="name-list"),
    pytest.param(_body(reference=7), 422, "validation_error", id="reference-int"),
    pytest.param(_body(email=True), 422, "validation_error", id="email-bool"),
    pytest.param(_body(phone=41446681800), 422, "validation_error", id="phone-int"),
    pytest.param(_body(attributes=[1, 2]), 422, "validation_error", id="attributes-list"),
    pytest.param(_body(attributes="{}"), 422, "validation_error", id="attributes-string"),
    pytest.param(_body(attributes=None), 422, "validation_error", id="attributes-null"),
    pytest.param(_body(tags="vip"), 422, "validation_error", id="tags-string"),
    pytest.param(_body(tags=[1, 2]), 422, "validation_error", id="tags-ints"),
    pytest.param(_body(tags=None), 422, "validation_error", id="tags-null"),
    pytest.param(_body(status="deleted"), 422, "validation_error", id="status-unknown"),
    pytest.param(_body(status=1), 422, "validation_error", id="status-int"),
    pytest.param(_body(kind=["customer"]), 422, "validation_error", id="kind-list"),
    # oversized
    pytest.param(_body(name="x" * 201), 422, "validation_error", id="name-201"),
    pytest.param(_body(name="x" * 100_000), 422, "validation_error", id="name-100k"),
    pytest.param(_body(reference="x" * 101), 422, "validation_error", id="reference-101"),
    pytest.param(_body(email="a" * 250 + "@x.io"), 422, "validation_error", id="email-255"),
    pytest.param(_body(phone="+" + "1" * 40), 422, "validation_error", id="phone-41"),
    pytest.param(_body(kind="k" * 41), 422, "validation_error", id="kind-41"),
    pytest.param(_body(tags=[f"t{i}" for i in range(51)]), 422, "validation_error", id="tags-51"),
    pytest.param(_body(tags=[f"t{i}" for i in range(21)]), 422, "validation_error", id="tags-21"),
    pytest.param(_body(tags=["x" * 51]), 422, "validation_error", id="tag-51-chars"),
    pytest.param(_body(attributes={"k": "x" * 16_384}), 422, "validation_error", id="attributes-too-big"),
    pytest.param(_raw('"attributes": ' + _deep(6)), 422, "validation_error", id="attributes-6-deep"),
    pytest.param(_raw('"attributes": ' + _deep(600)), 422, "validation_error", id="attributes-600-deep"),
    pytest.param(_body(attributes={"a": [[[[[1]]]]]}), 422, "validation_error", id="attributes-deep-lists"),
    # values that break a rule
    pytest.param(_body(name=""), 422, "validation_error", id="name-empty"),
    pytest.param(_body(name="   "), 422, "validation_error", id="name-blank"),
    pytest.param(_body(email="not-an-email"), 422, "validation_error", id="email-invalid"),
    pytest.param(_body(email="a@b"), 422, "validation_error", id="email-no-tld"),
    pytest.param(_body(phone="044 668 18 00"), 422, "validation_error", id="phone-national"),
    pytest.param(_body(phone="+41 12"), 422, "validation_error", id="phone-impossible"),
    pytest.param(_body(phone="call me"), 422, "validation_error", id="phone-words"),
    pytest.param(_body(tags=["Has Space"]), 422, "validation_error", id="tag-space"),
    pytest.param(_body(kind="vendor"), 422, "entity_kind_unknown", id="kind-unknown"),
    pytest.param(_body(kind="Not A Kind!"), 422, "validation_error", id="kind-malformed"),
    pytest.param(_raw('"attributes": {"x": 1e400}'), 400, "malformed_body", id="attributes-overflow-float"),
    # NUL and other control characters, lone surrogates
    pytest.param(_body(name="Ac\x00me"), 422, "validation_error", id="name-nul"),
    pytest.param(_body(name="Ac\nme"), 422, "validation_error", id="name-newline"),
    pytest.param(_body(reference="R\x00"), 422, "validation_error", id="reference-nul"),
    pytest.param(_body(email="a\x00@example.com"), 422, "validation_error", id="email-nul"),
    pytest.param(_body(phone="+41446681800\x00"), 422, "validation_error", id="phone-nul"),
    pytest.param(_body(tags=["v\x00ip"]), 422, "validation_error", id="tag-nul"),
    pytest.param(_body(kind="cust\x00omer"), 422, "validation_error", id="kind-nul"),
    pytest.param(_body(attributes={"k": "v\x00"}), 422, "validation_error", id="attributes-nul-value"),
    pytest.param(_body(attributes={"k\x00": "v"}), 422, "validation_error", id="attributes-nul-key"),
    pytest.param(_raw('"name": "\\ud800"'), 422, "validation_error", id="name-lone-surrogate"),
    pytest.param(
        _raw('"attributes": {"k": "\\ud800"}'), 422, "validation_error", id="attributes-lone-surrogate"
    ),
    pytest.param(
        _raw('"attributes": {"\\udc00": 1}'), 422, "validation_error", id="attributes-surrogate-key"
    ),
    pytest.param(_raw('"tags": ["\\ud800"]'), 422, "validation_error", id="tag-lone-surrogate"),
]
# Bodies that are not objects, or miss the required fields, on create.
MISSING = [
    pytest.param("", 422, "validation_error", id="empty-body"),
    pytest.param("{}", 422, "validation_error", id="empty-object"),
    pytest.param('{"name": "Acme"}', 422, "validation_error", id="no-kind"),
    pytest.param('{"kind": "customer"}', 422, "validation_error", id="no-name"),
]


@pytest.mark.parametrize(("body", "status", "code"), MALFORMED + INVALID + MISSING)
def test_create_refuses(
    member_client: Client, entity_a: Entity, tenant_a: Organization, body: str | bytes, status: int, code: str
) -> None:
    before = tenant_state(tenant_a)

    response = member_client.post(URL, body, content_type=JSON)

    assert_error(response, status, code)
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize(("body", "status", "code"), MALFORMED + INVALID)
def test_patch_refuses(
    member_client: Client, entity_a: Entity, tenant_a: Organization, body: str | bytes, status: int, code: str
) -> None:
    before = tenant_state(tenant_a)

    response = member_client.patch(detail_url(entity_a.id), body, content_type=JSON)

    assert_error(response, status, code)
    assert tenant_state(tenant_a) == before


NOT_OBJECTS = ["[]", '[{"name": "X"}]', '"text"', "null", "1", "true"]


@pytest.mark.parametrize("body", NOT_OBJECTS)
@pytest.mark.parametrize("method", ["post", "patch"])
def test_a_body_that_is_not_an_object_is_422(
    member_client: Client, entity_a: Entity, tenant_a: Organization, method: str, body: str
) -> None:
    before = tenant_state(tenant_a)
    path = URL if method == "post" else detail_url(entity_a.id)

    response = getattr(member_client, method)(path, body, content_type=JSON)

    assert_error(response, 422, "validation_error")
    assert tenant_state(tenant_a) == before


def test_a_refused_field_refuses_the_whole_patch(
    member_client: Client, entity_a: Entity, tenant_a: Organization
) -> None:
    before = tenant_state(tenant_a)

    response = member_client.patch(
        detail_url(entity_a.id), {"name": "Fine", "reference": "Fine", "phone": "bad"}, content_type=JSON
    )

    body = assert_error(response, 422, "validation_error")
    assert body["errors"] == [{"loc": ["phone"], "msg": body["detail"], "type": "validation_error"}]
    assert tenant_state(tenant_a) == before


def test_body_larger_than_the_upload_limit(
    member_client: Client, tenant_a: Organization, settings: Any
) -> None:
    before = tenant_state(tenant_a)
    big = _body(attributes={"k": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})

    response = member_client.post(URL, big, content_type=JSON)

    assert response.status_code in (400, 413)
    assert_error(response, response.status_code)
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize(
    "query",
    [
        "kind=Customer",
        "kind=" + "k" * 41,
        "status=deleted",
        "tag=Has%20Space",
        "tag=" + "t" * 51,
        "q=",
        "q=a%0Ab",
        "q=" + "x" * 101,
        "ordering=organization_id",
        "limit=0",
        "limit=-5",
        "offset=-1",
        "limit=NaN",
        "offset=Infinity",
    ],
)
def test_list_refuses_bad_query(viewer_client: Client, entity_a: Entity, query: str) -> None:
    assert_error(viewer_client.get(f"{URL}?{query}"), 422, "validation_error")


@pytest.mark.parametrize("path", ["not-a-uuid", "00000000-0000-0000-0000-00000000000g", "..%2F..%2Fadmin"])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_bad_uuid_in_path_is_404(
    member_client: Client, entity_a: Entity, tenant_a: Organization, method: str, path: str
) -> None:
    before = tenant_state(tenant_a)
    response = getattr(member_client, method)(detail_url(path), {"name": "x"}, content_type=JSON)
    assert_error(response, 404, "not_found")
    assert tenant_state(tenant_a) == before


@pytest.mark.parametrize("url", [f"{URL}?kind=a%00b", f"{URL}?q=%00", f"{URL}%00", f"{URL}?%00=1"])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_nul_in_the_path_or_query_is_400(
    member_client: Client, entity_a: Entity, tenant_a: Organization, method: str, url: str
) -> None:
    # PostgreSQL cannot hold NUL in text: refused before any code reads it.
    before = tenant_state(tenant_a)
    if method == "get":
        response = member_client.get(url)  # (a data argument would replace the query string)
    else:
        target = url.replace(URL, detail_url(entity_a.id) + "/", 1)
        response = getattr(member_client, method)(target, {"name": "x"}, content_type=JSON)
    assert_error(response, 400, "malformed_request")
    assert tenant_state(tenant_a) == before


def test_bad_uuid_in_relations_path_is_404(
    member_client: Client, entity_a: Entity, tenant_a: Organization
) -> None:
    before = tenant_state(tenant_a)
    body = {"target_id": str(entity_a.id), "kind": "owns"}
    assert_error(member_client.post(f"{URL}nope/relations", body, content_type=JSON), 404, "not_found")
    assert tenant_state(tenant_a) == before


def test_the_accepted_edge_values(member_client: Client) -> None:
    """The limits themselves are accepted: they are limits, not off-by-one refusals."""
    body = {
        "kind": "customer",
        "name": "n" * 200,
        "reference": "r" * 100,
        "tags": [f"t{i}" for i in range(20)],
        "attributes": json.loads('{"a":' * 4 + "{}" + "}" * 4),
    }
    response = member_client.post(URL, body, content_type=JSON)
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "n" * 200


def test_unknown_id_with_a_valid_body_is_404(
    member_client: Client, entity_a: Entity, tenant_a: Organization
) -> None:
    before = tenant_state(tenant_a)
    response = member_client.patch(detail_url(uuid.uuid4()), {"name": "x"}, content_type=JSON)
    assert_error(response, 404, "entity_not_found")
    assert tenant_state(tenant_a) == before
