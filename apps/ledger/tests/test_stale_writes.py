"""Writes of the ledger re-read their row under its lock: a change that committed while another request
was under way is the "before" of the next one, never overwritten by a stale copy (staged races)."""

from __future__ import annotations

import copy
from typing import Any

from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.ledger import services
from apps.ledger.models import Account
from apps.ledger.tests.conftest import Chart
from tenants.models import Organization, User
from tests.helpers import staged


def test_an_account_update_racing_another_sees_its_change(
    gamma: Organization, gamma_chart: Chart, gamma_actor: User
) -> None:
    stale = gamma_chart.cash

    def retype(kind: str) -> Any:
        with tenant_context(gamma):  # each request holds its own copy, read before either update
            return services.account_update(
                actor=gamma_actor, account=copy.copy(stale), changes={"type": kind}
            )

    outcome = staged(lambda: retype("liability"), lambda: retype("equity"))

    assert outcome["second"].type == "equity", outcome
    with tenant_context(gamma):
        assert Account.objects.get(id=stale.id).type == "equity"
        *_, first, second = (
            AuditEntry.objects.filter(object_pk=str(stale.id), action=AuditEntry.Action.UPDATE)
            .order_by("id")
            .values_list("changes", flat=True)
        )
    assert first["type"] == ["asset", "liability"]
    assert second["type"] == ["liability", "equity"]  # before: ["asset", "equity"], the first unseen
