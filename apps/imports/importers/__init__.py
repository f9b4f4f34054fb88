"""Every kind of import, by its ``type`` (``apps.imports.base.Importer``)."""

from __future__ import annotations

from apps.imports.base import Importer
from apps.imports.importers.entities import EntitiesImporter
from apps.imports.importers.ledger import LedgerAccountsImporter, LedgerTransactionsImporter
from apps.imports.importers.scheduling import BookingsImporter, ResourcesImporter

IMPORTERS: dict[str, type[Importer]] = {
    importer.type: importer
    for importer in (
        EntitiesImporter,
        LedgerAccountsImporter,
        LedgerTransactionsImporter,
        ResourcesImporter,
        BookingsImporter,
    )
}
