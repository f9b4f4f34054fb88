"""Every kind of import, by its ``type`` (``apps.imports.base.Importer``)."""

from __future__ import annotations

from apps.imports.base import Importer
from apps.imports.importers.entities import EntitiesImporter

IMPORTERS: dict[str, type[Importer]] = {importer.type: importer for importer in (EntitiesImporter,)}
