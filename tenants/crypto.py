"""Encryption of sensitive fields at rest: envelope encryption with per-organization data keys.

* **Master keys** come from ``HUB_FIELD_KEYS`` (base64 of 32 random bytes each, comma-separated). The
  first wraps new data keys; every listed key unwraps. A master key is named by the first 16 hex digits
  of its SHA-256, stored beside what it wrapped.
* **Data keys** (``tenants.DataKey``, in ``public``): 32 random bytes per organization and version,
  stored only wrapped (AES-256-GCM under a master key, the organization id as associated data). The
  newest version encrypts; every version decrypts. Deleting an organization's data keys makes its
  encrypted values unrecoverable, in the database and in every backup of it (crypto-shredding,
  ``tenants.services.tenant_delete``).
* **Versions are never reused**: they come from one database sequence for every organization
  (``tenants_datakey_version_seq``), so a version names one key forever, even after the organization
  is deleted and provisioned again under the same id. That is what makes the per-process cache safe
  across processes: a cached version can only ever decrypt what that very key encrypted, and before
  encrypting (or computing a blind index) a process checks in the database that its newest cached
  version is still the organization's newest. A process that still holds a shredded key, or misses a
  rotation done elsewhere, reloads instead of writing under a key nobody else can read.
* **Values** are AES-256-GCM under the organization's data key, with ``<organization>|<model>.<field>``
  as associated data, so a ciphertext copied to another organization, table or column does not decrypt.
  Stored as ``enc1:<version>:<base64url(nonce || ciphertext)>``; the empty string stays empty.
* **Blind indexes** make exact-match lookups possible without decrypting the table: HMAC-SHA256 of the
  normalised value under a key derived (HKDF) from the data key. One per data-key version, so a lookup
  asks for every version's digest (``blind_index_candidates``): rows written under an older version,
  not yet re-encrypted by a rotation, are still found.

The runtime role may only read ``tenants_datakey`` (``tenants.rls.runtime_read_only_ensure``): data keys
are created by provisioning and by ``rotate_field_keys``, and removed by tenant deletion, all of them as
the owner role.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Max

from tenants.master_keys import KEY_BYTES, MasterKey, master_key_parse
from tenants.models import DataKey

_NONCE_BYTES = 12
PREFIX = "enc1"
# How long a process keeps its copy of an organization's data keys for decrypting. Encryption does not
# rely on it: it checks the newest version on every use (``_encryption_keys``).
_CACHE_SECONDS = 300.0
VERSION_SEQUENCE = "public.tenants_datakey_version_seq"


class FieldKeyError(Exception):
    """A value cannot be encrypted or decrypted: missing/unknown key, or a tampered ciphertext."""


@cache
def _master_keys(configured: tuple[str, ...]) -> tuple[MasterKey, ...]:
    return tuple(master_key_parse(text) for text in configured)


def master_keys() -> tuple[MasterKey, ...]:
    """The configured master keys, the one that wraps new data keys first."""
    keys = _master_keys(tuple(settings.HUB_FIELD_KEYS))
    if not keys:
        raise FieldKeyError("HUB_FIELD_KEYS is empty: sensitive fields cannot be encrypted")
    return keys


def _master_key(key_id: str) -> MasterKey:
    for key in master_keys():
        if key.id == key_id:
            return key
    raise FieldKeyError(f"master key {key_id} is not in HUB_FIELD_KEYS")


def _wrap(data_key: bytes, *, organization_id: uuid.UUID) -> tuple[bytes, str]:
    master = master_keys()[0]
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(master.key).encrypt(nonce, data_key, organization_id.bytes), master.id


def _unwrap(wrapped: bytes, *, master_key_id: str, organization_id: uuid.UUID) -> bytes:
    master = _master_key(master_key_id)
    try:
        return AESGCM(master.key).decrypt(
            wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], organization_id.bytes
        )
    except InvalidTag:
        raise FieldKeyError(f"a data key of {organization_id} does not unwrap: tampered") from None


# --- Data keys --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationKeys:
    """An organization's unwrapped data keys by version; ``current`` encrypts."""

    organization_id: uuid.UUID
    keys: dict[int, bytes]
    loaded_at: float
    # One cipher per version, made once: building an AESGCM costs more than a short encryption.
    ciphers: dict[int, AESGCM] = field(default_factory=dict, compare=False, repr=False)
    # The blind-index key of each version, derived once too (an HKDF per value cost as much as its HMAC).
    index_keys: dict[int, bytes] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.ciphers.update({version: AESGCM(key) for version, key in self.keys.items()})
        self.index_keys.update({version: _index_key(key) for version, key in self.keys.items()})

    @property
    def current(self) -> int:
        return max(self.keys)


_cache: dict[uuid.UUID, OrganizationKeys] = {}
_cache_lock = threading.Lock()


def data_keys_forget(organization_id: uuid.UUID | None = None) -> None:
    """Drop this process's copy of one organization's data keys (or of all)."""
    with _cache_lock:
        if organization_id is None:
            _cache.clear()
        else:
            _cache.pop(organization_id, None)


def data_keys(organization_id: uuid.UUID, *, using: str = DEFAULT_DB_ALIAS) -> OrganizationKeys:
    """The organization's data keys, unwrapped (read at most every few minutes per process)."""
    cached = _cache.get(organization_id)
    if cached is not None and time.monotonic() - cached.loaded_at < _CACHE_SECONDS:
        return cached
    rows = DataKey.objects.using(using).filter(organization_id=organization_id)
    keys = {
        row.version: _unwrap(
            bytes(row.wrapped_key), master_key_id=row.master_key_id, organization_id=organization_id
        )
        for row in rows
    }
    if not keys:
        raise FieldKeyError(f"organization {organization_id} has no data key (deleted, or never provisioned)")
    loaded = OrganizationKeys(organization_id=organization_id, keys=keys, loaded_at=time.monotonic())
    with _cache_lock:
        _cache[organization_id] = loaded
    return loaded


def data_key_create(organization_id: uuid.UUID, *, using: str) -> int:
    """Add a new data key version for the organization (it encrypts from now on); return the version.

    Run as the owner role, inside the caller's transaction. The version is drawn from a sequence
    shared by every organization: never reused, not even by an organization deleted and provisioned
    again with the same id (a process may still hold the shredded key under its version).
    """
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT nextval(%s::regclass)", [VERSION_SEQUENCE])
        version = int(cursor.fetchone()[0])
    wrapped, key_id = _wrap(os.urandom(KEY_BYTES), organization_id=organization_id)
    DataKey.objects.using(using).create(
        organization_id=organization_id, version=version, wrapped_key=wrapped, master_key_id=key_id
    )
    data_keys_forget(organization_id)
    return version


def _newest_version(organization_id: uuid.UUID, *, using: str) -> int | None:
    latest = DataKey.objects.using(using).filter(organization_id=organization_id).aggregate(v=Max("version"))
    return latest["v"]


# Keys checked once for a bulk write (``data_keys_pinned``): one statement's values, one check.
_pinned: ContextVar[OrganizationKeys | None] = ContextVar("data_keys_pinned", default=None)


@contextmanager
def data_keys_pinned(organization_id: uuid.UUID, *, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Inside the block, values of the organization are encrypted (and blind-indexed) under the keys
    checked once on entering it, not once per value: for a bulk INSERT of many rows (an import's batch),
    which is one statement, as a single value's write is. Keep the block to one statement's values."""
    token = _pinned.set(_encryption_keys(organization_id, using=using))
    try:
        yield
    finally:
        _pinned.reset(token)


def _encryption_keys(organization_id: uuid.UUID, *, using: str) -> OrganizationKeys:
    """The organization's keys, their newest version checked against the database (one indexed read).

    Another process may have rotated the keys (a newer version), or shredded them and provisioned the
    organization again (other versions): either way this process's copy is dropped and re-read, so it
    never writes a value, or a blind index, that the other processes cannot read or find.
    """
    pinned = _pinned.get()
    if pinned is not None and pinned.organization_id == organization_id:
        return pinned
    cached = _cache.get(organization_id)
    if cached is not None and _newest_version(organization_id, using=using) == cached.current:
        return cached
    data_keys_forget(organization_id)
    return data_keys(organization_id, using=using)


def data_key_ensure(organization_id: uuid.UUID, *, using: str) -> None:
    """Create the organization's first data key unless it has one."""
    if not DataKey.objects.using(using).filter(organization_id=organization_id).exists():
        data_key_create(organization_id, using=using)


def data_keys_rewrap(organization_id: uuid.UUID, *, using: str) -> int:
    """Wrap every data key of the organization under the first master key; return how many changed."""
    primary = master_keys()[0]
    changed = 0
    for row in (
        DataKey.objects.using(using).filter(organization_id=organization_id).exclude(master_key_id=primary.id)
    ):
        plain = _unwrap(
            bytes(row.wrapped_key), master_key_id=row.master_key_id, organization_id=organization_id
        )
        row.wrapped_key, row.master_key_id = _wrap(plain, organization_id=organization_id)
        row.save(using=using, update_fields=["wrapped_key", "master_key_id"])
        changed += 1
    return changed


def data_keys_shred(organization_id: uuid.UUID, *, using: str) -> int:
    """Delete the organization's data keys: its encrypted values can never be read again.

    Other processes may still hold the keys for a while (for decrypting only): their versions are
    never reused, and no process encrypts under a version that is no longer the newest in the database.
    """
    deleted, _ = DataKey.objects.using(using).filter(organization_id=organization_id).delete()
    data_keys_forget(organization_id)
    return deleted


# --- Values -----------------------------------------------------------------------------------------


def _associated_data(organization_id: uuid.UUID, context: str) -> bytes:
    return f"{organization_id}|{context}".encode()


def encrypt(
    plaintext: str, *, organization_id: uuid.UUID, context: str, using: str = DEFAULT_DB_ALIAS
) -> str:
    """``plaintext`` encrypted under the organization's current data key, bound to ``context``."""
    keys = _encryption_keys(organization_id, using=using)
    version = keys.current
    nonce = os.urandom(_NONCE_BYTES)
    sealed = keys.ciphers[version].encrypt(
        nonce, plaintext.encode(), _associated_data(organization_id, context)
    )
    return f"{PREFIX}:{version}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def ciphertext_version(stored: str) -> int:
    """The data-key version a stored value was encrypted with."""
    return _split(stored)[1]


def _split(stored: str) -> tuple[str, int, bytes]:
    try:
        prefix, version_text, body = stored.split(":", 2)
        if prefix != PREFIX:
            raise ValueError(prefix)
        return prefix, int(version_text), base64.urlsafe_b64decode(body)
    except (ValueError, binascii.Error):
        raise FieldKeyError("not an encrypted value") from None


def decrypt(stored: str, *, organization_id: uuid.UUID, context: str, using: str = DEFAULT_DB_ALIAS) -> str:
    _, version, blob = _split(stored)
    keys = data_keys(organization_id, using=using)
    if version not in keys.keys:  # written by a process that saw a newer version than we did
        data_keys_forget(organization_id)
        keys = data_keys(organization_id, using=using)
    if version not in keys.keys:
        raise FieldKeyError(f"data key version {version} of {organization_id} does not exist")
    try:
        plain = keys.ciphers[version].decrypt(
            blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _associated_data(organization_id, context)
        )
    except InvalidTag:
        raise FieldKeyError(
            f"an encrypted {context} value of {organization_id} fails authentication"
        ) from None
    return plain.decode()


# --- Blind indexes ----------------------------------------------------------------------------------


def blind_index_normalise(value: str) -> str:
    return value.strip().casefold()


def _index_key(data_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"hub blind index").derive(data_key)


def _digest(index_key: bytes, context: str, value: str) -> str:
    message = f"{context}|{blind_index_normalise(value)}".encode()
    return hmac.new(index_key, message, hashlib.sha256).hexdigest()


def blind_index(
    value: str, *, organization_id: uuid.UUID, context: str, using: str = DEFAULT_DB_ALIAS
) -> str:
    """The value's blind index under the current data key; empty for an empty value."""
    if not value:
        return ""
    keys = _encryption_keys(organization_id, using=using)
    return _digest(keys.index_keys[keys.current], context, value)


def blind_index_candidates(
    value: str, *, organization_id: uuid.UUID, context: str, using: str = DEFAULT_DB_ALIAS
) -> list[str]:
    """Every blind index ``value`` may be stored under (one per data-key version)."""
    if not blind_index_normalise(value):
        return []
    keys = _encryption_keys(organization_id, using=using)
    return [_digest(key, context, value) for key in keys.index_keys.values()]
