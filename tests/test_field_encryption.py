"""Sensitive fields encrypted at rest: ciphertext in the table, blind-index lookups, masked audit
entries, key rotation, crypto-shredding on tenant deletion, and the runtime role's read-only keys."""

from __future__ import annotations

import importlib
import io
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.services import MASK
from apps.entities import services
from apps.entities.models import Entity
from tenants import crypto
from tenants.db import tenant_connection
from tenants.master_keys import master_key_generate, master_key_parse
from tenants.models import DataKey, Organization, User
from tenants.routers import MIGRATION_ALIAS
from tenants.services import tenant_delete, tenant_provision
from tests.helpers import assert_error, owner_cursor

ENTITIES = "/api/v1/entities/"
EMAIL = "Ada.Lovelace@Example.com"
PHONE = "+41 44 668 18 00"
PHONE_E164 = "+41446681800"


def _raw(tenant: Organization, entity_id: uuid.UUID, *columns: str) -> tuple[Any, ...]:
    """The stored (encrypted) columns of one entity, read with SQL past the model fields."""
    with tenant_context(tenant), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM entities_entity WHERE id = %s", [entity_id])
        row = cursor.fetchone()
    assert row is not None
    return tuple(row)


def _create(client: Client, **fields: Any) -> dict[str, Any]:
    response = client.post(
        ENTITIES, {"kind": "customer", "name": "Ada", **fields}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def fresh(committed_db: None) -> Organization:
    """A committed organization of its own (keys of its own to rotate or shred)."""
    return tenant_provision(
        organization_id=uuid.uuid4(), slug=f"crypt-{uuid.uuid4().hex[:6]}", name="Crypt", check_identity=False
    )


def _entity_in(tenant: Organization, **fields: Any) -> Entity:
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xC1), defaults={"email": "c@example.com"})
    with tenant_context(tenant):
        return services.entity_create(actor=actor, kind="customer", name="Ada", **fields)


# --- At rest -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_contact_fields_are_ciphertext_in_the_table_and_plain_in_the_api(
    member_client: Client, tenant_a: Organization
) -> None:
    body = _create(member_client, email=EMAIL, phone=PHONE)
    assert (body["email"], body["phone"]) == ("Ada.Lovelace@example.com", PHONE_E164)

    email, phone, email_index = _raw(tenant_a, body["id"], "email", "phone", "email_index")
    for stored, plain in ((email, "Lovelace"), (phone, "446681800")):
        assert stored.startswith("enc1:")
        assert plain not in stored
    assert len(email_index) == 64
    assert "lovelace" not in email_index
    assert member_client.get(f"{ENTITIES}{body['id']}").json()["email"] == "Ada.Lovelace@example.com"


@pytest.mark.django_db
def test_the_same_value_encrypts_differently_every_time(
    member_client: Client, tenant_a: Organization
) -> None:
    first, second = _create(member_client, email=EMAIL), _create(member_client, email=EMAIL)
    (one,), (two,) = _raw(tenant_a, first["id"], "email"), _raw(tenant_a, second["id"], "email")
    assert one != two
    assert _raw(tenant_a, first["id"], "email_index") == _raw(tenant_a, second["id"], "email_index")


@pytest.mark.django_db
def test_empty_values_stay_empty(member_client: Client, tenant_a: Organization) -> None:
    body = _create(member_client)
    assert _raw(tenant_a, body["id"], "email", "phone", "email_index") == ("", "", "")
    assert body["email"] is None


@pytest.mark.django_db
def test_find_by_email_or_phone_through_the_blind_index(member_client: Client) -> None:
    ada = _create(member_client, email=EMAIL, phone=PHONE)
    _create(member_client, email="someone.else@example.com", phone="+41446681801")

    for query in (
        f"email={EMAIL.upper()}",
        "email=ada.lovelace@example.com",
        "phone=%2B41%2044%20668%2018%2000",
    ):
        items = member_client.get(f"{ENTITIES}?{query}").json()["items"]
        assert [item["id"] for item in items] == [ada["id"]], query
    assert member_client.get(f"{ENTITIES}?email=nobody@example.com").json()["count"] == 0


@pytest.mark.django_db
def test_lookup_follows_a_changed_email(member_client: Client) -> None:
    ada = _create(member_client, email=EMAIL)
    response = member_client.patch(
        f"{ENTITIES}{ada['id']}", {"email": "ada@example.org"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert member_client.get(f"{ENTITIES}?email={EMAIL}").json()["count"] == 0
    assert member_client.get(f"{ENTITIES}?email=ada@example.org").json()["count"] == 1
    member_client.patch(f"{ENTITIES}{ada['id']}", {"email": None}, content_type="application/json")
    assert member_client.get(f"{ENTITIES}?email=ada@example.org").json()["count"] == 0


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["email=not-an-address", "phone=12", "email=", "phone=" + "9" * 41])
def test_malformed_lookups_are_refused(member_client: Client, query: str) -> None:
    assert_error(member_client.get(f"{ENTITIES}?{query}"), 422)


@pytest.mark.django_db
def test_a_lookup_does_not_find_another_organizations_row(
    member_client: Client, b_member_client: Client
) -> None:
    _create(b_member_client, email=EMAIL)
    assert member_client.get(f"{ENTITIES}?email={EMAIL}").json()["count"] == 0


@pytest.mark.django_db
def test_filters_on_the_ciphertext_are_refused(tenant_a: Organization) -> None:
    with tenant_context(tenant_a):
        with pytest.raises(FieldError):
            list(Entity.objects.filter(email="ada@example.com"))
        with pytest.raises(FieldError):
            list(Entity.objects.filter(phone__icontains="41"))
        assert list(Entity.objects.filter(email__isnull=True)) == []


@pytest.mark.django_db
def test_ciphertext_moved_to_another_column_or_organization_does_not_decrypt(
    tenant_a: Organization, tenant_b: Organization
) -> None:
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xC2))
    with tenant_context(tenant_a):
        mine = services.entity_create(actor=actor, kind="customer", name="A", email=EMAIL, phone=PHONE)
    with tenant_context(tenant_b):
        theirs = services.entity_create(actor=actor, kind="customer", name="B")
    (email,) = _raw(tenant_a, mine.id, "email")
    (phone,) = _raw(tenant_a, mine.id, "phone")
    context = "entities.entity.email"
    with pytest.raises(crypto.FieldKeyError, match="does not exist"):  # versions are never shared
        crypto.decrypt(email, organization_id=tenant_b.organization_id, context=context)
    # Even relabelled with a version of B's, A's ciphertext is bound to A (associated data).
    b_version = crypto.data_keys(tenant_b.organization_id).current
    relabelled = f"{crypto.PREFIX}:{b_version}:{email.split(':', 2)[2]}"
    with pytest.raises(crypto.FieldKeyError, match="fails authentication"):
        crypto.decrypt(relabelled, organization_id=tenant_b.organization_id, context=context)
    with pytest.raises(crypto.FieldKeyError, match="fails authentication"):
        crypto.decrypt(phone, organization_id=tenant_a.organization_id, context=context)
    with pytest.raises(crypto.FieldKeyError, match="not an encrypted value"):
        crypto.decrypt("plain@example.com", organization_id=tenant_a.organization_id, context=context)
    assert theirs.email == ""


# --- Audit masking -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_audit_entries_show_that_a_sensitive_field_changed_never_its_value(
    member_client: Client, tenant_a: Organization
) -> None:
    ada = _create(member_client, email=EMAIL, phone=PHONE)
    member_client.patch(
        f"{ENTITIES}{ada['id']}", {"email": "ada@example.org"}, content_type="application/json"
    )
    member_client.patch(f"{ENTITIES}{ada['id']}", {"phone": None}, content_type="application/json")
    with tenant_context(tenant_a):
        entries = list(AuditEntry.objects.filter(object_pk=ada["id"], action__in=[0, 1]).order_by("id"))
    assert [entry.changes["email"] for entry in entries[:2]] == [[None, MASK], [MASK, MASK]]
    assert entries[0].changes["phone"] == [None, MASK]
    assert entries[2].changes["phone"] == [MASK, ""]
    everything = repr([entry.changes for entry in entries])
    for secret in ("Lovelace", "lovelace", "example.org", "446681800", "email_index"):
        assert secret not in everything


# --- Keys ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_runtime_role_can_read_but_not_change_data_keys(tenant_a: Organization) -> None:
    assert DataKey.objects.filter(organization=tenant_a).exists()
    for statement in (
        "DELETE FROM tenants_datakey",
        "UPDATE tenants_datakey SET master_key_id = 'x'",
        "INSERT INTO tenants_datakey (organization_id, version, wrapped_key, master_key_id, created_at)"
        " SELECT organization_id, 99, wrapped_key, master_key_id, now() FROM tenants_datakey LIMIT 1",
    ):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            connection.cursor().execute(statement)


@pytest.mark.django_db
def test_wrapped_data_keys_are_bound_to_their_organization(tenant_a: Organization) -> None:
    row = DataKey.objects.filter(organization=tenant_a).first()
    assert row is not None
    with pytest.raises(crypto.FieldKeyError, match="tampered"):
        crypto._unwrap(bytes(row.wrapped_key), master_key_id=row.master_key_id, organization_id=uuid.uuid4())


def test_rotation_re_encrypts_under_a_new_data_key_and_master_key(fresh: Organization, settings: Any) -> None:
    entity = _entity_in(fresh, email=EMAIL, phone=PHONE)
    blank = _entity_in(fresh)
    (before,) = _raw(fresh, entity.id, "email")
    first = crypto.data_keys(fresh.organization_id).current
    old_master = settings.HUB_FIELD_KEYS[0]
    new_master = master_key_generate()
    settings.HUB_FIELD_KEYS = [new_master, old_master]

    out = io.StringIO()
    call_command("rotate_field_keys", "--tenant", fresh.slug, stdout=out)
    (after,) = _raw(fresh, entity.id, "email")
    second = crypto.ciphertext_version(after)
    assert (
        f"[1/1 100%] {fresh.slug}: 1 data keys re-wrapped, data key v{second} current, 1 rows re-encrypted"
        in out.getvalue()
    )
    assert crypto.ciphertext_version(before) == first
    assert second > first
    assert {row.master_key_id for row in DataKey.objects.filter(organization=fresh)} == {
        master_key_parse(new_master).id
    }

    settings.HUB_FIELD_KEYS = [new_master]  # the old master key retired
    crypto.data_keys_forget()
    with tenant_context(fresh):
        reread = Entity.objects.get(id=entity.id)
        assert (reread.email, reread.phone) == ("Ada.Lovelace@example.com", PHONE_E164)
        assert Entity.objects.get(id=blank.id).email == ""
    client_rows = _lookup_ids(fresh, EMAIL)
    assert client_rows == [entity.id]

    settings.HUB_FIELD_KEYS = [old_master]
    crypto.data_keys_forget()
    with pytest.raises(crypto.FieldKeyError, match="not in HUB_FIELD_KEYS"), tenant_context(fresh):
        Entity.objects.get(id=entity.id)
    settings.HUB_FIELD_KEYS = [new_master, old_master]
    crypto.data_keys_forget()


def _lookup_ids(tenant: Organization, email: str) -> list[uuid.UUID]:
    from apps.entities.selectors import entity_list

    with tenant_context(tenant):
        return [entity.id for entity in entity_list(viewer=None, email=email)]


def test_values_written_under_an_older_data_key_stay_readable_and_findable(
    fresh: Organization, settings: Any
) -> None:
    old = _entity_in(fresh, email="old@example.com")
    first = crypto.data_keys(fresh.organization_id).current
    call_command("rotate_field_keys", "--tenant", fresh.slug, "--rewrap-only", stdout=io.StringIO())
    with transaction.atomic(using=MIGRATION_ALIAS):
        second = crypto.data_key_create(fresh.organization_id, using=MIGRATION_ALIAS)
    crypto.data_keys_forget()
    new = _entity_in(fresh, email="new@example.com")
    assert crypto.ciphertext_version(_raw(fresh, old.id, "email")[0]) == first
    assert crypto.ciphertext_version(_raw(fresh, new.id, "email")[0]) == second > first
    assert _lookup_ids(fresh, "old@example.com") == [old.id]
    assert _lookup_ids(fresh, "new@example.com") == [new.id]


def test_a_process_with_stale_keys_reads_a_value_of_a_newer_version(fresh: Organization) -> None:
    entity = _entity_in(fresh, email=EMAIL)
    first = crypto.data_keys(fresh.organization_id).current  # cached: the first version only
    with transaction.atomic(using=MIGRATION_ALIAS):
        crypto.data_key_create(fresh.organization_id, using=MIGRATION_ALIAS)
    stale = crypto.data_keys(fresh.organization_id)
    crypto._cache[fresh.organization_id] = stale  # as another process would still hold it
    with tenant_context(fresh):
        newer = services.entity_update(
            actor=User.objects.get(id=uuid.UUID(int=0xC1)), entity=entity, changes={"email": "x@example.com"}
        )
    (stored,) = _raw(fresh, newer.id, "email")
    crypto._cache[fresh.organization_id] = crypto.OrganizationKeys(
        organization_id=fresh.organization_id, keys={first: stale.keys[first]}, loaded_at=stale.loaded_at
    )
    assert crypto.decrypt(stored, organization_id=fresh.organization_id, context="entities.entity.email") == (
        "x@example.com"
    )


def test_deleting_an_organization_shreds_its_keys(fresh: Organization) -> None:
    entity = _entity_in(fresh, email=EMAIL)
    (stored,) = _raw(fresh, entity.id, "email")
    assert DataKey.objects.filter(organization=fresh).count() == 1

    tenant_delete(tenant=fresh, confirm=str(fresh.organization_id))

    assert not DataKey.objects.filter(organization_id=fresh.organization_id).exists()
    # A copy of the value (a backup, a dump) can no longer be read: no key is left to unwrap.
    with pytest.raises(crypto.FieldKeyError, match="no data key"):
        crypto.decrypt(stored, organization_id=fresh.organization_id, context="entities.entity.email")


def test_plaintext_stored_before_encryption_is_encrypted_by_the_migration(fresh: Organization) -> None:
    entity = _entity_in(fresh)
    with owner_cursor(fresh) as cursor:
        cursor.execute(
            "UPDATE entities_entity SET email = %s, phone = %s WHERE id = %s",
            ["legacy@example.com", PHONE_E164, entity.id],
        )
    migration = importlib.import_module("apps.entities.migrations.0005_encrypted_contact_fields")
    owner = tenant_connection(MIGRATION_ALIAS)
    owner.set_tenant(fresh)
    try:
        with transaction.atomic(using=MIGRATION_ALIAS):
            migration.encrypt_existing(None, SimpleNamespace(connection=connections[MIGRATION_ALIAS]))
    finally:
        owner.set_schema_to_public()
    (email,) = _raw(fresh, entity.id, "email")
    assert email.startswith("enc1:")
    with tenant_context(fresh):
        assert Entity.objects.get(id=entity.id).phone == PHONE_E164
    assert _lookup_ids(fresh, "LEGACY@example.com") == [entity.id]


@pytest.mark.django_db
def test_a_value_needs_an_organization_schema(tenant_a: Organization) -> None:
    from tenants.fields import connection_organization_id

    with pytest.raises(crypto.FieldKeyError, match="organization's schema"):
        connection_organization_id(SimpleNamespace(schema_name="public"))  # type: ignore[arg-type]
    with pytest.raises(crypto.FieldKeyError):
        connection_organization_id(SimpleNamespace(schema_name="org_nothex"))  # type: ignore[arg-type]
    assert connection_organization_id(SimpleNamespace(schema_name=tenant_a.schema_name)) == (  # type: ignore[arg-type]
        tenant_a.organization_id
    )


def test_generate_field_key_prints_a_usable_master_key() -> None:
    out = io.StringIO()
    call_command("generate_field_key", stdout=out)
    key = master_key_parse(out.getvalue().strip())
    assert len(key.key) == 32
    assert len(key.id) == 16


@pytest.mark.parametrize("text", ["", "c2hvcnQ=", "not base64!", "A" * 45])
def test_malformed_master_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="32 random bytes"):
        master_key_parse(text)


def test_rotation_rewrites_every_row_whatever_the_batch_size(fresh: Organization) -> None:
    from tenants.key_rotation import field_keys_rotate

    entities = [_entity_in(fresh, email=f"n{index}@example.com") for index in range(5)]
    first = crypto.data_keys(fresh.organization_id).current
    report = field_keys_rotate(tenant=fresh, batch_size=2)
    assert report.rows == 5
    assert report.data_key_version > first
    for entity in entities:
        assert crypto.ciphertext_version(_raw(fresh, entity.id, "email")[0]) == report.data_key_version
    assert _lookup_ids(fresh, "n4@example.com") == [entities[4].id]


def test_a_missing_first_data_key_is_created_once(fresh: Organization) -> None:
    (shredded,) = DataKey.objects.filter(organization=fresh).values_list("version", flat=True)
    with transaction.atomic(using=MIGRATION_ALIAS):
        crypto.data_keys_shred(fresh.organization_id, using=MIGRATION_ALIAS)
        crypto.data_key_ensure(fresh.organization_id, using=MIGRATION_ALIAS)
        crypto.data_key_ensure(fresh.organization_id, using=MIGRATION_ALIAS)
    (created,) = DataKey.objects.filter(organization=fresh).values_list("version", flat=True)
    assert created > shredded  # never the shredded key's version again


@pytest.mark.django_db
def test_values_that_cannot_be_read_say_why(tenant_a: Organization, settings: Any) -> None:
    context, organization_id = "entities.entity.email", tenant_a.organization_id
    with pytest.raises(crypto.FieldKeyError, match="not an encrypted value"):
        crypto.decrypt("enc9:1:AAAA", organization_id=organization_id, context=context)
    with pytest.raises(crypto.FieldKeyError, match=r"version 2147483647 .* does not exist"):
        crypto.decrypt("enc1:2147483647:" + "A" * 40, organization_id=organization_id, context=context)
    assert crypto.blind_index_candidates("   ", organization_id=organization_id, context=context) == []
    settings.HUB_FIELD_KEYS = []
    with pytest.raises(crypto.FieldKeyError, match="HUB_FIELD_KEYS is empty"):
        crypto.master_keys()
