"""The archive's file format: a clear header, then AES-256-GCM chunks, the last one marked final.

::

    MAGIC (8 bytes) | header length (4, big-endian) | header (JSON)
    frame*: length (4) | nonce (12) | AES-256-GCM(zlib(record JSON))

* **Header** (authenticated, not secret): ``format`` (``FORMAT_VERSION``), ``archive_id`` (random),
  ``created_at`` and ``key``, how the content key is obtained: ``{"mode": "key"}`` (HKDF-SHA256 of the
  caller's 32-byte key, the archive id as salt) or ``{"mode": "rsa-oaep-sha256", "wrapped_key": ...,
  "public_key_sha256": ...}`` (a random content key wrapped for the caller's RSA public key, at least
  3072 bits: the platform endpoint's jobs never hold a key that opens the archive).
* **Frames**: one record each (a JSON object), compressed, encrypted with a fresh random nonce; the
  associated data is the SHA-256 of the header, the frame's index and a final flag. So a frame that is
  moved, dropped, duplicated or taken from another archive fails authentication, and an archive cut
  short lacks its final frame.
* **Checksum**: the final record holds the SHA-256 of every record before it (length-prefixed), checked
  before anything is written on import (``archive_records`` raises ``ArchiveRefused`` otherwise).

The key is never written into the archive, nor anywhere else by the Hub.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"HUBARCH\x01"
FORMAT_VERSION = 1
KEY_BYTES = 32
RSA_MIN_BITS = 3072
_NONCE_BYTES = 12
_MAX_FRAME_BYTES = 64 * 1024 * 1024
_MAX_HEADER_BYTES = 64 * 1024

KEY_MODE = "key"
RSA_MODE = "rsa-oaep-sha256"


class ArchiveRefused(Exception):
    """The archive cannot be used: tampered, truncated, the wrong key, or a version this Hub does not
    know. ``code`` names the reason for a machine; nothing has been written when it is raised."""

    def __init__(self, detail: str, *, code: str = "archive_invalid") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


def key_generate() -> str:
    """A new archive key: base64 of 32 random bytes (what ``--key-file`` holds)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def key_read(path: str | Path) -> bytes:
    """The 32-byte key in ``path`` (base64, as ``openssl rand -base64 32`` writes it)."""
    try:
        key = base64.b64decode(Path(path).read_text().strip(), validate=True)
    except (OSError, ValueError, binascii.Error) as exc:
        raise ArchiveRefused(f"cannot read the key file: {exc}", code="archive_key_invalid") from None
    if len(key) != KEY_BYTES:
        raise ArchiveRefused("the key file must hold base64 of 32 bytes", code="archive_key_invalid")
    return key


def rsa_public_key_load(pem: str | bytes) -> rsa.RSAPublicKey:
    """An RSA public key (PEM) of at least ``RSA_MIN_BITS`` bits, or ``ArchiveRefused``."""
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError):
        raise ArchiveRefused("public_key is not a PEM public key", code="archive_key_invalid") from None
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < RSA_MIN_BITS:
        raise ArchiveRefused(
            f"public_key must be an RSA key of at least {RSA_MIN_BITS} bits", code="archive_key_invalid"
        )
    return key


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def _public_key_digest(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _derive(key: bytes, archive_id: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=bytes.fromhex(archive_id), info=b"hub archive"
    ).derive(key)


# A key source turns the header's ``key`` object into the content key (or refuses).
KeySource = Callable[[dict[str, Any], str], bytes]


def symmetric_key_source(key: bytes) -> KeySource:
    def content_key(header_key: dict[str, Any], archive_id: str) -> bytes:
        if header_key.get("mode") != KEY_MODE:
            raise ArchiveRefused(
                "this archive is wrapped for an RSA key: give --private-key-file", code="archive_key_invalid"
            )
        return _derive(key, archive_id)

    return content_key


def rsa_key_source(private_pem: bytes) -> KeySource:
    try:
        private = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError):
        raise ArchiveRefused(
            "the private key file is not a PEM private key", code="archive_key_invalid"
        ) from None
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ArchiveRefused("the private key must be an RSA key", code="archive_key_invalid")

    def content_key(header_key: dict[str, Any], archive_id: str) -> bytes:
        if header_key.get("mode") != RSA_MODE:
            raise ArchiveRefused(
                "this archive needs --key-file, not a private key", code="archive_key_invalid"
            )
        if header_key.get("public_key_sha256") != _public_key_digest(private.public_key()):
            raise ArchiveRefused("the archive is wrapped for another key", code="archive_key_wrong")
        try:
            return private.decrypt(base64.b64decode(header_key["wrapped_key"]), _oaep())
        except (ValueError, KeyError, binascii.Error):
            raise ArchiveRefused("the archive's key does not unwrap", code="archive_key_wrong") from None

    return content_key


class ArchiveWriter:
    """Writes records to ``stream`` as encrypted frames; ``close()`` writes the final checksum frame."""

    def __init__(self, stream: BinaryIO, *, key: bytes | None = None, public_key: str | None = None) -> None:
        self.archive_id = os.urandom(16).hex()
        if public_key is not None:
            rsa_key = rsa_public_key_load(public_key)
            self._key = os.urandom(KEY_BYTES)
            header_key: dict[str, Any] = {
                "mode": RSA_MODE,
                "wrapped_key": base64.b64encode(rsa_key.encrypt(self._key, _oaep())).decode(),
                "public_key_sha256": _public_key_digest(rsa_key),
            }
        elif key is not None:
            self._key, header_key = _derive(key, self.archive_id), {"mode": KEY_MODE}
        else:
            raise ValueError("an archive needs a key or a public key")
        header = json.dumps(
            {
                "format": FORMAT_VERSION,
                "archive_id": self.archive_id,
                "created_at": datetime.datetime.now(tz=datetime.UTC).isoformat(),
                "key": header_key,
            },
            sort_keys=True,
        ).encode()
        stream.write(MAGIC + len(header).to_bytes(4, "big") + header)
        self._stream, self._aead = stream, AESGCM(self._key)
        self._header_digest = hashlib.sha256(MAGIC + header).digest()
        self._checksum = hashlib.sha256()
        self._index = 0
        self.bytes_written = len(MAGIC) + 4 + len(header)

    def record(self, record: dict[str, Any]) -> None:
        plain = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
        self._checksum.update(len(plain).to_bytes(8, "big") + plain)
        self._frame(plain, final=False)

    def close(self) -> str:
        """Write the final frame (the checksum); return the checksum's hex digest."""
        digest = self._checksum.hexdigest()
        self._frame(json.dumps({"t": "end", "sha256": digest, "records": self._index}).encode(), final=True)
        return digest

    def _frame(self, plain: bytes, *, final: bool) -> None:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, zlib.compress(plain, 1), _associated_data(self._header_digest, self._index, final)
        )
        self._stream.write((len(sealed) + _NONCE_BYTES).to_bytes(4, "big") + nonce + sealed)
        self.bytes_written += 4 + _NONCE_BYTES + len(sealed)
        self._index += 1


def _associated_data(header_digest: bytes, index: int, final: bool) -> bytes:
    return header_digest + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ArchiveRefused("the archive is truncated", code="archive_tampered")
    return data


def archive_header(stream: BinaryIO) -> dict[str, Any]:
    """The clear header (format version, archive id, key mode), checked for a version this Hub reads."""
    if stream.read(len(MAGIC)) != MAGIC:
        raise ArchiveRefused("not a Hub organization archive", code="archive_invalid")
    size = int.from_bytes(_read_exact(stream, 4), "big")
    if size > _MAX_HEADER_BYTES:
        raise ArchiveRefused("the archive's header is damaged", code="archive_tampered")
    raw = _read_exact(stream, size)
    try:
        header: dict[str, Any] = json.loads(raw)
        version = int(header["format"])
        bytes.fromhex(header["archive_id"])
    except (ValueError, KeyError, TypeError):
        raise ArchiveRefused("the archive's header is damaged", code="archive_tampered") from None
    if version > FORMAT_VERSION:
        raise ArchiveRefused(
            f"the archive's format {version} is newer than this Hub reads ({FORMAT_VERSION}): upgrade first",
            code="archive_version_newer",
        )
    header["_digest"] = hashlib.sha256(MAGIC + raw).digest()
    return header


def archive_records(
    stream: BinaryIO,
    key_source: KeySource,
    *,
    expected_sha256: str | None = None,
    verified: list[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every record of the archive in order, each authenticated; after the last one, the checksum and
    the final frame are checked (and the checksum is ``expected_sha256``, when given: the very archive
    an earlier pass verified; appended to ``verified`` once checked). A consumer must read to the end
    before trusting what it read."""
    header = archive_header(stream)
    aead = AESGCM(key_source(header.get("key") or {}, header["archive_id"]))
    checksum, index = hashlib.sha256(), 0
    while True:
        size_bytes = stream.read(4)
        if len(size_bytes) < 4:
            raise ArchiveRefused("the archive is truncated (no final frame)", code="archive_tampered")
        size = int.from_bytes(size_bytes, "big")
        if not _NONCE_BYTES < size <= _MAX_FRAME_BYTES:
            raise ArchiveRefused("the archive is damaged (a frame's length)", code="archive_tampered")
        plain, final = _frame_open(aead, _read_exact(stream, size), header["_digest"], index)
        record: dict[str, Any] = json.loads(plain)
        if final:
            if record.get("sha256") != checksum.hexdigest() or record.get("records") != index:
                raise ArchiveRefused("the archive's checksum does not match", code="archive_tampered")
            if expected_sha256 is not None and record["sha256"] != expected_sha256:
                raise ArchiveRefused("the archive changed while it was restored", code="archive_tampered")
            if verified is not None:
                verified.append(record["sha256"])
            if stream.read(1):
                raise ArchiveRefused("the archive has data after its end", code="archive_tampered")
            return
        checksum.update(len(plain).to_bytes(8, "big") + plain)
        index += 1
        yield record


def _frame_open(aead: AESGCM, frame: bytes, header_digest: bytes, index: int) -> tuple[bytes, bool]:
    nonce, sealed = frame[:_NONCE_BYTES], frame[_NONCE_BYTES:]
    for final in (False, True):
        try:
            compressed = aead.decrypt(nonce, sealed, _associated_data(header_digest, index, final))
        except InvalidTag:
            continue
        return zlib.decompress(compressed), final
    if index == 0:
        raise ArchiveRefused(
            "the archive does not open with this key (wrong key, or tampered)", code="archive_key_wrong"
        )
    raise ArchiveRefused(
        f"the archive is tampered (frame {index} fails authentication)", code="archive_tampered"
    )
