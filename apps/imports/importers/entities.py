"""The entities import: one row an entity, with at most one relation from it, by reference.

Rows are checked by the entities module's own rules (``apps.entities.services.entity_clean``, which
runs ``apps.entities.validators``), references against the file and the organization a batch at a
time (one query a batch), and written by ``entity_create_many`` (one INSERT, one audit entry and one
event per entity). A relation names its target as ``kind:reference``: an entity of the same file
(before or after the row) or a live entity of the organization the importer may see; anything else,
another organization's entities included, is an unknown reference.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Container, Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

from apps.entities import validators
from apps.entities.errors import EntityConflict, EntityInvalid
from apps.entities.models import Entity, EntityKind, EntityRelation
from apps.entities.selectors import EntityViewer, entities_visible_to
from apps.entities.services import (
    entity_clean,
    entity_create_many,
    entity_import_referrers,
    entity_import_undo,
    entity_relation_create_many,
)
from apps.imports.base import BATCH_ROWS, Column, Importer, IssueCode, KeptRow, RowIssue, SourceRow
from apps.imports.errors import ImportNotUndoable

Key = tuple[str, str]  # (kind, reference)
Row = TypeVar("Row")
UNKNOWN_KIND = "Unknown kind; add it first (POST /api/v1/entities/kinds)."


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, BATCH_ROWS)):
        yield batch


def _text(value: Any, column: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EntityInvalid(f"{column} must be text.", field=column)
    return str(value)


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(tag, str) for tag in value):
            raise EntityInvalid("tags must be text.", field="tags")
        return value
    if not isinstance(value, str):
        raise EntityInvalid("tags must be a comma-separated list.", field="tags")
    return [tag for tag in (part.strip() for part in value.split(",")) if tag]


def _attributes(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise EntityInvalid("attributes must be a JSON object.", field="attributes") from None
    if not isinstance(value, dict):
        raise EntityInvalid("attributes must be a JSON object.", field="attributes")
    return value


def _target(value: Any) -> Key:
    text = _text(value, "relation_target") or ""
    kind, _, reference = text.partition(":")
    kind, reference = kind.strip().lower(), reference.strip(" ")
    if not kind or not reference:
        raise EntityInvalid("relation_target must be kind:reference.", field="relation_target")
    return kind, reference


def _taken_issue(number: int) -> RowIssue:
    return RowIssue(
        number, "reference", IssueCode.CONFLICT, "An entity of this kind already has this reference."
    )


class _Parsed:
    """One row, cleaned: the fields of the entity to create (``entity_clean``'s) and, maybe, its
    relation (kind, target key)."""

    __slots__ = ("fields", "key", "number", "relation")

    def __init__(self, number: int, fields: dict[str, Any], relation: tuple[str, Key] | None) -> None:
        self.number = number
        self.fields = fields
        reference = fields["reference"]
        self.key: Key | None = (fields["kind"].key, reference) if reference else None
        self.relation = relation

    def kept(self) -> dict[str, Any]:
        """What the dry run keeps of the row (JSON values: the kind by its key)."""
        relation = None if self.relation is None else [self.relation[0], *self.relation[1]]
        return {"fields": {**self.fields, "kind": self.fields["kind"].key}, "relation": relation}

    @classmethod
    def from_kept(cls, number: int, kind: EntityKind, kept: dict[str, Any]) -> _Parsed:
        relation = kept["relation"]
        return cls(
            number,
            {**kept["fields"], "kind": kind},
            None if relation is None else (relation[0], (relation[1], relation[2])),
        )


class EntitiesImporter(Importer):
    type = "entities"
    label = "Entities"
    checks_on_commit = True
    keeps_rows = True
    columns = (
        Column(
            "kind",
            "The entity's kind: a key of GET /api/v1/entities/kinds (customer, ...).",
            "customer",
            True,
        ),
        Column("name", "1 to 200 printable characters.", "Acme Ltd", True),
        Column(
            "reference",
            "Optional; unique among the live entities of its kind and within the file (a relation names it).",
            "C-1001",
        ),
        Column("email", "Optional e-mail address (stored encrypted).", "billing@acme.example"),
        Column(
            "phone",
            "Optional international phone number, such as +41 44 668 18 00 (stored encrypted).",
            "+41446681800",
        ),
        Column("status", "active (the default) or inactive.", "active"),
        Column(
            "tags",
            "Comma-separated tags (a list in JSON): lowercase letters, digits, '.', '_', '-'.",
            "vip,eu",
        ),
        Column(
            "attributes", "A JSON object (as text in CSV and XLSX), at most 16 KiB.", '{"segment": "b2b"}'
        ),
        Column(
            "relation_kind",
            "Optional: the kind of a relation from this entity (lowercase letters, digits, '_', '-'); "
            "with relation_target.",
            "",
        ),
        Column(
            "relation_target",
            "The relation's target as kind:reference: an entity of this file (any row) or a live entity "
            "of the organization.",
            "",
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One instance per kind, shared by the rows built (an instance per row costs as much as its row).
        self.kinds: dict[str, EntityKind] = {kind.key: kind for kind in EntityKind.objects.all()}
        # The file's references (kind, reference) -> row: duplicates, and relation targets in the file.
        self.file_keys: dict[Key, int] = {}

    def _viewer(self) -> EntityViewer:
        return EntityViewer(user_id=self.context.actor.id, is_admin=self.context.actor_is_admin)

    def _parse(self, row: SourceRow) -> tuple[_Parsed | None, list[RowIssue]]:
        values, issues = row.values, []

        def issue(column: str, code: str, message: str) -> None:
            issues.append(RowIssue(row.number, column, code, message))

        cleaned: dict[str, Any] = {}
        for column in ("kind", "name"):
            if values.get(column) is None:
                issue(column, IssueCode.REQUIRED, f"{column} is required.")
        readers = {
            "kind": lambda v: validators.kind_key_clean(_text(v, "kind") or ""),
            "name": lambda v: _text(v, "name") or "",
            "reference": lambda v: _text(v, "reference"),
            "email": lambda v: _text(v, "email"),
            "phone": lambda v: _text(v, "phone"),
            "status": lambda v: (_text(v, "status") or Entity.Status.ACTIVE).strip().lower(),
            "tags": _tags,
            "attributes": _attributes,
        }
        for column, read in readers.items():
            if column in ("kind", "name") and values.get(column) is None:
                continue
            try:
                cleaned[column] = read(values.get(column))
            except EntityInvalid as exc:
                issue(exc.field or column, IssueCode.INVALID, exc.detail)
        if "kind" in cleaned and cleaned["kind"] not in self.kinds:
            issue("kind", IssueCode.INVALID, UNKNOWN_KIND)
            cleaned.pop("kind")
        relation = self._relation(values, issue)
        fields = None
        if "kind" in cleaned and "name" in cleaned:
            fields = self._build(row.number, self.kinds[cleaned.pop("kind")], cleaned, issues)
        if (
            fields is not None
            and relation is not None
            and fields["reference"]
            and relation[1] == (fields["kind"].key, fields["reference"])
        ):
            issue("relation_target", IssueCode.INVALID, "An entity cannot be related to itself.")
            fields = None
        if issues:
            return None, issues
        assert fields is not None  # noqa: S101 - no issue: the row was cleaned
        return _Parsed(row.number, fields, relation), []

    def _build(
        self, number: int, kind: EntityKind, fields: dict[str, Any], issues: list[RowIssue]
    ) -> dict[str, Any] | None:
        """The entity's fields as ``entity_create`` would clean them; when a field breaks a rule, each
        field is tried alone so that the report names every broken one."""
        try:
            return entity_clean(kind=kind, **fields)
        except EntityInvalid:
            pass
        for column, value in fields.items():
            alone = {"name": "x", column: value}
            try:
                entity_clean(kind=kind, **alone)
            except EntityInvalid as exc:
                issues.append(RowIssue(number, exc.field or column, IssueCode.INVALID, exc.detail))
        return None

    @staticmethod
    def _relation(values: dict[str, Any], issue: Any) -> tuple[str, Key] | None:
        kind, target = values.get("relation_kind"), values.get("relation_target")
        if kind is None and target is None:
            return None
        if kind is None or target is None:
            column = "relation_kind" if kind is None else "relation_target"
            issue(column, IssueCode.REQUIRED, "relation_kind and relation_target go together.")
            return None
        try:
            return validators.kind_key_clean(_text(kind, "relation_kind") or ""), _target(target)
        except EntityInvalid as exc:
            issue(
                "relation_kind" if exc.field == "kind" else exc.field or "relation_target",
                IssueCode.INVALID,
                exc.detail,
            )
            return None

    @staticmethod
    def _taken(keys: set[Key]) -> set[Key]:
        """Of ``keys``, those a live entity of the organization holds (one query, by reference: an
        index scan; the kinds are matched here)."""
        if not keys:
            return set()
        found = Entity.objects.filter(
            reference__in={reference for _, reference in keys}, deleted_at__isnull=True
        )
        return {
            (kind, str(reference)) for kind, reference in found.values_list("kind_id", "reference")
        } & keys

    def _existing(self, keys: set[Key]) -> dict[Key, uuid.UUID]:
        """Of ``keys``, the live entities the importer may see (one query): relation targets."""
        if not keys:
            return {}
        visible = entities_visible_to(self._viewer()).filter(
            reference__in={reference for _, reference in keys}
        )
        found = visible.values_list("kind_id", "reference", "id")
        return {(kind, str(ref)): entity_id for kind, ref, entity_id in found if (kind, str(ref)) in keys}

    def _batch_check(self, batch: list[SourceRow], *, lookup: bool) -> Iterator[_Parsed | RowIssue]:
        parsed: list[_Parsed] = []
        for row in batch:
            item, issues = self._parse(row)
            yield from issues
            if item is not None:
                parsed.append(item)
                if self.keeper is not None:
                    self.keeper.keep(item.number, item.kept())
        yield from self._organization_check(parsed, lookup=lookup)

    def _organization_check(self, parsed: list[_Parsed], *, lookup: bool) -> Iterator[_Parsed | RowIssue]:
        """Cleaned rows against the file's earlier rows and what the organization holds: a reference
        twice in the file, or (``lookup``) taken by a live entity (one query; the commit leaves that to
        the write, ``_create``)."""
        taken = self._taken({item.key for item in parsed if item.key}) if lookup else set()
        for item in parsed:
            if item.key is None:
                yield item
                continue
            first = self.file_keys.setdefault(item.key, item.number)
            if first != item.number:
                yield RowIssue(
                    item.number,
                    "reference",
                    IssueCode.DUPLICATE_IN_FILE,
                    f"The same kind and reference as row {first}.",
                )
            elif item.key in taken:
                yield _taken_issue(item.number)
            else:
                yield item

    def _pass(self, rows: Iterable[SourceRow], *, lookup: bool = True) -> Iterator[list[_Parsed | RowIssue]]:
        """The rows checked a batch at a time, then the relations whose target is neither in the file
        nor in the organization reported (their targets may come later in the file)."""
        self.file_keys.clear()
        for batch in _batches(rows):
            yield list(self._batch_check(batch, lookup=lookup))

    def validate(self, rows: Iterable[SourceRow]) -> Iterator[RowIssue]:
        pending: list[_Parsed] = []
        for checked in self._pass(rows):
            for item in checked:
                if isinstance(item, RowIssue):
                    yield item
                elif item.relation is not None and item.relation[1] not in self.file_keys:
                    pending.append(item)
        yield from self._unknown_targets(pending)

    def _unknown_targets(self, pending: list[_Parsed]) -> Iterator[RowIssue]:
        unresolved = [item for item in pending if item.relation and item.relation[1] not in self.file_keys]
        for start in range(0, len(unresolved), BATCH_ROWS):
            chunk = unresolved[start : start + BATCH_ROWS]
            existing = self._existing({item.relation[1] for item in chunk if item.relation})
            for item in chunk:
                if item.relation and item.relation[1] not in existing:
                    yield RowIssue(
                        item.number,
                        "relation_target",
                        IssueCode.UNKNOWN_REFERENCE,
                        "No entity of the file or of the organization has this kind:reference.",
                    )

    def commit(self, rows: Iterable[SourceRow], *, skip: Container[int]) -> Iterator[int]:
        """Every batch checked again as it is written (``checks_on_commit``): a row with an issue now is
        skipped and reported in ``commit_issues``; then the relations, their targets in the file or the
        organization (one that is neither any more: reported)."""
        return self._write(self._pass((row for row in rows if row.number not in skip), lookup=False))

    def commit_kept(self, rows: Iterable[KeptRow], *, skip: Container[int]) -> Iterator[int]:
        """``commit`` from the dry run's cleaned rows: the kinds, references and relation targets are
        checked again (the organization may have changed), the values are not cleaned twice."""
        return self._write(self._kept_pass(row for row in rows if row[0] not in skip))

    def _kept_pass(self, rows: Iterable[KeptRow]) -> Iterator[list[_Parsed | RowIssue]]:
        self.file_keys.clear()
        for batch in _batches(rows):
            checked: list[_Parsed | RowIssue] = []
            parsed = []
            for number, kept in batch:
                kind = self.kinds.get(kept["fields"]["kind"])
                if kind is None:  # removed since the dry run
                    checked.append(RowIssue(number, "kind", IssueCode.INVALID, UNKNOWN_KIND))
                else:
                    parsed.append(_Parsed.from_kept(number, kind, kept))
            checked.extend(self._organization_check(parsed, lookup=False))
            yield checked

    def _write(self, batches: Iterable[list[_Parsed | RowIssue]]) -> Iterator[int]:
        created: dict[Key, uuid.UUID] = {}
        relations: list[tuple[int, uuid.UUID, str, Key]] = []
        handled = 0
        for checked in batches:
            batch = []
            for item in checked:
                if isinstance(item, RowIssue):
                    self.commit_issues.append(item)
                else:
                    batch.append(item)
            batch, entities = self._create(batch)
            for item, entity in zip(batch, entities, strict=True):
                if item.key:
                    created[item.key] = entity.id
                if item.relation:
                    relations.append((item.number, entity.id, item.relation[0], item.relation[1]))
            handled += len({item.row if isinstance(item, RowIssue) else item.number for item in checked})
            yield handled
        self._relations_create(relations, created)

    def _create(self, batch: list[_Parsed]) -> tuple[list[_Parsed], list[Entity]]:
        """Write the batch; its rows whose reference a live entity took since the dry run are reported
        and the rest written. The unique index finds them as the rows are written, so the common case
        (none) costs no lookup: a query by reference per batch, planned from statistics that never see
        the rows this transaction wrote, scanned the table each time once it had grown."""
        try:
            return batch, self._create_many(batch)
        except EntityConflict:
            taken = self._taken({item.key for item in batch if item.key})
        self.commit_issues.extend(_taken_issue(item.number) for item in batch if item.key in taken)
        batch = [item for item in batch if item.key not in taken]
        # Taken again meanwhile (a concurrent writer): EntityConflict, and the import fails as a whole.
        return batch, self._create_many(batch)

    def _create_many(self, batch: list[_Parsed]) -> list[Entity]:
        entities = [Entity(**item.fields) for item in batch]
        entity_create_many(actor=self.context.actor, entities=entities, source_import=self.context.import_id)
        return entities

    def _relations_create(
        self, relations: list[tuple[int, uuid.UUID, str, Key]], created: dict[Key, uuid.UUID]
    ) -> None:
        for start in range(0, len(relations), BATCH_ROWS):
            chunk = relations[start : start + BATCH_ROWS]
            existing = self._existing({target for _, _, _, target in chunk if target not in created})
            made = []
            for number, source, kind, target in chunk:
                target_id = created.get(target) or existing.get(target)
                if target_id is None:
                    self.commit_issues.append(
                        RowIssue(
                            number,
                            "relation_target",
                            IssueCode.UNKNOWN_REFERENCE,
                            "No entity of the file or of the organization has this kind:reference.",
                        )
                    )
                    continue
                made.append(EntityRelation(source_id=source, target_id=target_id, kind=kind))
            entity_relation_create_many(actor=self.context.actor, relations=made)

    def undo(self) -> int:
        referrers = entity_import_referrers(source_import=self.context.import_id)
        if referrers:
            raise ImportNotUndoable(
                f"Rows of this import are referred to by {', '.join(referrers)}: remove those first."
            )
        return entity_import_undo(actor=self.context.actor, source_import=self.context.import_id)
