"""Generated requests against every operation of both APIs, judged by schemathesis's checks.

schemathesis reads each API's OpenAPI document and, with hypothesis, builds requests for every
operation: valid ones and deliberately wrong ones (wrong types, missing or unknown fields, out-of-range
values, a missing token, other methods on each path). Each is sent in-process through the whole WSGI
stack (tenant routing, authentication, the request's transaction, RLS) as an admin of one organization
(and, for the platform API, as a platform admin). Path ids are either generated or, half the time, the
id of a real object seeded in that organization, so bodies and queries also reach the code behind the
lookup. Every answer must pass the checks CI runs (``CHECKS``): no server error, a status and a content
type the operation declares, a body that matches its declared schema, and every schema-violating request
refused; every refusal must also be the contract's JSON error (``detail`` and ``code``).

``derandomize`` keeps CI repeatable; ``HUB_FUZZ_EXAMPLES`` sets the count per operation for a deeper
run by hand (``HUB_FUZZ_EXAMPLES=150 .venv/bin/pytest --no-cov -p no:randomly tests/test_fuzz_api.py``:
about 10,700 requests over both APIs, 8 minutes).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.platform import api as platform_api
from api.tenant import api as tenant_api
from apps.entities import services as entities
from apps.ledger import services as ledger
from apps.privacy.services import retention_policy_set
from apps.scheduling import services as scheduling
from conftest import TokenFactory
from tenants.models import Organization, User
from tenants.services import SLUG_PATTERN
from tests.fakes import FakeIdentityService

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "15"))
ADMIN_SUB = "00000000-0000-4000-8000-00000000f422"

# What CI asks of every answer (the list, exactly).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

schema = schemathesis.openapi.from_dict(tenant_api.get_openapi_schema())
schema.app = WSGIHandler()
_platform = schemathesis.openapi.from_dict(platform_api.get_openapi_schema(path_prefix="/api/platform/v1/"))
# Provisioning and deletion run DDL on the owner connection, which commits outside the test's
# transaction: they are fuzzed apart, on a committed database (``test_provisioning_and_deletion``).
_LIFECYCLE_METHODS, _LIFECYCLE_PATHS = ["POST", "DELETE"], r"/tenants(/\{organization_id\})?$"
# A request made invalid may also be refused for its size before any validation: 414 when its query
# passes 8,000 characters (a list parameter past its maxItems, say), as README's error section says.
for _api in (schema, _platform):
    _rejection = _api.config.checks.negative_data_rejection
    _rejection.expected_statuses = [*_rejection.expected_statuses, "414"]
platform_schema = _platform.exclude(method=_LIFECYCLE_METHODS, path_regex=_LIFECYCLE_PATHS)
platform_schema.app = schema.app
lifecycle_schema = _platform.include(method=_LIFECYCLE_METHODS, path_regex=_LIFECYCLE_PATHS)
lifecycle_schema.app = schema.app

# Where a case carries the caller's token: schemathesis builds some cases while collecting, before any
# fixture has minted one, so the token itself is put in when the case is sent (``_call``).
TOKEN_SLOT = "Bearer <the caller's token>"


class _Bearer:
    """The caller's token, given through schemathesis so that its negative cases may leave it out or
    replace it (a 401 then), rather than every generated header being overwritten afterwards."""

    def get(self, case: Any, context: Any) -> str:
        return TOKEN_SLOT

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@schema.auth(refresh_interval=None)
class TenantAdminBearer(_Bearer):
    pass


@lifecycle_schema.auth(refresh_interval=None)
@platform_schema.auth(refresh_interval=None)
class PlatformAdminBearer(_Bearer):
    pass


# Path parameter name -> ids of real objects of the organization under test (filled by ``seeded``).
SEEDED: dict[str, list[str]] = {}
SEEDED_NAMES = frozenset({"entity_id", "account_id", "transaction_id", "resource_id", "booking_id", "model"})


def _seeded(name: str, generated: Any) -> st.SearchStrategy[Any]:
    # Deferred: drawn while the test runs, once ``seeded`` has filled ``SEEDED`` (schemathesis may also
    # draw earlier, for its explicit-examples phase: those keep the generated value).
    return st.deferred(lambda: st.sampled_from(SEEDED[name]) if name in SEEDED else st.just(generated))


def _valid(name: str, value: Any) -> bool:
    """Whether ``value`` is a valid path parameter: only those are replaced by a seeded id, so that a
    case made to violate the schema still does (the server must refuse it)."""
    if not isinstance(value, str) or not value:
        return False
    if name == "model":
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@schema.hook
def flatmap_path_parameters(
    context: Any, parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """The generated parameters, or the same with every known id replaced by a seeded object's."""
    if not parameters or SEEDED_NAMES.isdisjoint(parameters):
        return st.just(parameters)
    real = st.fixed_dictionaries(
        {
            name: _seeded(name, value) if name in SEEDED_NAMES and _valid(name, value) else st.just(value)
            for name, value in parameters.items()
        }
    )
    return st.one_of(st.just(parameters), real)


@lifecycle_schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """The generated body, or the same with a slug that is a DNS label, so that some cases really
    provision (the schema says only "a string of at most 63 characters"; the service says more)."""
    if not isinstance(body, dict) or not isinstance(body.get("slug"), str) or len(body["slug"]) > 63:
        return st.just(body)
    labels = st.from_regex(SLUG_PATTERN, fullmatch=True).filter(lambda slug: len(slug) <= 63)
    return st.one_of(st.just(body), labels.map(lambda slug: {**body, "slug": slug}))


@pytest.fixture
def seeded(tenant_a: Organization) -> Iterator[None]:
    """One object of each kind a path names, in the test's transaction (rolled back after)."""
    actor, _ = User.objects.get_or_create(id=ADMIN_SUB, defaults={"email": "fuzz@example.com"})
    with tenant_context(tenant_a):
        entity = entities.entity_create(actor=actor, kind="customer", name="Fuzzed", email="f@example.com")
        account = ledger.account_create(actor=actor, code="FZ-1", name="Fuzz", type="asset", currency="EUR")
        other = ledger.account_create(actor=actor, code="FZ-2", name="Fuzz", type="asset", currency="EUR")
        legs = [{"account_id": account.id, "amount": "5.00"}, {"account_id": other.id, "amount": "-5.00"}]
        posted = ledger.transaction_create(actor=actor, description="Fuzz", currency="EUR", postings=legs)
        pending = ledger.transaction_create(
            actor=actor, description="Fuzz", currency="EUR", postings=legs, state="pending"
        )
        resource = scheduling.resource_create(kind="room", name="Fuzz room", timezone="Europe/Berlin")
        booking = scheduling.booking_create(
            actor=actor,
            resource_id=resource.id,
            start=datetime(2030, 1, 7, 9, tzinfo=UTC),
            end=datetime(2030, 1, 7, 10, tzinfo=UTC),
        )
        retention_policy_set(actor=actor, model="entities.entity", days=30)
    SEEDED.update(
        entity_id=[str(entity.id)],
        account_id=[str(account.id)],
        transaction_id=[str(posted.id), str(pending.id)],
        resource_id=[str(resource.id)],
        booking_id=[str(booking.id)],
        model=["entities.entity"],
    )
    yield
    SEEDED.clear()


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """The WSGI handler closes the database connection after each request; the test's transaction
    lives on that connection, so keep it open, as Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_headers(tenant_a: Organization, make_token: TokenFactory) -> dict[str, str]:
    token = make_token(tenant_a, ["admin"], sub=ADMIN_SUB)
    return {"Host": tenant_a.primary_domain, "Authorization": f"Bearer {token}"}


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _call(case: Any, headers: dict[str, str]) -> None:
    """Send the case as the caller of ``headers``, unless it left the token out or set its own; judge
    the answer by ``CHECKS`` and the contract's error shape."""
    sent = dict(headers)
    if (case.headers or {}).get("Authorization") != TOKEN_SLOT:
        del sent["Authorization"]
    _assert_answer(case, case.call_and_validate(headers=sent, checks=CHECKS))


def _assert_answer(case: Any, response: Any) -> None:
    """The contract's error shape, on top of the declared schema (which cannot say "non-empty")."""
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("detail"), str), body
        assert body["detail"], body
        assert isinstance(body.get("code"), str), body
        assert body["code"], body


@pytest.mark.django_db
@schema.parametrize()
@FUZZ
def test_tenant_api_passes_the_checks(
    case: Any, admin_headers: dict[str, str], seeded: None, wsgi_in_test_transaction: None
) -> None:
    _call(case, admin_headers)


@pytest.fixture
def platform_headers(make_token: TokenFactory) -> dict[str, str]:
    token = make_token(None, ["platform_admin"], sub=ADMIN_SUB)
    return {"Host": django_settings.HUB_BASE_DOMAIN, "Authorization": f"Bearer {token}"}


@pytest.mark.django_db
@platform_schema.parametrize()
@FUZZ
def test_platform_api_passes_the_checks(
    case: Any, platform_headers: dict[str, str], wsgi_in_test_transaction: None
) -> None:
    _call(case, platform_headers)


@lifecycle_schema.parametrize()
@FUZZ
def test_provisioning_and_deletion(
    case: Any, platform_headers: dict[str, str], committed_db: None, fake_identity: FakeIdentityService
) -> None:
    """Real provisioning (DDL, committed) when a case skips the identity check, a 422 when it asks the
    identity service (the real-shaped fake, which does not know the caller: its outage, a 503 that
    ``not_a_server_error`` would count, is tested in tests/test_platform_api.py). Deletion meets
    unknown ids, a wrong ``confirm``, or an organization an earlier case provisioned; the two session
    organizations are never named (ids are generated), and ``committed_db`` deletes every
    organization a case made."""
    _call(case, platform_headers)
