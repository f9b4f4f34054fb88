"""Restoring an organization archive into a new tenant (``tenant_archive_restore``).

The archive is read twice. The first pass checks everything and writes nothing: every frame
authenticates, the checksum matches, the format and every migration it names are known here (an archive
of a newer schema is refused), the shared rows it refers to resolve, and neither the organization id
nor the slug exists. Only then is the tenant provisioned (``tenants.services.tenant_provision``) and the
second pass restores it, in one transaction of the owner role: on any failure the new tenant is deleted.

What a restore has to change, and how:

* ``organization_id`` of every row (the row-level-security column) becomes the new organization's.
* **Encrypted fields** were archived decrypted; they are encrypted again under the new organization
  (its id is their associated data) and the new instance's master keys. The archived **data keys** are
  added, wrapped under this instance's master key, so the **blind indexes** (kept as they were) still
  find their rows; the data-key sequence is moved past their versions.
* **Content types, permissions and groups** are mapped by natural key to this instance's ids.
* **The audit chain** hashes each entry's organization id and content type: the archived chain is
  verified as it was (every entry's digest under the old organization, every link), then linked again
  under the new one, so ``verify_audit`` passes on the copy and a trail broken before the export is
  refused rather than laundered. Entries not sealed yet stay unsealed and are sealed after the commit.
* **Triggers** (analytics rollups, the ledger's and the audit trail's guards) are disabled while rows
  are copied in (the rollups are restored as rows: they would count twice), and row-level security is
  not forced for the owner meanwhile (``COPY FROM`` refuses a table it applies to); both are back before
  the commit, so no other transaction ever sees the tables without them. The ledger's deferred balance
  checks still run at commit.
* **Sequences** take the archived values.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import DatabaseError, connections, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import tenant_context

from apps.audit.services import audit_seal_pending
from tenants import crypto
from tenants.archive.container import ArchiveRefused, KeySource, archive_records
from tenants.archive.export import ORGANIZATION_COLUMN, TableShape, tenant_tables
from tenants.db import tenant_connection
from tenants.models import DataKey, Organization
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision, tenant_slug_validate

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RestoreSummary:
    tenant: Organization
    tables: int
    rows: int
    audit_entries_relinked: int


def _records(
    path: str | Path,
    key_source: KeySource,
    *,
    expected_sha256: str | None = None,
    verified: list[str] | None = None,
) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as stream:
        yield from archive_records(stream, key_source, expected_sha256=expected_sha256, verified=verified)


def _migrations_check(manifest: dict[str, Any], *, allow_older: bool) -> None:
    """Refuse an archive of a newer schema (a migration this Hub does not have); and one of an older
    schema (a migration it lacks) unless ``allow_older``: its rows are then restored into the current
    tables when they fit, but the data changes of the migrations it lacks are not replayed on them."""
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    archived = {(app, name) for app, names in manifest["migrations"].items() for name in names}
    newer = sorted(f"{app}.{name}" for app, name in archived - known)
    if newer:
        raise ArchiveRefused(
            f"the archive's schema is newer than this Hub's (unknown migrations: {', '.join(newer[:5])}): "
            "upgrade this Hub first",
            code="archive_version_newer",
        )
    apps_archived = set(manifest["migrations"])
    older = sorted(f"{app}.{name}" for app, name in known - archived if app in apps_archived)
    if older and not allow_older:
        raise ArchiveRefused(
            f"the archive's schema is older than this Hub's (it lacks {', '.join(older[:5])}): "
            "restore it on a Hub of its version, or pass --allow-older-schema",
            code="archive_version_older",
        )


def _natural_key_maps(manifest: dict[str, Any]) -> dict[str, dict[str, int]]:
    """For each shared model the archive refers to by natural key: archived id -> this instance's id."""
    maps: dict[str, dict[str, int]] = {}
    for label, keys in manifest.get("natural_keys", {}).items():
        model = apps.get_model(label)
        manager: Any = model._default_manager
        mapped = {}
        for archived_id, natural_key in keys.items():
            try:
                mapped[archived_id] = manager.get_by_natural_key(*natural_key).pk
            except model.DoesNotExist:
                raise ArchiveRefused(
                    f"the archive refers to {label} {natural_key}, unknown here", code="archive_version_newer"
                ) from None
        maps[label] = mapped
    return maps


def tenant_archive_verify(
    *, path: str | Path, key_source: KeySource, allow_older: bool = False
) -> dict[str, Any]:
    """Read the whole archive and check it (nothing is written); its manifest (with the content's
    checksum under ``sha256``), or ``ArchiveRefused``."""
    manifest: dict[str, Any] | None = None
    widths: dict[str, int] = {}
    verified: list[str] = []
    for record in _records(path, key_source, verified=verified):
        if manifest is None:
            if record.get("t") != "manifest":
                raise ArchiveRefused("the archive has no manifest", code="archive_invalid")
            manifest = record
            _migrations_check(manifest, allow_older=allow_older)
            widths = {table["name"]: len(table["columns"]) for table in manifest["tables"]}
        elif record.get("t") == "rows":
            width = widths.get(record.get("table", ""))
            if width is None or any(len(row) != width for row in record["rows"]):
                raise ArchiveRefused("the archive's rows do not match its tables", code="archive_invalid")
    if manifest is None:
        raise ArchiveRefused("the archive is empty", code="archive_invalid")
    return {**manifest, "sha256": verified[0]}


def _conflicts_refuse(*, organization_id: uuid.UUID, slug: str) -> None:
    tenant_slug_validate(slug)
    if Organization.objects.filter(organization_id=organization_id).exists():
        raise ArchiveRefused("an organization with this id exists already", code="archive_conflict")
    if Organization.objects.filter(slug=slug).exists():
        raise ArchiveRefused(f"the slug {slug!r} is taken", code="archive_conflict")


def _data_key_versions_reserve(manifest: dict[str, Any]) -> None:
    """Move the data-key sequence past the archived versions, so a new key never reuses one."""
    highest = max((int(version) for version in manifest["data_keys"]), default=0)
    with connections[MIGRATION_ALIAS].cursor() as cursor:
        cursor.execute(
            f"SELECT setval(%s::regclass, greatest((SELECT last_value FROM {crypto.VERSION_SEQUENCE}), %s))",  # noqa: S608
            [crypto.VERSION_SEQUENCE, highest],
        )


def tenant_archive_restore(
    *,
    path: str | Path,
    key_source: KeySource,
    organization_id: uuid.UUID,
    slug: str,
    name: str | None = None,
    check_identity: bool = True,
    actor: uuid.UUID | None = None,
    allow_older: bool = False,
    progress: Progress | None = None,
) -> RestoreSummary:
    """Verify the archive, then provision ``organization_id``/``slug`` and restore the archive into it."""
    say = progress or (lambda _line: None)
    manifest = tenant_archive_verify(path=path, key_source=key_source, allow_older=allow_older)
    say(f"archive verified: {len(manifest['tables'])} tables")
    _conflicts_refuse(organization_id=organization_id, slug=slug)
    maps = _natural_key_maps(manifest)
    _data_key_versions_reserve(manifest)
    tenant = tenant_provision(
        organization_id=organization_id,
        slug=slug,
        name=name or manifest["organization"]["name"],
        check_identity=check_identity,
        actor=actor,
    )
    try:
        summary = _restore(
            tenant=tenant, manifest=manifest, maps=maps, path=path, key_source=key_source, say=say
        )
    except BaseException as exc:
        tenant_delete(tenant=tenant, confirm=str(tenant.organization_id), actor=actor)
        if isinstance(exc, DatabaseError):  # a row the schema refuses, a broken chain: said, and undone
            raise ArchiveRefused(
                f"the restore failed and was undone: {str(exc).splitlines()[0]}",
                code="archive_restore_failed",
            ) from exc
        raise
    with tenant_context(tenant):
        audit_seal_pending()
    return summary


class _Restorer:
    """The second pass, on the owner's connection set to the new tenant, inside one transaction."""

    def __init__(
        self, *, tenant: Organization, manifest: dict[str, Any], maps: dict[str, dict[str, int]]
    ) -> None:
        self.tenant, self.manifest = tenant, manifest
        self.connection = connections[MIGRATION_ALIAS]
        self.source = uuid.UUID(manifest["organization"]["organization_id"])
        self.shapes = {table["name"]: TableShape(**table) for table in manifest["tables"]}
        self.here = {shape.name: shape for shape in tenant_tables(tenant.schema_name, using=MIGRATION_ALIAS)}
        self.column_maps = self._column_maps(maps)
        self.content_types = {
            str(new): int(old) for old, new in maps.get("contenttypes.contenttype", {}).items()
        }

    def _column_maps(self, maps: dict[str, dict[str, int]]) -> dict[str, dict[int, dict[str, int]]]:
        from tenants.archive.export import _shared_references

        found: dict[str, dict[int, dict[str, int]]] = {}
        for table, column, target in _shared_references():
            shape = self.shapes.get(table)
            if shape is None or column not in shape.columns or target._meta.label_lower not in maps:
                continue
            found.setdefault(table, {})[shape.columns.index(column)] = maps[target._meta.label_lower]
        return found

    def execute(self, sql: str, params: list[Any] | None = None) -> Any:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    def tables_check(self) -> None:
        for name, shape in self.shapes.items():
            here = self.here.get(name)
            if here is None or set(shape.columns) - set(here.columns):
                raise ArchiveRefused(
                    f"the table {name} of the archive does not fit this Hub's schema",
                    code="archive_version_newer",
                )

    def users_add(self) -> None:
        for user in self.manifest.get("users", []):
            self.execute(
                "INSERT INTO public.tenants_user (id, email, is_active, first_seen_at, last_seen_at, "
                "password, is_superuser, last_login) VALUES (%s, %s, %s, %s, %s, '!', false, NULL) "
                "ON CONFLICT (id) DO NOTHING",
                [user["id"], user["email"], user["is_active"], user["first_seen_at"], user["last_seen_at"]],
            )

    def data_keys_add(self) -> None:
        for version, key in self.manifest["data_keys"].items():
            wrapped, master_key_id = crypto._wrap(
                base64.b64decode(key), organization_id=self.tenant.organization_id
            )
            DataKey.objects.using(MIGRATION_ALIAS).create(
                organization=self.tenant,
                version=int(version),
                wrapped_key=wrapped,
                master_key_id=master_key_id,
            )
        crypto.data_keys_forget(self.tenant.organization_id)

    def guards(self, *, on: bool) -> None:
        """Triggers and forced row-level security off for the copy, and on again."""
        if on:  # the deferred foreign-key checks now: a table with pending checks cannot be altered
            self.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name in self.here:
            if on:
                self.execute(f'ALTER TABLE "{name}" ENABLE TRIGGER USER, FORCE ROW LEVEL SECURITY')
            else:
                self.execute(f'ALTER TABLE "{name}" DISABLE TRIGGER USER, NO FORCE ROW LEVEL SECURITY')
                self.execute(f'DELETE FROM "{name}"')  # noqa: S608 - provisioning's rows

    def rows_copy(self, table: str, rows: list[list[Any]]) -> int:
        shape = self.shapes[table]
        organization_at = (
            shape.columns.index(ORGANIZATION_COLUMN) if ORGANIZATION_COLUMN in shape.columns else None
        )
        encrypt_at = [(shape.columns.index(column), context) for column, context in shape.encrypted.items()]
        mapped = self.column_maps.get(table, {})
        new_id = str(self.tenant.organization_id)
        # One COPY per batch: its values encrypted under keys checked once (``crypto.data_keys_pinned``).
        with crypto.data_keys_pinned(self.tenant.organization_id, using=MIGRATION_ALIAS):
            for row in rows:
                if organization_at is not None:
                    row[organization_at] = new_id
                for position, ids in mapped.items():
                    if row[position] is not None:
                        row[position] = str(ids.get(str(row[position]), row[position]))
                for position, context in encrypt_at:
                    if row[position]:
                        row[position] = crypto.encrypt(
                            row[position],
                            organization_id=self.tenant.organization_id,
                            context=context,
                            using=MIGRATION_ALIAS,
                        )
        columns = ", ".join(f'"{column}"' for column in shape.columns)
        raw = self.connection.cursor().cursor
        with raw.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)

    def audit_relink(self) -> int:
        if "audit_auditentry" not in self.here:
            return 0
        # Made and dropped inside the restore's transaction: a failure rolls the function back too.
        self.execute(RELINK_FUNCTION)
        result = self.execute(
            "SELECT pg_temp.hub_archive_relink(%s, %s::jsonb)",
            [str(self.source), json.dumps(self.content_types)],
        )
        self.execute("DROP FUNCTION pg_temp.hub_archive_relink(uuid, jsonb)")
        return int(result[0][0])

    def sequences_set(self) -> None:
        existing = {
            row[0]
            for row in self.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = %s::regnamespace AND relkind = 'S'",
                [self.tenant.schema_name],
            )
        }
        for name, (value, is_called) in self.manifest["sequences"].items():
            if name in existing:
                self.execute("SELECT setval(%s::regclass, %s, %s)", [f'"{name}"', value, is_called])


def _restore(
    *,
    tenant: Organization,
    manifest: dict[str, Any],
    maps: dict[str, dict[str, int]],
    path: str | Path,
    key_source: KeySource,
    say: Progress,
) -> RestoreSummary:
    owner = tenant_connection(MIGRATION_ALIAS)
    owner.set_tenant(tenant)
    rows = 0
    try:
        with transaction.atomic(using=MIGRATION_ALIAS):
            restorer = _Restorer(tenant=tenant, manifest=manifest, maps=maps)
            restorer.tables_check()
            restorer.users_add()
            restorer.data_keys_add()
            restorer.guards(on=False)
            counts: dict[str, int] = {}
            for record in _records(path, key_source, expected_sha256=manifest["sha256"]):
                if record.get("t") != "rows":
                    continue
                copied = restorer.rows_copy(record["table"], record["rows"])
                counts[record["table"]] = counts.get(record["table"], 0) + copied
                rows += copied
                say(f"{record['table']}: {counts[record['table']]} rows")
            relinked = restorer.audit_relink()
            say(f"audit chain: {relinked} entries verified and linked again")
            restorer.sequences_set()
            restorer.guards(on=True)
    finally:
        owner.set_schema_to_public()
    return RestoreSummary(
        tenant=tenant, tables=len(manifest["tables"]), rows=rows, audit_entries_relinked=relinked
    )


# Verifies the archived chain as it was made (the old organization id, the archived content type ids),
# then links it again under the new organization: the database's own digest, as the seal uses it.
RELINK_FUNCTION = r"""
CREATE OR REPLACE FUNCTION pg_temp.hub_archive_relink(source uuid, type_ids jsonb) RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    e audit_auditentry;
    original audit_auditentry;
    last_source text := '';
    last_new text := '';
    expected bigint := 0;
BEGIN
    FOR e IN SELECT * FROM audit_auditentry WHERE sequence IS NOT NULL ORDER BY sequence LOOP
        expected := expected + 1;
        original := jsonb_populate_record(e, jsonb_build_object(
            'organization_id', source,
            'content_type_id', COALESCE((type_ids ->> e.content_type_id::text)::integer, e.content_type_id)
        ));
        IF e.sequence <> expected OR e.previous_hash <> last_source
            OR e.entry_hash <> audit_entry_digest(original) THEN
            RAISE EXCEPTION 'the archived audit chain is broken at sequence %', e.sequence
                USING ERRCODE = 'data_exception';
        END IF;
        last_source := e.entry_hash;
        e.previous_hash := last_new;
        e.entry_hash := audit_entry_digest(e);
        UPDATE audit_auditentry SET previous_hash = e.previous_hash, entry_hash = e.entry_hash
        WHERE id = e.id;
        last_new := e.entry_hash;
    END LOOP;
    RETURN expected;
END
$fn$;
"""
