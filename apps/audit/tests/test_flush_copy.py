"""A large flush (a bulk import's) writes its entries through COPY (``tenants.db.copy``): the rows stored
are the ones the bulk INSERT of a small flush stores, of the organization, unsealed, then sealed after
the commit into one chain that verifies."""

from __future__ import annotations

import io
import uuid
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import transaction
from django.forms.models import model_to_dict
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.services import COPY_FLUSH_MIN, audit_flush
from apps.audit.tests.conftest import GAMMA_ACTOR
from apps.entities.models import Entity
from tenants.models import Organization, User
from tests.helpers import owner_cursor

# Besides the request id (which names each set here): the columns the two sets differ in.
_SEAL_COLUMNS = ("id", "sequence", "previous_hash", "entry_hash", "request_id")


def _entries(count: int, *, batch: str) -> list[AuditEntry]:
    """Entries with every kind of value a column holds: JSON, an address, a null, text with a tab."""
    content_type = ContentType.objects.get_for_model(Entity)
    actor = User.objects.get(id=GAMMA_ACTOR)
    return [
        AuditEntry(
            action=AuditEntry.Action.CREATE if index % 2 else AuditEntry.Action.ACCESS,
            content_type_id=content_type.pk,
            object_type="entities.entity",
            object_pk=f"{index}",
            object_repr=f"entity\t{index} \\ é",
            object_ids=[str(uuid.UUID(int=index))] if index % 3 == 0 else None,
            changes={"name": [None, f"N{index}"], "tags": [[], ["a", "b"]]} if index % 2 else None,
            actor=actor,
            remote_addr="192.0.2.7" if index % 5 else None,
            request_id=batch,
            user_agent="bench/1",
        )
        for index in range(count)
    ]


def _stored(request_id: str) -> list[dict[str, Any]]:
    rows = AuditEntry.objects.filter(request_id=request_id).order_by("id")
    return [
        {
            key: value
            for key, value in model_to_dict(entry).items()
            if key not in (*_SEAL_COLUMNS, "request_id")
        }
        | {"timestamp": entry.timestamp}
        for entry in rows
    ]


def test_a_large_flush_stores_what_a_small_one_does_and_is_sealed(gamma: Organization) -> None:
    count = COPY_FLUSH_MIN + 7
    with tenant_context(gamma):
        copied, inserted = _entries(count, batch="copied"), _entries(count, batch="inserted")
        stamp = timezone.now()
        for pair in zip(copied, inserted, strict=True):
            pair[0].timestamp = pair[1].timestamp = stamp
        with transaction.atomic():
            audit_flush(entries=copied)  # through COPY
            for start in range(0, count, COPY_FLUSH_MIN - 1):  # through bulk INSERTs
                audit_flush(entries=inserted[start : start + COPY_FLUSH_MIN - 1])
        # committed: sealed on commit, copied ones first, in the order they were given
        assert _stored("copied") == _stored("inserted")
        assert len(_stored("copied")) == count
        sequences = list(
            AuditEntry.objects.filter(request_id="copied").order_by("id").values_list("sequence", flat=True)
        )
        assert sequences == list(range(4, 4 + count))  # the fixture's three entries come first
        assert not AuditEntry.objects.filter(sequence__isnull=True).exists()
    with owner_cursor(gamma) as cursor:
        cursor.execute(
            "SELECT count(*) FROM audit_auditentry WHERE request_id = 'copied' AND organization_id = %s",
            [gamma.organization_id],
        )
        assert cursor.fetchone()[0] == count
    out = io.StringIO()
    call_command("verify_audit", "--tenant", gamma.slug, stdout=out)
    assert f"{3 + 2 * count} entries ok" in out.getvalue()


def test_a_large_flush_that_rolls_back_leaves_nothing(gamma: Organization) -> None:
    with tenant_context(gamma):
        try:
            with transaction.atomic():
                audit_flush(entries=_entries(COPY_FLUSH_MIN, batch="lost"))
                assert AuditEntry.objects.filter(request_id="lost").count() == COPY_FLUSH_MIN
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        assert not AuditEntry.objects.filter(request_id="lost").exists()
        assert list(AuditEntry.objects.order_by("id").values_list("sequence", flat=True)) == [1, 2, 3]
