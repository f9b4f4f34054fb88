"""The OpenAPI documents are fit for generated clients (issue 13 item 5), for every operation of both
APIs, so that a new endpoint that forgets one of these fails here:

* a summary given on purpose (not Ninja's title-cased function name) and a description;
* Markdown everywhere: no reStructuredText double backticks in any description or title;
* ``Idempotency-Key`` documented as required where the endpoint requires it, optional elsewhere;
* every error response types ``code`` with enums (``HubErrorCode`` and the module's ``<Module>ErrorCode``);
* every JSON request body carries examples, and each example is a body the API accepts.

Last, the documents as ``manage.py openapi_dump`` writes them generate TypeScript types
(openapi-typescript) that a small client (``clients/typescript/src/client.ts``) compiles against with
``tsc --strict``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pydantic import BaseModel

from api.schemas import InputSchema
from tenants.management.commands.openapi_dump import APIS, openapi_document

PROJECT_DIR = Path(__file__).resolve().parent.parent
CLIENT_DIR = PROJECT_DIR / "clients" / "typescript"
METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}
IDEMPOTENCY_KEY = "Idempotency-Key"
# The operations that refuse a request without an Idempotency-Key (400 ``idempotency_key_required``).
IDEMPOTENCY_KEY_REQUIRED = {("post", "/api/v1/transactions/")}

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module", params=sorted(APIS))
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return openapi_document(request.param)


def _operations(document: dict[str, Any]) -> list[Operation]:
    found = [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert found, "no operation found: the walk is broken"
    return found


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _strings(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string of the document with where it is (``paths./api/v1/me.get.description``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{where}[{index}]")
    elif isinstance(node, str):
        yield where, node


def test_every_operation_has_a_summary_given_on_purpose(document: dict[str, Any]) -> None:
    """Ninja falls back to the function's name, title-cased (``Kind List``): a generated client's
    docs then read like code. Every operation names what it does in ``summary=``."""
    missing = []
    for method, path, operation in _operations(document):
        summary = operation.get("summary") or ""
        automatic = summary.lower().replace(" ", "_")
        if not summary.strip() or operation["operationId"].endswith(automatic):
            missing.append(f"{method.upper()} {path}: {summary!r}")
    assert missing == [], f"operations without a summary of their own: {missing}"


def test_every_operation_has_a_description(document: dict[str, Any]) -> None:
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in _operations(document)
        if len((operation.get("description") or "").strip()) < 20
        or operation["description"].strip() == operation["summary"].strip()
    ]
    assert missing == [], f"operations without a description (the view's docstring): {missing}"


RST = re.compile(r"``|:(?:class|func|meth|attr|mod|data|exc|ref):`")


def test_descriptions_are_markdown_not_restructuredtext(document: dict[str, Any]) -> None:
    """Docstrings become descriptions: operations', schemas' and fields'. A Markdown renderer (Swagger
    UI, a generated client's JSDoc) shows ``x`` as two empty code spans around x: write `x`."""
    rst = [f"{where}: {text[:80]!r}" for where, text in _strings(document) if RST.search(text)]
    assert rst == [], f"reStructuredText in the document: {rst}"


def _header(operation: dict[str, Any], name: str) -> dict[str, Any] | None:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "header" and parameter["name"].lower() == name.lower():
            return dict(parameter)
    return None


def test_idempotency_key_is_required_exactly_where_the_endpoint_requires_it(document: dict[str, Any]) -> None:
    wrong = []
    for method, path, operation in _operations(document):
        parameter = _header(operation, IDEMPOTENCY_KEY)
        required = (method, path) in IDEMPOTENCY_KEY_REQUIRED
        if parameter is None:
            if required:
                wrong.append(f"{method.upper()} {path}: no {IDEMPOTENCY_KEY} parameter")
            continue
        description = parameter.get("description", "")
        if parameter.get("required") is not required:
            wrong.append(f"{method.upper()} {path}: required={parameter.get('required')!r}")
        if not description.startswith("Required" if required else "Optional"):
            wrong.append(f"{method.upper()} {path}: description {description!r}")
        if parameter["schema"].get("type") != "string" or parameter["schema"].get("maxLength") is None:
            wrong.append(f"{method.upper()} {path}: schema {parameter['schema']!r}")
    assert wrong == [], wrong


def test_ledger_posting_requires_the_idempotency_key() -> None:
    """The walk above must see the ledger's header (a walk that finds nothing proves nothing)."""
    operation = openapi_document("tenant")["paths"]["/api/v1/transactions/"]["post"]
    parameter = _header(operation, IDEMPOTENCY_KEY)
    assert parameter is not None
    assert parameter["required"] is True


def _enum_values(document: dict[str, Any], schema: dict[str, Any]) -> list[str] | None:
    """The values of a schema made only of string enums (``anyOf`` of them too), else None."""
    schema = _resolve(document, schema)
    if "anyOf" in schema or "oneOf" in schema:
        values: list[str] = []
        for branch in schema.get("anyOf", schema.get("oneOf", [])):
            found = _enum_values(document, branch)
            if found is None:
                return None
            values += found
        return values
    if schema.get("type") == "string" and schema.get("enum"):
        return list(schema["enum"])
    return None


def test_every_error_response_types_code_as_an_enum(document: dict[str, Any]) -> None:
    wrong, seen = [], 0
    for method, path, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400:
                continue
            for media in response.get("content", {}).values():
                seen += 1
                body = _resolve(document, media["schema"])
                values = _enum_values(document, body.get("properties", {}).get("code", {}))
                if not values or "validation_error" not in values or "not_authenticated" not in values:
                    wrong.append(f"{method.upper()} {path} {status}: code is {values!r}")
    assert seen, "no error response found: the walk is broken"
    assert wrong == [], f"error responses whose code is not the Hub's enums: {wrong}"


def test_module_error_codes_are_in_the_documents() -> None:
    """Each ``<Module>ErrorCode`` reaches its operations' error schema as an enum of its values."""
    from apps.entities.errors import EntityErrorCode
    from apps.ledger.errors import LedgerErrorCode
    from apps.members.errors import MemberErrorCode
    from apps.privacy.errors import PrivacyErrorCode
    from apps.scheduling.errors import SchedulingErrorCode
    from hub.errors import HubErrorCode
    from tenants.errors import TenantErrorCode

    module_codes = [EntityErrorCode, LedgerErrorCode, MemberErrorCode, PrivacyErrorCode, SchedulingErrorCode]
    expected = {"tenant": [HubErrorCode, *module_codes], "platform": [HubErrorCode, TenantErrorCode]}
    for name, enums in expected.items():
        schemas = openapi_document(name)["components"]["schemas"]
        for enum in enums:
            assert schemas[enum.__name__]["enum"] == [member.value for member in enum], enum.__name__


def _body_models() -> dict[str, type[BaseModel]]:
    """Every request body (and nested input) shape, by its schema title (the class name)."""
    found: dict[str, type[BaseModel]] = {}
    pending: list[type[BaseModel]] = [InputSchema]
    while pending:
        model = pending.pop()
        found[model.__name__] = model
        pending += model.__subclasses__()
    return found


def test_every_request_body_has_examples_the_api_accepts(document: dict[str, Any]) -> None:
    models = _body_models()
    wrong, seen = [], 0
    for method, path, operation in _operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            seen += 1
            where = f"{method.upper()} {path} ({media_type})"
            schema = _resolve(document, media["schema"])
            examples = schema.get("examples") or list(media.get("examples", {}).values())
            if not examples:
                wrong.append(f"{where}: no examples")
                continue
            model = models.get(schema.get("title", ""))
            if model is None:
                wrong.append(f"{where}: no input schema named {schema.get('title')!r}")
                continue
            for example in examples:
                try:
                    model.model_validate(example)
                except ValueError as exc:
                    wrong.append(f"{where}: example {example!r} refused: {exc}")
    assert seen, "no request body found: the walk is broken"
    assert wrong == [], wrong


def test_openapi_dump_writes_the_served_document(tmp_path: Path, platform_client: Any) -> None:
    """The command writes exactly what the server answers at its ``openapi.json``."""
    out = tmp_path / "platform.json"
    call_command("openapi_dump", "--api", "platform", "--out", str(out), stderr=StringIO())
    served = platform_client.get("/api/platform/v1/openapi.json")
    assert served.status_code == 200, served.content
    assert json.loads(out.read_text()) == served.json()

    stdout = StringIO()
    call_command("openapi_dump", stdout=stdout)
    assert json.loads(stdout.getvalue())["info"]["title"] == "Hub tenant API"


# --- The TypeScript client --------------------------------------------------------------------------


def _run(command: list[str]) -> None:
    result = subprocess.run(  # noqa: S603 - fixed commands, no shell
        command, cwd=CLIENT_DIR, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"{' '.join(command)}:\n{result.stdout}\n{result.stderr}"


def _install(npm: str) -> None:
    """``npm ci`` unless ``node_modules`` already holds exactly this lockfile (kept between runs: it
    is ignored by git, and CI caches it)."""
    lock = hashlib.sha256((CLIENT_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = CLIENT_DIR / "node_modules" / ".hub-lock-sha256"
    if stamp.exists() and stamp.read_text() == lock:
        return
    _run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"])
    stamp.write_text(lock)


def test_typescript_client_compiles_against_the_generated_types() -> None:
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            pytest.fail("npm is missing: CI must type-check the TypeScript client (node 20 and npm)")
        pytest.skip("npm is missing: the TypeScript client check needs node 20 and npm")
    for name in sorted(APIS):
        call_command("openapi_dump", "--api", name, "--out", str(CLIENT_DIR / "openapi" / f"{name}.json"))
    _install(npm)
    _run([npm, "run", "--silent", "generate"])
    _run([npm, "run", "--silent", "typecheck"])
