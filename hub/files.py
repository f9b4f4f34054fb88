"""Files the Hub keeps for a while: uploaded imports, export downloads, organization archives.

They live in one Django storage, ``storages["hub_files"]`` (``HUB_FILES_DIR`` by default: a directory the
web and worker processes share). Their names are built here and only here, from ids the Hub chose,
never from anything a caller sent: ``<organization id>/<area>/<file id><suffix>``. So no name an
organization can cause points into another organization's files, and erasing an organization's files
is removing one prefix (``files_delete_organization``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from django.core.files.storage import Storage, storages

# The kinds of file kept, each in its own folder of the organization's.
AREAS = frozenset({"imports", "exports", "archives"})
CHUNK_BYTES = 1 << 20


def file_store() -> Storage:
    return storages["hub_files"]


def file_name(
    *, organization_id: uuid.UUID | str, area: str, file_id: uuid.UUID | str, suffix: str = ""
) -> str:
    """The storage name of one file: ids and a fixed suffix (".csv", ".xlsx", ...), nothing from a caller."""
    if area not in AREAS:
        raise ValueError(f"unknown file area {area!r}")
    if suffix and not (suffix.startswith(".") and suffix[1:].isalnum()):
        raise ValueError(f"bad file suffix {suffix!r}")
    return f"{uuid.UUID(str(organization_id))}/{area}/{uuid.UUID(str(file_id))}{suffix}"


def file_chunks(name: str, *, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's bytes a chunk at a time (a download streams them: bounded memory)."""
    with file_store().open(name, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            yield chunk


def file_delete(name: str) -> None:
    """Remove one file; nothing when it is already gone."""
    store = file_store()
    if name and store.exists(name):
        store.delete(name)


def files_delete_organization(organization_id: uuid.UUID | str) -> int:
    """Remove every file of one organization (its deletion); returns how many there were."""
    store = file_store()
    root = str(uuid.UUID(str(organization_id)))
    removed = 0
    if not store.exists(root):
        return 0
    for area in AREAS:
        folder = f"{root}/{area}"
        if not store.exists(folder):
            continue
        for name in store.listdir(folder)[1]:
            store.delete(f"{folder}/{name}")
            removed += 1
    return removed
