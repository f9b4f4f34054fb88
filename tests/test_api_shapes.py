"""One shape for the same kind of problem, on every module and both APIs (issue 10, items 11 and 13).

Unknown body fields are refused by name on every write; ``loc`` is a list of path parts; date-times
are rendered with ``Z``; the list of bookings in the way is always ``conflicts``; a ``+`` that a query
string turned into a space is named as the cause.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from api.platform import api as platform_api
from api.tenant import api as tenant_api
from apps.entities.models import Entity
from hub.errors import HubError, HubErrorCode
from tenants.models import Organization
from tests.helpers import assert_error

JSON = "application/json"
RESOURCE = {"kind": "room", "name": "Room 1", "timezone": "UTC"}
BOOKING = {"resource_id": str(uuid.uuid4()), "start": "2026-03-02T09:00Z", "end": "2026-03-02T10:00Z"}
TRANSACTION: dict[str, Any] = {
    "description": "rent",
    "currency": "EUR",
    "postings": [
        {"account_id": str(uuid.uuid4()), "amount": "10.00"},
        {"account_id": str(uuid.uuid4()), "amount": "-10.00"},
    ],
}
ANY_ID = "00000000-0000-0000-0000-000000000001"


def _object_schemas(
    document: dict[str, Any], schema: dict[str, Any], seen: set[str]
) -> Iterator[tuple[str, Any]]:
    """Every object schema reachable from ``schema`` (following ``$ref`` and combinators once each)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen.add(name)
        yield from _object_schemas(document, document["components"]["schemas"][name], seen)
        return
    if "properties" in schema:  # a model; a free-form map (``attributes``) has no properties
        yield schema.get("title", "?"), schema
        for child in schema.get("properties", {}).values():
            yield from _object_schemas(document, child, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _object_schemas(document, schema[key], seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for child in schema.get(key, []):
            yield from _object_schemas(document, child, seen)


def _request_bodies(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                yield method.upper(), path, media["schema"]


def _documents() -> list[dict[str, Any]]:
    return [tenant_api.get_openapi_schema(), platform_api.get_openapi_schema(path_prefix="/api/platform/v1/")]


@pytest.mark.parametrize("index", [0, 1], ids=["tenant", "platform"])
def test_every_write_schema_refuses_unknown_fields(index: int) -> None:
    """Structural: a new module's body schema that forgets ``InputSchema`` fails here, not in review."""
    document = _documents()[index]
    bodies = list(_request_bodies(document))
    assert bodies, "no request body found: the walk is broken"
    lax = [
        f"{method} {path}: {title}"
        for method, path, schema in bodies
        for title, found in _object_schemas(document, schema, set())
        if found.get("additionalProperties") is not False
    ]
    assert lax == [], f"write schemas that accept unknown fields: {lax}"


def _assert_unknown_refused(response: Any, loc: list[Any]) -> None:
    body = assert_error(response, 422, "validation_error")
    assert body["errors"] == [
        {"loc": loc, "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
    ]


WRITES = [
    ("post", "/api/v1/entities/", {"kind": "customer", "name": "Acme", "emial": "a@x.example"}, ["emial"]),
    ("patch", f"/api/v1/entities/{ANY_ID}", {"name": "Acme", "emial": "a@example.com"}, ["emial"]),
    ("post", f"/api/v1/entities/{ANY_ID}/relations", {"target_id": ANY_ID, "kind": "x", "y": 1}, ["y"]),
    ("post", "/api/v1/entities/kinds", {"key": "k", "label": "K", "colour": "red"}, ["colour"]),
    (
        "post",
        f"/api/v1/entities/{ANY_ID}/permissions",
        {"user_id": ANY_ID, "permission": "view", "x": 1},
        ["x"],
    ),
    ("post", "/api/v1/scheduling/bookings", {**BOOKING, "note": "window seat"}, ["note"]),
    ("patch", f"/api/v1/scheduling/bookings/{ANY_ID}", {"note": "window seat"}, ["note"]),
    ("post", "/api/v1/scheduling/series", {**BOOKING, "rrule": "FREQ=DAILY", "skip": True}, ["skip"]),
    ("post", "/api/v1/scheduling/resources", {**RESOURCE, "colour": "red"}, ["colour"]),
    ("patch", f"/api/v1/scheduling/resources/{ANY_ID}", {"colour": "red"}, ["colour"]),
    (
        "put",
        f"/api/v1/scheduling/resources/{ANY_ID}/availability",
        {"weekly": [{"weekday": 0, "start": "09:00", "end": "17:00", "tz": "UTC"}]},
        ["weekly", 0, "tz"],
    ),
    (
        "post",
        "/api/v1/transactions/accounts",
        {"code": "1", "name": "Bank", "type": "asset", "currency": "EUR", "balance": "9"},
        ["balance"],
    ),
    ("patch", f"/api/v1/transactions/accounts/{ANY_ID}", {"currency": "USD"}, ["currency"]),
    ("post", "/api/v1/transactions/", {**TRANSACTION, "memo": "x"}, ["memo"]),
    (
        "post",
        "/api/v1/transactions/",
        {
            **TRANSACTION,
            "postings": [{**TRANSACTION["postings"][0], "memo": "x"}, TRANSACTION["postings"][1]],
        },
        ["postings", 0, "memo"],
    ),
    ("put", "/api/v1/privacy/retention/entities.entity", {"days": 30, "hours": 1}, ["hours"]),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "body", "loc"), WRITES, ids=[f"{m} {p} {loc}" for m, p, _, loc in WRITES]
)
def test_unknown_field_is_a_422_naming_it(
    admin_client: Client, method: str, path: str, body: Any, loc: list[Any]
) -> None:
    headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}
    response = getattr(admin_client, method)(path, body, content_type=JSON, **headers)
    _assert_unknown_refused(response, loc)


@pytest.mark.django_db
def test_entity_with_a_misspelt_field_is_not_created(
    member_client: Client, tenant_a: Organization, in_tenant: Any
) -> None:
    response = member_client.post(
        "/api/v1/entities/", {"kind": "customer", "name": "Acme", "emial": "a@example.com"}, content_type=JSON
    )
    _assert_unknown_refused(response, ["emial"])
    assert response.json()["detail"].startswith("Invalid emial")
    with in_tenant(tenant_a):
        assert not Entity.objects.exists()


@pytest.mark.django_db
def test_platform_tenant_create_and_patch_refuse_unknown_fields(
    platform_client: Client, tenant_a: Organization
) -> None:
    create = {"organization_id": str(uuid.uuid4()), "slug": "delta", "name": "Delta", "nmae": "x"}
    _assert_unknown_refused(
        platform_client.post("/api/platform/v1/tenants", create, content_type=JSON), ["nmae"]
    )
    assert not Organization.objects.filter(slug="delta").exists()

    patch = {"name": "Renamed", "slug": "other"}
    url = f"/api/platform/v1/tenants/{tenant_a.organization_id}"
    _assert_unknown_refused(platform_client.patch(url, patch, content_type=JSON), ["slug"])
    tenant_a.refresh_from_db()
    assert tenant_a.name != "Renamed"


@pytest.fixture
def resource_id(admin_client: Client) -> str:
    response = admin_client.post("/api/v1/scheduling/resources", RESOURCE, content_type=JSON)
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


@pytest.mark.django_db
def test_a_rule_broken_deep_in_a_body_has_loc_as_path_parts(admin_client: Client, resource_id: str) -> None:
    """A service's 422 (``Invalid(field=...)``) gives the same ``loc`` as a schema's: path parts."""
    exceptions = [{"date": "2026-03-02", "closed": False}]  # opening hours without start and end
    url = f"/api/v1/scheduling/resources/{resource_id}/availability"
    body = assert_error(admin_client.put(url, {"exceptions": exceptions}, content_type=JSON), 422)
    assert body["errors"][0]["loc"] == ["exceptions", 0]


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["[]", '"text"', "3"])
def test_a_body_that_is_not_an_object_is_located_at_the_body(admin_client: Client, body: str) -> None:
    """Not ``["body", "payload"]`` (Ninja's parameter name): the body itself, one path part."""
    response = admin_client.post("/api/v1/entities/", body, content_type=JSON)
    assert assert_error(response, 422)["errors"][0]["loc"] == ["body"]


def _rendered_offsets(value: Any) -> Iterator[str]:
    """Every date-time text of a JSON body not rendered with ``Z``."""
    if isinstance(value, dict):
        for child in value.values():
            yield from _rendered_offsets(child)
    elif isinstance(value, list):
        for child in value:
            yield from _rendered_offsets(child)
    elif isinstance(value, str) and re.fullmatch(
        r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?[+-]\d\d:\d\d", value
    ):
        yield value


@pytest.mark.django_db
def test_conflict_lists_render_date_times_with_z(member_client: Client, resource_id: str) -> None:
    booking = {"resource_id": resource_id, "start": "2026-03-02T10:00+01:00", "end": "2026-03-02T11:00+01:00"}
    first = member_client.post("/api/v1/scheduling/bookings", booking, content_type=JSON)
    assert first.status_code == 201, first.content
    body = assert_error(member_client.post("/api/v1/scheduling/bookings", booking, content_type=JSON), 409)
    assert body["conflicts"] == [
        {
            "id": first.json()["id"],
            "start": "2026-03-02T09:00:00Z",
            "end": "2026-03-02T10:00:00Z",
            "status": "confirmed",
        }
    ]
    series = {**booking, "rrule": "FREQ=DAILY;COUNT=2"}
    refused = assert_error(member_client.post("/api/v1/scheduling/series", series, content_type=JSON), 409)
    assert [c["id"] for c in refused["conflicts"]] == [first.json()["id"]]
    assert list(_rendered_offsets([first.json(), body, refused])) == []


@pytest.mark.django_db
def test_audit_changes_render_date_times_as_the_api_does(admin_client: Client, resource_id: str) -> None:
    """A changed date-time in the trail (and so in a subject's export) reads as every other one."""
    booking = {"resource_id": resource_id, "start": "2026-03-02T10:00+01:00", "end": "2026-03-02T11:00+01:00"}
    created = admin_client.post("/api/v1/scheduling/bookings", booking, content_type=JSON)
    assert created.status_code == 201, created.content
    url = f"/api/v1/scheduling/bookings/{created.json()['id']}"
    moved = admin_client.patch(url, {"start": "2026-03-02T09:30+01:00"}, content_type=JSON)
    assert moved.status_code == 200, moved.content
    trail = admin_client.get("/api/v1/audit/?limit=500")
    assert trail.status_code == 200, trail.content
    changes = [entry["changes"] for entry in trail.json()["items"] if entry["changes"].get("start")]
    assert ["2026-03-02T09:00:00Z", "2026-03-02T08:30:00Z"] in [c["start"] for c in changes], changes
    assert list(_rendered_offsets(trail.json())) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/audit/?since=2026-01-01T00:00:00+01:00",
        "/api/v1/scheduling/bookings?from=2026-01-01T00:00+01:00",
    ],
)
def test_a_plus_decoded_as_a_space_is_named(admin_client: Client, url: str) -> None:
    body = assert_error(admin_client.get(url), 422, "validation_error")
    assert "must be sent as %2B" in body["errors"][0]["msg"], body
    assert "%2B" in body["detail"]
    assert admin_client.get(url.replace("+", "%2B")).status_code == 200


# Each module's errors, the enum of its codes, and the error schema of its paths in the OpenAPI documents.
ERROR_MODULES = [
    ("apps.entities.errors", "EntityErrorCode", "EntityError", "/api/v1/entities/"),
    ("apps.ledger.errors", "LedgerErrorCode", "LedgerError", "/api/v1/transactions/"),
    ("apps.scheduling.errors", "SchedulingErrorCode", "SchedulingError", "/api/v1/scheduling/"),
    ("apps.privacy.errors", "PrivacyErrorCode", "PrivacyError", "/api/v1/privacy/"),
    ("tenants.errors", "TenantErrorCode", "TenantError", "/api/platform/v1/tenants"),
    ("apps.members.errors", "MemberErrorCode", None, None),
]


@pytest.mark.parametrize(("module_name", "enum_name", "schema", "prefix"), ERROR_MODULES)
def test_every_code_a_module_raises_is_in_its_enum(
    module_name: str, enum_name: str, schema: str | None, prefix: str | None
) -> None:
    module = importlib.import_module(module_name)
    enum = getattr(module, enum_name)
    errors = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, HubError) and value.__module__ == module_name
    ]
    assert errors
    strays = [cls.__name__ for cls in errors if not isinstance(cls.code, enum | HubErrorCode)]
    assert strays == [], f"errors whose code is not a member of {enum_name} or HubErrorCode"


def _source_files() -> Iterator[Path]:
    root = Path(__file__).resolve().parent.parent
    for top in ("api", "apps", "hub", "tenants"):
        for path in (root / top).rglob("*.py"):
            if "tests" not in path.parts and "migrations" not in path.parts:
                yield path


# Helpers that take the code positionally, and where.
_POSITIONAL_CODE = {"error_payload": 2, "error_response": 2, "_rrule_error": 1, "_unready": 1}


def _callee(node: ast.Call) -> str | None:
    return getattr(node.func, "id", None) or getattr(node.func, "attr", None)


def _error_makers() -> set[str]:
    """The names of everything that makes an error body: each ``HubError`` class and the helpers."""
    classes, todo = set(), [HubError]
    while todo:
        cls = todo.pop()
        classes.add(cls.__name__)
        todo += cls.__subclasses__()
    return classes | set(_POSITIONAL_CODE)


def _code_values(node: ast.AST) -> list[ast.expr]:
    """What ``node`` gives as an error code: a ``code=`` argument, a class's ``code =``, a ``"code"`` key."""
    if isinstance(node, ast.Call) and _callee(node) in _error_makers():
        at = _POSITIONAL_CODE.get(_callee(node) or "", len(node.args))
        return [k.value for k in node.keywords if k.arg == "code"] + node.args[at : at + 1]
    if isinstance(node, ast.ClassDef):
        assigns = [s for s in node.body if isinstance(s, ast.Assign)]
        return [s.value for s in assigns if [getattr(t, "id", None) for t in s.targets] == ["code"]]
    if isinstance(node, ast.Dict):
        return [v for k, v in zip(node.keys, node.values, strict=True) if getattr(k, "value", None) == "code"]
    return []


def test_no_error_code_is_a_bare_string() -> None:
    """Every raise names a member of its module's enum: a string would escape the OpenAPI enum (and
    a client switching on it) without any test noticing."""
    found = [
        f"{path.name}:{value.lineno}"
        for path in _source_files()
        for node in ast.walk(ast.parse(path.read_text()))
        for value in _code_values(node)
        if isinstance(value, ast.Constant) and isinstance(value.value, str)
    ]
    assert found == []


def _error_schemas(document: dict[str, Any], prefix: str) -> set[str]:
    names = set()
    for path, operations in document["paths"].items():
        if path.startswith(prefix):
            for operation in operations.values():
                for status, response in operation["responses"].items():
                    if int(status) >= 400:
                        ref = response["content"]["application/json"]["schema"]["$ref"]
                        names.add(ref.rsplit("/", 1)[-1])
    return names


@pytest.mark.parametrize(("module_name", "enum_name", "schema", "prefix"), [m for m in ERROR_MODULES if m[2]])
def test_each_module_types_its_error_code_with_its_enum(
    module_name: str, enum_name: str, schema: str, prefix: str
) -> None:
    enum = getattr(importlib.import_module(module_name), enum_name)
    document = _documents()[1 if prefix.startswith("/api/platform/") else 0]
    components = document["components"]["schemas"]
    assert _error_schemas(document, prefix) == {schema}
    code = components[schema]["properties"]["code"]
    assert {ref["$ref"].rsplit("/", 1)[-1] for ref in code["anyOf"]} == {enum_name, "HubErrorCode"}
    assert components[enum_name]["enum"] == [member.value for member in enum]
    assert components["HubErrorCode"]["enum"] == [member.value for member in HubErrorCode]


@pytest.mark.parametrize("index", [0, 1], ids=["tenant", "platform"])
def test_every_error_response_types_code_with_an_enum(index: int) -> None:
    document = _documents()[index]
    components = document["components"]["schemas"]
    untyped = []
    for name in _error_schemas(document, "/"):
        code = components[name]["properties"]["code"]
        refs = [ref["$ref"].rsplit("/", 1)[-1] for ref in code.get("anyOf", [code])]
        if not all("enum" in components.get(ref, {}) for ref in refs):
            untyped.append(name)
    assert untyped == []


@pytest.mark.parametrize("index", [0, 1], ids=["tenant", "platform"])
def test_every_operation_declares_the_limits_any_request_can_hit(index: int) -> None:
    """A body over ``HUB_MAX_BODY_BYTES`` (413) and an over-long URI (414) can meet any operation, so
    each declares them: a client generated from the document knows the shape of those answers too."""
    document = _documents()[index]
    undeclared = [
        f"{method.upper()} {path}: {status}"
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status in (413, 414)
        if status not in {int(code) for code in operation["responses"]}
    ]
    assert undeclared == []
