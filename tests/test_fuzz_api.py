"""Generated requests against every operation of the tenant API: no input yields a 500.

schemathesis reads the API's OpenAPI document and, with hypothesis, builds requests for every
operation: valid ones and deliberately wrong ones (wrong types, missing or unknown fields, out-of-range
values, other methods on each path). Each is sent in-process through the whole WSGI stack (tenant
routing, authentication, the request's transaction, RLS) as an admin of one organization (and, for the
platform API, as a platform admin). Path ids are
either generated or, half the time, the id of a real object seeded in that organization, so bodies and
queries also reach the code behind the lookup. Every answer must be below 500, and every refusal must be
the contract's JSON error (``detail`` and ``code``).

``derandomize`` keeps CI repeatable; ``HUB_FUZZ_EXAMPLES`` raises the count per operation for a deeper
run by hand: ``HUB_FUZZ_EXAMPLES=300 .venv/bin/pytest --no-cov tests/test_fuzz_api.py``.
"""

from __future__ import annotations

import os
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

from api.platform import api as platform_api
from api.tenant import api as tenant_api
from apps.entities import services as entities
from apps.ledger import services as ledger
from apps.privacy.services import retention_policy_set
from apps.scheduling import services as scheduling
from conftest import TokenFactory
from tenants.models import Organization, User

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "15"))
ADMIN_SUB = "00000000-0000-4000-8000-00000000f422"

schema = schemathesis.openapi.from_dict(tenant_api.get_openapi_schema())
schema.app = WSGIHandler()
# The platform API without provisioning and deletion: they run DDL on the owner connection, which
# commits outside the test's transaction (their bad input is covered by tests/test_platform_api.py).
platform_schema = (
    schemathesis.openapi.from_dict(platform_api.get_openapi_schema(path_prefix="/api/platform/v1/"))
    .exclude(method="POST", path_regex=r"/tenants$")
    .exclude(method="DELETE")
)
platform_schema.app = schema.app

# Path parameter name -> ids of real objects of the organization under test (filled by ``seeded``).
SEEDED: dict[str, list[str]] = {}
SEEDED_NAMES = frozenset({"entity_id", "account_id", "transaction_id", "resource_id", "booking_id", "model"})


def _seeded(name: str, generated: Any) -> st.SearchStrategy[Any]:
    # Deferred: drawn while the test runs, once ``seeded`` has filled ``SEEDED`` (schemathesis may also
    # draw earlier, for its explicit-examples phase: those keep the generated value).
    return st.deferred(lambda: st.sampled_from(SEEDED[name]) if name in SEEDED else st.just(generated))


@schema.hook
def flatmap_path_parameters(
    context: Any, parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """The generated parameters, or the same with every known id replaced by a seeded object's."""
    if not parameters or SEEDED_NAMES.isdisjoint(parameters):
        return st.just(parameters)
    real = st.fixed_dictionaries(
        {
            name: _seeded(name, value) if name in SEEDED_NAMES else st.just(value)
            for name, value in parameters.items()
        }
    )
    return st.one_of(st.just(parameters), real)


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


def _assert_answer(case: Any, response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text, case.as_curl_command())
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("detail"), str), body
        assert body["detail"], body
        assert isinstance(body.get("code"), str), body
        assert body["code"], body


@pytest.mark.django_db
@schema.parametrize()
@FUZZ
def test_no_input_yields_a_server_error(
    case: Any, admin_headers: dict[str, str], seeded: None, wsgi_in_test_transaction: None
) -> None:
    _assert_answer(case, case.call(headers=admin_headers))


@pytest.fixture
def platform_headers(make_token: TokenFactory) -> dict[str, str]:
    token = make_token(None, ["platform_admin"], sub=ADMIN_SUB)
    return {"Host": django_settings.HUB_BASE_DOMAIN, "Authorization": f"Bearer {token}"}


@pytest.mark.django_db
@platform_schema.parametrize()
@FUZZ
def test_no_platform_input_yields_a_server_error(
    case: Any, platform_headers: dict[str, str], wsgi_in_test_transaction: None
) -> None:
    _assert_answer(case, case.call(headers=platform_headers))
