"""Crypto-shredding against the data keys other processes cache: a tenant deleted and provisioned again
under the same id, while a second real process still holds its old keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction

from tenants import crypto
from tenants.models import DataKey, Organization
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tests.helpers import session_database_url

PROJECT_DIR = Path(__file__).resolve().parent.parent
CONTEXT = "entities.entity.email"


class Peer:
    """A second Hub process (``tests.crypto_peer``, or ``MODULE``), stepped one command at a time."""

    MODULE = "tests.crypto_peer"

    def __init__(self) -> None:
        environment = {**os.environ, "HUB_ENV": "test", "HUB_FIELD_KEYS": ",".join(settings.HUB_FIELD_KEYS)}
        environment.update(
            DATABASE_URL=session_database_url("default"),
            DATABASE_OWNER_URL=session_database_url(MIGRATION_ALIAS),
        )
        self.process = subprocess.Popen(  # noqa: S603 - our own module, by its name
            [sys.executable, "-m", self.MODULE],
            cwd=PROJECT_DIR,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._read()["result"] == "ready"

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the peer process exited"
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, op: str, organization_id: uuid.UUID, text: str = "") -> Any:
        assert self.process.stdin is not None
        command = {"op": op, "organization_id": str(organization_id), "text": text, "context": CONTEXT}
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = self._read()
        assert answer["ok"], answer
        return answer["result"]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def peer(committed_db: None) -> Iterator[Peer]:
    peer = Peer()
    yield peer
    peer.close()


def _provision(organization_id: uuid.UUID, slug: str) -> Organization:
    return tenant_provision(organization_id=organization_id, slug=slug, name="Shred", check_identity=False)


def test_a_tenant_provisioned_again_is_never_served_a_shredded_key_by_another_process(peer: Peer) -> None:
    organization_id, slug = uuid.uuid4(), f"shred-{uuid.uuid4().hex[:6]}"
    tenant = _provision(organization_id, slug)
    old_version = peer.ask("keys", organization_id)  # the peer now caches the first key
    old_value = peer.ask("encrypt", organization_id, "old@example.com")

    tenant_delete(tenant=tenant, confirm=str(organization_id))
    _provision(organization_id, slug)
    (new_version,) = DataKey.objects.filter(organization_id=organization_id).values_list("version", flat=True)
    assert new_version != old_version  # a version names one key forever

    # The peer still holds the shredded key: it must not encrypt under it.
    written_there = peer.ask("encrypt", organization_id, "peer@example.com")
    assert crypto.ciphertext_version(written_there) == new_version
    assert (
        crypto.decrypt(written_there, organization_id=organization_id, context=CONTEXT) == "peer@example.com"
    )
    written_here = crypto.encrypt("here@example.com", organization_id=organization_id, context=CONTEXT)
    assert peer.ask("decrypt", organization_id, written_here) == "here@example.com"
    assert peer.ask("decrypt", organization_id, written_there) == "peer@example.com"
    # A copy of a value written before the deletion stays unreadable here.
    with pytest.raises(crypto.FieldKeyError):
        crypto.decrypt(old_value, organization_id=organization_id, context=CONTEXT)


def test_a_process_encrypts_under_a_rotation_done_in_another_process_at_once(peer: Peer) -> None:
    organization_id = uuid.uuid4()
    _provision(organization_id, f"rot-{uuid.uuid4().hex[:6]}")
    first = peer.ask("keys", organization_id)
    with transaction.atomic(using=MIGRATION_ALIAS):
        second = crypto.data_key_create(organization_id, using=MIGRATION_ALIAS)
    assert second > first
    assert crypto.ciphertext_version(peer.ask("encrypt", organization_id, "x@example.com")) == second
