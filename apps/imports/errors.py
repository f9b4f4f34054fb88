"""The imports module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict


class ImportErrorCode(StrEnum):
    """Every code the imports module answers (besides those of `HubErrorCode`)."""

    IMPORT_NOT_UNDOABLE = "import_not_undoable"


class ImportNotUndoable(Conflict):
    """Undo refused: something else refers to a row the import created (the detail names it)."""

    code = ImportErrorCode.IMPORT_NOT_UNDOABLE
    default_detail = "Something else refers to rows of this import: it cannot be undone."
