"""The imports module's errors: each one a machine code and an HTTP status (``hub.errors``)."""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict, HubError, Invalid, NotFound


class ImportErrorCode(StrEnum):
    """Every code the imports module answers (besides those of `HubErrorCode`)."""

    IMPORT_NOT_UNDOABLE = "import_not_undoable"
    IMPORT_NOT_FOUND = "import_not_found"
    IMPORT_TYPE_UNKNOWN = "import_type_unknown"
    IMPORT_FILE_MISSING = "import_file_missing"
    IMPORT_TOO_LARGE = "import_too_large"
    IMPORT_TOO_MANY_ROWS = "import_too_many_rows"
    IMPORT_ENCODING_INVALID = "import_encoding_invalid"
    IMPORT_DELIMITER_MIXED = "import_delimiter_mixed"
    IMPORT_FILE_INVALID = "import_file_invalid"
    IMPORT_XLSX_REFUSED = "import_xlsx_refused"
    IMPORT_COLUMNS_MISSING = "import_columns_missing"
    IMPORT_HAS_ISSUES = "import_has_issues"
    IMPORT_STATE = "import_state"  # the import's status does not allow the operation
    IMPORT_COMMIT_FAILED = "import_commit_failed"
    TEMPLATE_FORMAT_UNKNOWN = "template_format_unknown"


class ImportNotUndoable(Conflict):
    """Undo refused: something else refers to a row the import created (the detail names it)."""

    code = ImportErrorCode.IMPORT_NOT_UNDOABLE
    default_detail = "Something else refers to rows of this import: it cannot be undone."


class ImportNotFound(NotFound):
    code = ImportErrorCode.IMPORT_NOT_FOUND
    default_detail = "No import has this id."


class ImportTypeUnknown(Invalid):
    code = ImportErrorCode.IMPORT_TYPE_UNKNOWN
    default_detail = "Unknown import type; GET /api/v1/imports/templates lists them."


class ImportTooLarge(HubError):
    """The upload is larger than ``HUB_IMPORT_MAX_BYTES`` (refused before or while it is read)."""

    status = 413
    code = ImportErrorCode.IMPORT_TOO_LARGE
    default_detail = "The file is too large."


class ImportFileInvalid(Invalid):
    """The file cannot be read as a whole (encoding, delimiters, format, an XLSX refused, too many rows,
    required columns missing); ``code`` says which. Nothing is written."""

    code = ImportErrorCode.IMPORT_FILE_INVALID
    default_detail = "The file cannot be read."


class ImportHasIssues(Conflict):
    """An all-or-nothing commit of an import whose report has issues: nothing is written."""

    code = ImportErrorCode.IMPORT_HAS_ISSUES
    default_detail = "The import has issues (GET .../issues); fix the file, or commit with mode=valid_rows."


class ImportStateConflict(Conflict):
    code = ImportErrorCode.IMPORT_STATE
    default_detail = "The import's status does not allow this."
