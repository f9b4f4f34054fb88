"""Master keys of field encryption (``HUB_FIELD_KEYS``): parsing and generation, importable by settings."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass

KEY_BYTES = 32


@dataclass(frozen=True)
class MasterKey:
    id: str
    key: bytes


def master_key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def master_key_parse(text: str) -> MasterKey:
    """A master key from its base64 form; ``ValueError`` unless it is exactly 32 bytes."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ValueError("each HUB_FIELD_KEYS entry must be the base64 form of 32 random bytes")
    return MasterKey(id=master_key_id(key), key=key)


def master_key_generate() -> str:
    """A new master key in the form ``HUB_FIELD_KEYS`` takes."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()
