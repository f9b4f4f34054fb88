"""What every kind of import provides: its columns, a validation pass that writes nothing, a commit pass,
and an undo.

The framework (``apps.imports.services``, ``apps.imports.tasks``) reads the uploaded file (CSV, JSON,
NDJSON or XLSX: ``apps.imports.readers``) into ``SourceRow``s, streamed, and hands them to an
``Importer`` of the import's type (``apps.imports.importers.IMPORTERS``):

1. dry run: ``validate`` over every row, in file order; the framework stores the ``RowIssue``s it yields
   (the validation report) and writes nothing else;
2. commit (in one transaction of the framework's): ``validate`` again (the organization may have changed
   since the dry run), then ``commit`` with the rows to skip: none in all-or-nothing mode (any issue
   and the framework does not call ``commit``), the rows with an issue in ``valid_rows`` mode;
3. undo: ``undo`` removes (or, for the append-only ledger, reverses) what one import created.

An importer checks a row with the same validators and services the API uses (never a second copy of
the rules), in batches (one query looks up a batch's references, one statement writes a batch), and
tags what it creates with the import's id (``source_import``).
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from tenants.models import User

# Rows an importer handles at a time: one lookup query and one write statement per batch.
BATCH_ROWS = 2000


@dataclass(frozen=True)
class Column:
    """One column of an import type: what the template's header row names and the docs describe."""

    name: str
    description: str
    example: str
    required: bool = False


@dataclass(frozen=True)
class SourceRow:
    """One record of the file.

    ``number``: where the caller finds it: the spreadsheet row for CSV and XLSX (the header is row 1, so
    the first record is row 2), the line for NDJSON, the 1-based position in a JSON array.
    ``values``: column name -> cell, only the columns the file has; an empty cell is ``None``. Cells are
    text from CSV, and text, numbers or booleans from JSON and XLSX (never a formula: its cached value).
    """

    number: int
    values: dict[str, Any]


class IssueCode:
    """The machine codes of the validation report (``RowIssue.code``)."""

    REQUIRED = "required"  # a required column is empty or absent
    INVALID = "invalid"  # the value breaks the API's rule for it (the message says which)
    TOO_LONG = "too_long"  # longer than the cell limit
    UNKNOWN_REFERENCE = "unknown_reference"  # names a row neither in the file nor in the organization
    DUPLICATE_IN_FILE = "duplicate_in_file"  # the same reference twice in one file
    CONFLICT = "conflict"  # clashes with what the organization already holds (a reference taken, ...)
    UNBALANCED = "unbalanced"  # a ledger transaction whose postings do not sum to zero per currency
    GROUP_INVALID = "group_invalid"  # a row of a ledger transaction another row of which is invalid
    UNKNOWN_COLUMN = "unknown_column"  # a column the import type does not have (reported at row 1)


@dataclass(frozen=True)
class RowIssue:
    """One line of the validation report; ``column`` is "" when the issue is the row as a whole."""

    row: int
    column: str
    code: str
    message: str


# A row as the dry run cleaned it (``Importer.keeps_rows``): its number and its cleaned values, JSON ones.
KeptRow = tuple[int, dict[str, Any]]


class RowKeeper(Protocol):
    """Where a dry run keeps the rows it cleaned, for its commit (the framework's ``_Kept``)."""

    def keep(self, number: int, cleaned: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class ImportContext:
    """Who imports, and the import every created object is tagged with (``source_import``)."""

    actor: User
    import_id: uuid.UUID
    # Whether the actor may see what only admins see (restricted entities as relation targets).
    actor_is_admin: bool = False


class Importer(ABC):
    """One kind of import. An instance serves one pass (validate, or validate then commit, or undo) and
    may remember, between its ``validate`` and ``commit``, what it learnt (references the file defines)."""

    type: ClassVar[str]  # "entities", "ledger_accounts", "ledger_transactions", "resources", "bookings"
    label: ClassVar[str]  # "Entities", for people
    columns: ClassVar[tuple[Column, ...]]
    # True: ``commit`` checks every row again itself, batch by batch, as ``validate`` does, and appends
    # what it finds to ``commit_issues`` (skipping those rows); the framework's commit then reads the
    # file once instead of twice (no ``validate`` pass first), and refuses an all-or-nothing commit
    # (rolling it back) when ``commit_issues`` is not empty at the end.
    checks_on_commit: ClassVar[bool] = False
    # True (with ``checks_on_commit``): ``validate`` hands each row it cleaned to ``self.keeper``, and the
    # commit gives them back to ``commit_kept`` instead of reading and cleaning the file again (the
    # cleaning of a value does not change between the two; what the organization holds may, and is
    # checked again). A dry run that kept nothing (one that ran before) is committed from the file.
    keeps_rows: ClassVar[bool] = False

    def __init__(self, context: ImportContext) -> None:
        self.context = context
        self.commit_issues: list[RowIssue] = []
        self.keeper: RowKeeper | None = None  # the dry run's, when ``keeps_rows``

    @abstractmethod
    def validate(self, rows: Iterable[SourceRow]) -> Iterator[RowIssue]:
        """Check every row as the API would (and what only a file can break: a reference twice, a
        reference to a row neither in the file nor in the organization), writing nothing."""

    @abstractmethod
    def commit(self, rows: Iterable[SourceRow], *, skip: Container[int]) -> Iterator[int]:
        """Create what the rows describe, except the rows numbered in ``skip``, in the caller's
        transaction, through the services' batched path: audited (one entry per created object), events
        emitted, each object tagged with ``self.context.import_id``. Yields the count of rows handled so
        far after each batch (the framework's progress)."""

    def commit_kept(self, rows: Iterable[KeptRow], *, skip: Container[int]) -> Iterator[int]:
        """``commit`` from the rows the dry run kept (``keeps_rows``), in file order: only the checks that
        depend on the organization are made again."""
        raise NotImplementedError(f"{type(self).__name__} keeps no rows")

    @abstractmethod
    def undo(self) -> int:
        """Remove what the import ``self.context.import_id`` created (audited as deletions), or refuse
        with a ``apps.imports.errors.ImportNotUndoable`` naming what refers to it; returns how many
        objects were undone."""

    @classmethod
    def template_row(cls) -> dict[str, Any]:
        """The example row of the template: each column's example."""
        return {column.name: column.example for column in cls.columns}
