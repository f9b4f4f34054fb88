"""``POST /transactions/`` at most once per ``Idempotency-Key``: keys, replays, purge."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.audit.services import audit_access
from apps.entities.selectors import EntityViewer, entity_linked_get
from apps.ledger.errors import IdempotencyKeyReused
from apps.ledger.models import IdempotencyKey, Transaction
from apps.ledger.services.atomic import atomic_unless_inside
from apps.ledger.services.transactions import (
    KeyClaim,
    PostingLine,
    Replay,
    transaction_audit,
    transaction_prepare,
    transaction_write,
)
from hub.errors import HubError
from tenants.models import User

IDEMPOTENCY_KEY_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class IdempotentResult:
    """What ``POST /transactions/`` answers: the first response to its key, replayed or new."""

    status: int
    body: dict[str, Any]
    replayed: bool

    def content(self) -> bytes:
        """The body as the response's bytes, the same for the first answer and every replay (keys
        sorted: the stored body comes back from ``jsonb`` in another order than it was written)."""
        return json.dumps(self.body, sort_keys=True, separators=(",", ":")).encode()


def request_fingerprint(request: dict[str, Any]) -> str:
    """SHA-256 of the request body's canonical JSON: equal bodies, equal fingerprints."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _key_claim(*, key: str, fingerprint: str) -> bool:
    """Insert the key's row first, so a concurrent request with the same key waits on the unique
    index until this transaction ends; a key older than the TTL is taken over. False: already taken."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_idempotencykey (key, fingerprint, created_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, "
            "created_at = EXCLUDED.created_at, status = NULL, response = NULL, transaction_id = NULL "
            "WHERE ledger_idempotencykey.created_at < %s RETURNING id",
            [key, fingerprint, now, now - IDEMPOTENCY_KEY_TTL],
        )
        return cursor.fetchone() is not None


def _stored_replay(key: str) -> Replay:
    stored = IdempotencyKey.objects.get(key=key)
    return Replay(
        fingerprint=stored.fingerprint,
        status=stored.status,
        response=stored.response,
        transaction_id=stored.transaction_id,
    )


def _replay(stored: Replay, *, fingerprint: str) -> IdempotentResult:
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    # The row is completed in the transaction that inserted it, so a committed row is complete.
    assert stored.status is not None  # noqa: S101
    assert stored.transaction_id is not None  # noqa: S101
    assert isinstance(stored.response, dict)  # noqa: S101
    audit_access(instance=Transaction(pk=stored.transaction_id))
    return IdempotentResult(status=stored.status, body=stored.response, replayed=True)


def _refused_or_replay(
    error: HubError, *, key: str, fingerprint: str, request: dict[str, Any], viewer: EntityViewer | None
) -> IdempotentResult:
    """A request refused before any write (its body invalid, its entity hidden) still answers the first
    response when its key was used: the key decides first, as for a valid body. Rare, so a savepoint
    gives the key back."""
    with transaction.atomic():
        if _key_claim(key=key, fingerprint=fingerprint):
            raise error
    # A replay shows the entity link only to a caller who may see it: to anyone else the entity is
    # missing, as on the first request.
    entity_linked_get(request.get("entity_id"), viewer=viewer)
    return _replay(_stored_replay(key), fingerprint=fingerprint)


def transaction_create_idempotent(
    *,
    actor: User,
    key: str,
    request: dict[str, Any],
    render: Callable[[Transaction, Sequence[PostingLine]], dict[str, Any]],
    viewer: EntityViewer | None = None,
) -> IdempotentResult:
    """``transaction_create`` at most once per ``key``: the same key and body again answer the first
    response (same id, same status) without posting; the same key with another body is a conflict.

    ``request`` is the validated body (``transaction_create``'s keyword arguments); ``render`` turns the
    transaction about to be written and its postings (in their order) into the response body, stored
    with the key for replays. One statement claims the key, checks and writes (``transaction_write``).
    """
    fingerprint = request_fingerprint(request)
    try:
        txn, lines = transaction_prepare(actor=actor, viewer=viewer, **request)
    except HubError as error:
        return _refused_or_replay(error, key=key, fingerprint=fingerprint, request=request, viewer=viewer)
    body = render(txn, lines)
    claim = KeyClaim(
        key=key,
        fingerprint=fingerprint,
        expired_before=txn.created_at - IDEMPOTENCY_KEY_TTL,
        response=body,
    )
    with atomic_unless_inside():
        stored = transaction_write(txn, lines, claim=claim)
        if stored is not None:
            # The entity (if any) was found visible to this caller above: the replay may show it.
            return _replay(stored, fingerprint=fingerprint)
        transaction_audit(txn, lines, actor=actor)
    return IdempotentResult(status=201, body=body, replayed=False)


def idempotency_keys_purge(*, older_than: timedelta = IDEMPOTENCY_KEY_TTL) -> int:
    """Delete the current organization's idempotency keys older than ``older_than`` (at least the
    24-hour TTL, never less); return how many."""
    cutoff = timezone.now() - max(older_than, IDEMPOTENCY_KEY_TTL)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
