"""50 concurrent clients posting transfers between the same few accounts: exact balances, no deadlock."""

from __future__ import annotations

import io
import itertools
import threading
from decimal import Decimal
from typing import Any

from django.core.management import call_command
from django.db import connections
from django_tenants.utils import tenant_context

from apps.ledger.models import Account, Transaction
from apps.ledger.tests.conftest import Chart
from apps.ledger.tests.helpers import post, transfer
from tenants.models import Organization

CLIENTS = 50
TRANSFERS_EACH = 4


def test_fifty_concurrent_clients_leave_exact_balances(
    gamma: Organization, gamma_chart: Chart, client_for: Any
) -> None:
    accounts = [gamma_chart.cash, gamma_chart.bank, gamma_chart.revenue]
    # Every client moves money around the same three accounts, in both directions, so the locks of
    # concurrent transfers cross: without ordered locking this deadlocks.
    routes = list(itertools.permutations(accounts, 2))
    start = threading.Barrier(CLIENTS)
    statuses: list[int] = []
    errors: list[BaseException] = []
    expected = {account.id: Decimal(0) for account in accounts}
    for client_index in range(CLIENTS):
        for transfer_index in range(TRANSFERS_EACH):
            source, target = routes[(client_index + transfer_index) % len(routes)]
            amount = Decimal(client_index + 1) / 100 + transfer_index
            expected[source.id] -= amount
            expected[target.id] += amount

    def client_run(client_index: int) -> None:
        try:
            client = client_for(gamma, ["member"])
            start.wait()
            for transfer_index in range(TRANSFERS_EACH):
                source, target = routes[(client_index + transfer_index) % len(routes)]
                amount = Decimal(client_index + 1) / 100 + transfer_index
                statuses.append(post(client, transfer(source.id, target.id, f"{amount:.2f}")).status_code)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=client_run, args=(index,)) for index in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert statuses == [201] * (CLIENTS * TRANSFERS_EACH)
    with tenant_context(gamma):
        assert Transaction.objects.count() == CLIENTS * TRANSFERS_EACH
        stored = {a.id: (a.balance, a.pending_balance) for a in Account.objects.filter(id__in=expected)}
    assert stored == {account_id: (amount, amount) for account_id, amount in expected.items()}
    assert sum(expected.values()) == 0
    assert any(amount != 0 for amount in expected.values())
    out = io.StringIO()
    call_command("verify_ledger", "--tenant", gamma.slug, stdout=out)
    assert f"{gamma.slug}: 5 accounts, {CLIENTS * TRANSFERS_EACH} transactions ok" in out.getvalue()
