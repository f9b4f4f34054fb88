"""The organization archive (``export_tenant`` / ``import_tenant``): one organization filled in every
module, archived, restored as a new organization (new id and slug), archived again: the same content
table by table (ids and timestamps kept; the organization id and the audit chain's links, which hash it,
aside), ``verify_audit`` and ``verify_ledger`` pass on the copy, an encrypted field decrypts and is found
by its blind index. And the refusals: a tampered byte, the wrong key, a newer schema, an id or slug that
exists; each leaves nothing behind."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections, transaction
from django_tenants.utils import tenant_context

from apps.analytics.selectors import analytics_setting_get
from apps.audit.models import AuditEntry
from apps.entities import services
from apps.entities.models import Entity
from apps.ledger import services as ledger_services
from apps.members.models import MemberRole
from apps.members.services import member_role_set, member_seen
from apps.notifications import services as notifications
from apps.notifications.models import Notification
from apps.privacy.services import retention_policy_set
from apps.scheduling import services as scheduling
from tenants.archive import container
from tenants.archive.container import ArchiveRefused, ArchiveWriter, archive_records, symmetric_key_source
from tenants.fields import blind_index_filter
from tenants.master_keys import master_key_generate, master_key_parse
from tenants.models import DataKey, Organization, PlatformAuditEntry, User
from tenants.services import tenant_delete, tenant_provision

ACTOR = uuid.UUID(int=0xA2C1)
GRANTEE = uuid.UUID(int=0xA2C2)
EMAIL = "Archive.Person@Example.com"


def _fill(tenant: Organization, actor: User, grantee: User) -> None:
    """Something in every module, each write through its service (so audited, rolled up...)."""
    with tenant_context(tenant), transaction.atomic():
        services.entity_kind_create(key="vendor", label="Vendor")
        entity = services.entity_create(
            actor=actor, kind="customer", name="Archive Ltd", email=EMAIL, phone="+49 30 1234567", tags=["a"]
        )
        other = services.entity_create(actor=actor, kind="vendor", name="Other Ltd")
        services.entity_relation_create(actor=actor, source=entity, target_id=other.id, kind="owns")
        member_seen(tenant=tenant, user_id=grantee.id)
        member_role_set(actor=actor, user_id=grantee.id, role=MemberRole.VIEWER)
        services.entity_permission_grant(actor=actor, entity=entity, user_id=grantee.id, permission="view")
        retention_policy_set(actor=actor, model="entities.entity", days=30)
        cash = ledger_services.account_create(
            actor=actor, code="1000", name="Cash", type="asset", currency="EUR"
        )
        sales = ledger_services.account_create(
            actor=actor, code="4000", name="Sales", type="income", currency="EUR"
        )
        legs = [{"account_id": cash.id, "amount": "12.50"}, {"account_id": sales.id, "amount": "-12.50"}]
        ledger_services.transaction_create(actor=actor, description="Sale", currency="EUR", postings=legs)
        ledger_services.transaction_create(
            actor=actor, description="Later", currency="EUR", postings=legs, state="pending"
        )
        resource = scheduling.resource_create(kind="room", name="Room 1", timezone="UTC")
        scheduling.booking_create(
            actor=actor,
            resource_id=resource.id,
            start=datetime(2026, 1, 6, 10, tzinfo=UTC),
            end=datetime(2026, 1, 6, 11, tzinfo=UTC),
        )
        notifications.rule_create(
            actor=actor,
            name="New customers",
            event_type="entity.created",
            recipients={"roles": ["admin"]},
            channels=["in_app"],
        )
        Notification.objects.create(user=actor, event_type="entity.created", title="Secret title", body="b")
        analytics_setting_get()
    with tenant_context(tenant):
        from apps.audit.services import audit_seal_pending

        audit_seal_pending()


@pytest.fixture(scope="module")
def source(django_db_setup: None, django_db_blocker: Any) -> Iterator[Organization]:
    """One organization filled in every module, committed for the module."""
    with django_db_blocker.unblock():
        connections.close_all()
        actor, _ = User.objects.get_or_create(id=ACTOR, defaults={"email": "actor@archive.example.com"})
        grantee, _ = User.objects.get_or_create(id=GRANTEE, defaults={"email": "grantee@archive.example.com"})
        tenant = tenant_provision(
            organization_id=uuid.uuid4(),
            slug=f"arc-{uuid.uuid4().hex[:6]}",
            name="Archive",
            check_identity=False,
        )
        _fill(tenant, actor, grantee)
    yield tenant
    with django_db_blocker.unblock():
        for made in Organization.objects.filter(slug__startswith="arc-"):
            tenant_delete(tenant=made, confirm=str(made.organization_id))


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "archive.key"
    path.write_text(container.key_generate())
    return path


@pytest.fixture(scope="module")
def archive(
    source: Organization, key_file: Path, tmp_path_factory: pytest.TempPathFactory, django_db_blocker: Any
) -> Path:
    out = tmp_path_factory.mktemp("archives") / "source.hubarchive"
    with django_db_blocker.unblock():
        call_command("export_tenant", tenant=source.slug, out=str(out), key_file=str(key_file))
    return out


@pytest.fixture
def committed(source: Organization, django_db_blocker: Any) -> Iterator[None]:
    """Database access without the per-test rollback (imports commit on the owner's connection); the
    organizations a test made are deleted after it, the module's source kept."""
    with django_db_blocker.unblock():
        yield
        for made in Organization.objects.filter(slug__startswith="arc-").exclude(pk=source.pk):
            tenant_delete(tenant=made, confirm=str(made.organization_id))


def _content(path: Path, key_file: Path) -> tuple[dict[str, Any], dict[str, list[list[Any]]]]:
    key = base64.b64decode(key_file.read_text())
    manifest: dict[str, Any] = {}
    tables: dict[str, list[list[Any]]] = {}
    with path.open("rb") as stream:
        for record in archive_records(stream, symmetric_key_source(key)):
            if record["t"] == "manifest":
                manifest = record
            else:
                tables.setdefault(record["table"], []).extend(record["rows"])
    return manifest, tables


def _normalised(manifest: dict[str, Any], tables: dict[str, list[list[Any]]]) -> dict[str, list[str]]:
    """Each table's rows, sorted; the organization id blanked, and the audit chain's links (they hash it)."""
    organization_id = manifest["organization"]["organization_id"]
    shapes = {table["name"]: table["columns"] for table in manifest["tables"]}
    out = {}
    for name, columns in shapes.items():
        skip = {
            columns.index(c)
            for c in ("previous_hash", "entry_hash")
            if name == "audit_auditentry" and c in columns
        }
        rows = []
        for row in tables.get(name, []):
            cells = ["" if i in skip else row[i] for i in range(len(row))]
            rows.append(json.dumps(cells).replace(organization_id, "ORG"))
        out[name] = sorted(rows)
    return out


@pytest.mark.usefixtures("committed")
def test_round_trip_keeps_everything_and_the_copy_verifies(
    source: Organization, archive: Path, key_file: Path, tmp_path: Path, settings: Any
) -> None:
    # "Another instance": a master key the source's data keys were never wrapped under comes first.
    new_master = master_key_generate()
    settings.HUB_FIELD_KEYS = [new_master, *settings.HUB_FIELD_KEYS]
    new_id, new_slug = uuid.uuid4(), f"arc-copy-{uuid.uuid4().hex[:6]}"
    call_command(
        "import_tenant", file=str(archive), organization_id=str(new_id), slug=new_slug,
        key_file=str(key_file), skip_identity_check=True,
    )  # fmt: skip
    copy = Organization.objects.get(organization_id=new_id)
    assert set(DataKey.objects.filter(organization=copy).values_list("master_key_id", flat=True)) == {
        master_key_parse(new_master).id
    }
    again = tmp_path / "copy.hubarchive"
    call_command("export_tenant", tenant=new_slug, out=str(again), key_file=str(key_file))

    first_manifest, first = _content(archive, key_file)
    second_manifest, second = _content(again, key_file)
    assert first_manifest["migrations"] == second_manifest["migrations"]
    assert set(first_manifest["data_keys"].items()) <= set(second_manifest["data_keys"].items())
    assert second_manifest["organization"]["organization_id"] == str(new_id)
    assert {name for name, rows in first.items() if rows} >= {
        "entities_entity", "entities_entityrelation", "entities_entitykind", "ledger_account",
        "ledger_transaction", "ledger_posting", "scheduling_resource", "scheduling_booking",
        "notifications_alertrule", "notifications_notification", "members_member",
        "privacy_retentionpolicy", "audit_auditentry", "guardian_userobjectpermission",
        "analytics_entitycount", "analytics_ledgerdaily",
    }  # fmt: skip
    assert _normalised(first_manifest, first) == _normalised(second_manifest, second)

    call_command("verify_audit", tenant=new_slug)
    call_command("verify_ledger", tenant=new_slug)
    with tenant_context(copy):
        found = Entity.objects.get(blind_index_filter(Entity, "email", EMAIL.lower()))
        assert found.email.casefold() == EMAIL.casefold()
        assert found.phone == "+49301234567"
        assert [n.title for n in Notification.objects.all()] == ["Secret title"]
    # The copy goes on: its sequences are past the restored ids, its chain takes new entries.
    actor = User.objects.get(id=ACTOR)
    with tenant_context(copy), transaction.atomic():
        services.entity_create(
            actor=actor, kind="customer", name="After the restore", email="new@example.com"
        )
    with tenant_context(copy):
        assert not AuditEntry.objects.filter(sequence__isnull=True).exists()  # sealed after the commit
        assert AuditEntry.objects.count() > len(first["audit_auditentry"])
        assert Entity.objects.filter(blind_index_filter(Entity, "email", "new@example.com")).count() == 1
    call_command("verify_audit", tenant=new_slug)


def _nothing_made(slug: str, organization_id: uuid.UUID) -> None:
    assert not Organization.objects.filter(slug=slug).exists()
    assert not Organization.objects.filter(organization_id=organization_id).exists()
    assert not DataKey.objects.filter(organization_id=organization_id).exists()
    assert not PlatformAuditEntry.objects.filter(organization_id=organization_id).exists()


def _import(path: Path, key_file: Path, *, organization_id: uuid.UUID, slug: str) -> None:
    call_command(
        "import_tenant", file=str(path), organization_id=str(organization_id), slug=slug,
        key_file=str(key_file), skip_identity_check=True,
    )  # fmt: skip


@pytest.mark.usefixtures("committed")
@pytest.mark.parametrize("where", ["header", "middle", "last"])
def test_a_tampered_byte_is_refused_and_nothing_is_made(
    archive: Path, key_file: Path, tmp_path: Path, where: str
) -> None:
    data = bytearray(archive.read_bytes())
    position = {"header": 20, "middle": len(data) // 2, "last": len(data) - 1}[where]
    data[position] ^= 0x01
    tampered = tmp_path / "tampered"
    tampered.write_bytes(bytes(data))
    new_id, slug = uuid.uuid4(), f"arc-t-{uuid.uuid4().hex[:6]}"
    with pytest.raises(CommandError, match="Refused"):
        _import(tampered, key_file, organization_id=new_id, slug=slug)
    _nothing_made(slug, new_id)


@pytest.mark.usefixtures("committed")
def test_a_truncated_archive_and_the_wrong_key_are_refused(
    archive: Path, key_file: Path, tmp_path: Path
) -> None:
    new_id, slug = uuid.uuid4(), f"arc-w-{uuid.uuid4().hex[:6]}"
    cut = tmp_path / "cut"
    cut.write_bytes(archive.read_bytes()[:-40])
    with pytest.raises(CommandError, match="archive_tampered"):
        _import(cut, key_file, organization_id=new_id, slug=slug)
    wrong = tmp_path / "wrong.key"
    wrong.write_text(container.key_generate())
    with pytest.raises(CommandError, match="archive_key_wrong"):
        _import(archive, wrong, organization_id=new_id, slug=slug)
    _nothing_made(slug, new_id)


@pytest.mark.usefixtures("committed")
def test_an_existing_organization_or_slug_is_refused(
    source: Organization, archive: Path, key_file: Path
) -> None:
    before = PlatformAuditEntry.objects.count()
    with pytest.raises(CommandError, match="archive_conflict"):
        _import(
            archive, key_file, organization_id=source.organization_id, slug=f"arc-n-{uuid.uuid4().hex[:6]}"
        )
    with pytest.raises(CommandError, match="archive_conflict"):
        _import(archive, key_file, organization_id=uuid.uuid4(), slug=source.slug)
    assert PlatformAuditEntry.objects.count() == before


def _rewritten(archive: Path, key_file: Path, tmp_path: Path, change: Any, *, fmt: int | None = None) -> Path:
    """The archive's records, changed by ``change``, in a new archive under the same key."""
    key = base64.b64decode(key_file.read_text())
    out = tmp_path / "rewritten"
    with archive.open("rb") as source_stream, out.open("wb") as stream:
        writer = ArchiveWriter(stream, key=key)
        for record in archive_records(source_stream, symmetric_key_source(key)):
            writer.record(change(record))
        writer.close()
    if fmt is not None:  # a newer format in the header: the archive's own bytes, not re-encrypted
        data = out.read_bytes()
        out.write_bytes(data.replace(b'"format": 1', f'"format": {fmt}'.encode(), 1))
    return out


@pytest.mark.usefixtures("committed")
def test_a_newer_schema_or_format_is_refused(archive: Path, key_file: Path, tmp_path: Path) -> None:
    def newer(record: dict[str, Any]) -> dict[str, Any]:
        if record["t"] == "manifest":
            record["migrations"]["entities"].append("9999_from_the_future")
        return record

    new_id, slug = uuid.uuid4(), f"arc-v-{uuid.uuid4().hex[:6]}"
    with pytest.raises(CommandError, match="archive_version_newer"):
        _import(_rewritten(archive, key_file, tmp_path, newer), key_file, organization_id=new_id, slug=slug)
    with pytest.raises(CommandError, match="archive_version_newer"):
        _import(
            _rewritten(archive, key_file, tmp_path, lambda r: r, fmt=2),
            key_file,
            organization_id=new_id,
            slug=slug,
        )
    _nothing_made(slug, new_id)


@pytest.mark.usefixtures("committed")
def test_an_older_schema_is_refused_unless_allowed(archive: Path, key_file: Path, tmp_path: Path) -> None:
    def older(record: dict[str, Any]) -> dict[str, Any]:
        if record["t"] == "manifest":
            record["migrations"]["privacy"] = record["migrations"]["privacy"][:-1]
        return record

    rewritten = _rewritten(archive, key_file, tmp_path, older)
    new_id, slug = uuid.uuid4(), f"arc-o-{uuid.uuid4().hex[:6]}"
    with pytest.raises(CommandError, match="archive_version_older"):
        _import(rewritten, key_file, organization_id=new_id, slug=slug)
    _nothing_made(slug, new_id)
    call_command(
        "import_tenant", file=str(rewritten), organization_id=str(new_id), slug=slug,
        key_file=str(key_file), skip_identity_check=True, allow_older_schema=True,
    )  # fmt: skip
    assert Organization.objects.filter(organization_id=new_id, slug=slug).exists()


def test_an_rsa_wrapped_archive_opens_only_with_its_private_key(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "rsa"
    with path.open("wb") as stream:
        writer = ArchiveWriter(stream, public_key=public_pem)
        writer.record({"t": "manifest", "n": 1})
        writer.close()
    with path.open("rb") as stream:
        assert list(archive_records(stream, container.rsa_key_source(pem))) == [{"t": "manifest", "n": 1}]
    other = rsa.generate_private_key(public_exponent=65537, key_size=3072).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with path.open("rb") as stream, pytest.raises(ArchiveRefused, match="another key"):
        list(archive_records(stream, container.rsa_key_source(other)))
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(ArchiveRefused, match="3072"):
        container.rsa_public_key_load(
            small.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )


@pytest.mark.usefixtures("committed")
def test_an_audit_chain_broken_before_the_export_is_refused_and_undone(
    archive: Path, key_file: Path, tmp_path: Path
) -> None:
    """Re-encrypted under the same key (so the archive itself is sound), one entry's recorded hash
    altered: the restore verifies the chain as archived, refuses, and deletes what it provisioned."""
    columns: list[str] = []

    def forge(record: dict[str, Any]) -> dict[str, Any]:
        if record["t"] == "manifest":
            columns.extend(next(t["columns"] for t in record["tables"] if t["name"] == "audit_auditentry"))
        elif record["table"] == "audit_auditentry":
            record["rows"][0][columns.index("changes")] = '{"forged": true}'
        return record

    new_id, slug = uuid.uuid4(), f"arc-f-{uuid.uuid4().hex[:6]}"
    with pytest.raises(CommandError, match=r"archive_restore_failed.*audit chain is broken"):
        _import(_rewritten(archive, key_file, tmp_path, forge), key_file, organization_id=new_id, slug=slug)
    assert not Organization.objects.filter(organization_id=new_id).exists()
    assert not DataKey.objects.filter(organization_id=new_id).exists()
