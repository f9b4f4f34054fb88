"""The ``entity`` column of the ledger and scheduling imports: the entity a row links to, named
``kind:reference`` as the entities import names relation targets (``customer:C-1042``).

Found among the live entities the importer may see (``apps.entities.selectors.entities_visible_to``:
the one visibility rule; another organization's are never seen), one query per batch; the service that
writes the row checks the link again (``entity_linked_get``).
"""

from __future__ import annotations

import uuid
from typing import Any

from apps.entities.selectors import EntityViewer, entities_visible_to
from apps.imports.base import Column, ImportContext

Key = tuple[str, str]

ENTITY_COLUMN = Column(
    "entity",
    "The entity it belongs to, as kind:reference (a live entity of the organization); empty: none.",
    "customer:C-1042",
)


def entity_key(value: Any) -> Key | None:
    """``kind:reference`` of a cell (``None`` when empty); ``ValueError`` naming the shape otherwise."""
    if value is None or not str(value).strip(" "):
        return None
    kind, _, reference = str(value).partition(":")
    kind, reference = kind.strip(" ").lower(), reference.strip(" ")
    if not kind or not reference:
        raise ValueError("entity must be kind:reference, such as customer:C-1042.")
    return kind, reference


def entity_viewer(context: ImportContext) -> EntityViewer:
    return EntityViewer(user_id=context.actor.id, is_admin=context.actor_is_admin)


def entities_found(keys: set[Key], *, context: ImportContext) -> dict[Key, uuid.UUID]:
    """Of ``keys``, the live entities the importer may see, by key (one query)."""
    if not keys:
        return {}
    visible = entities_visible_to(entity_viewer(context)).filter(reference__in={ref for _, ref in keys})
    found = visible.values_list("kind_id", "reference", "id")
    return {(kind, str(ref)): entity_id for kind, ref, entity_id in found if (kind, str(ref)) in keys}
