"""Idempotency-Key on POST /transactions/: replays answer the first response, never post twice."""

from __future__ import annotations

import datetime as dt
import io
import threading
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.ledger.models import IdempotencyKey, Transaction
from apps.ledger.services import IDEMPOTENCY_KEY_TTL
from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import assert_error, balances, ledger_counts, post, transfer
from tenants.models import Organization


@pytest.mark.django_db
def test_same_key_same_body_replays_without_posting(
    member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    body = transfer(chart.cash.id, chart.bank.id, "4.00")
    first = post(member_client, body, key="pay-1")
    after_first = ledger_counts(tenant_a)

    again = post(member_client, body, key="pay-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    after_again = ledger_counts(tenant_a)
    assert after_again == after_first
    assert balances(tenant_a, chart.bank) == [("4.0000", "4.0000")]


@pytest.mark.django_db
def test_same_key_other_body_is_a_conflict(
    member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    post(member_client, transfer(chart.cash.id, chart.bank.id, "4.00"), key="pay-2")
    before = ledger_counts(tenant_a)

    response = post(member_client, transfer(chart.cash.id, chart.bank.id, "5.00"), key="pay-2")

    assert_error(response, 409, "idempotency_key_reused")
    assert ledger_counts(tenant_a) == before


@pytest.mark.django_db
def test_a_refused_request_does_not_keep_its_key(member_client: Client, chart: Chart) -> None:
    assert_error(post(member_client, transfer(chart.cash.id, chart.bank.id, "1.001"), key="k3"), 422)
    assert post(member_client, transfer(chart.cash.id, chart.bank.id, "1.00"), key="k3").status_code == 201


@pytest.mark.django_db
def test_keys_are_per_organization(
    member_client: Client, b_member_client: Client, chart: Chart, b_chart: Chart, tenant_b: Organization
) -> None:
    first = post(member_client, transfer(chart.cash.id, chart.bank.id, "1"), key="shared")
    other = post(b_member_client, transfer(b_chart.cash.id, b_chart.bank.id, "1"), key="shared")

    assert (first.status_code, other.status_code) == (201, 201)
    assert other.json()["id"] != first.json()["id"]
    assert balances(tenant_b, b_chart.bank) == [("1.0000", "1.0000")]


@pytest.mark.django_db
def test_keys_are_kept_a_day_then_may_be_used_again(
    member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    first = post(member_client, transfer(chart.cash.id, chart.bank.id, "1"), key="old").json()
    with tenant_context(tenant_a):
        IdempotencyKey.objects.filter(key="old").update(
            created_at=timezone.now() - IDEMPOTENCY_KEY_TTL + dt.timedelta(minutes=1)
        )
    assert post(member_client, transfer(chart.cash.id, chart.bank.id, "1"), key="old").json() == first
    with tenant_context(tenant_a):
        IdempotencyKey.objects.filter(key="old").update(
            created_at=timezone.now() - IDEMPOTENCY_KEY_TTL - dt.timedelta(minutes=1)
        )

    again = post(member_client, transfer(chart.cash.id, chart.bank.id, "1"), key="old")

    assert again.status_code == 201
    assert again.json()["id"] != first["id"]
    assert balances(tenant_a, chart.bank) == [("2.0000", "2.0000")]


def test_concurrent_requests_with_one_key_post_once(
    gamma: Organization, gamma_chart: Chart, client_for: Any
) -> None:
    body = transfer(gamma_chart.cash.id, gamma_chart.bank.id, "9.99")
    key = f"race-{uuid.uuid4().hex}"
    start = threading.Barrier(8)
    responses: list[Any] = []

    def send() -> None:
        try:
            client = client_for(gamma, ["member"])
            start.wait()
            responses.append(post(client, body, key=key))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [response.status_code for response in responses] == [201] * 8
    assert len({response.json()["id"] for response in responses}) == 1
    with tenant_context(gamma):
        assert Transaction.objects.count() == 1
    assert balances(gamma, gamma_chart.bank) == [("9.9900", "9.9900")]


@pytest.mark.django_db
def test_purge_deletes_only_keys_past_their_day(
    member_client: Client, chart: Chart, tenant_a: Organization
) -> None:
    for key in ("fresh", "stale"):
        post(member_client, transfer(chart.cash.id, chart.bank.id, "1"), key=key)
    with tenant_context(tenant_a):
        IdempotencyKey.objects.filter(key="stale").update(created_at=timezone.now() - dt.timedelta(hours=25))
    out = io.StringIO()

    call_command("purge_idempotency_keys", "--hours", "1", stdout=out)  # less than a day counts as a day

    assert f"{tenant_a.slug}: 1 keys deleted" in out.getvalue()
    with tenant_context(tenant_a):
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
        assert Transaction.objects.count() == 2  # the transactions stay
