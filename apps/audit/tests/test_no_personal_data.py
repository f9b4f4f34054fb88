"""Nothing personal ever enters the append-only audit trail (issue 10, item 2).

The trail cannot be altered, so erasure (``apps.privacy``) can never take a value out of it. A data
subject's rows are written in every module, through the API, then erased; the organization's whole
trail (every column of every entry) must hold none of the subject's former values, nor the email of
the user given a grant on it. Then the rule itself (``apps.audit.redaction``): every model of every
module, and every kind of writer, with free text in each of its fields.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from auditlog.registry import auditlog
from django.conf import settings
from django.db import connection, models
from django.test import Client
from django_tenants.utils import tenant_context

from apps.audit.models import AuditEntry
from apps.audit.receivers import audited_models
from apps.audit.redaction import MASK, field_is_clear, value_redact
from apps.audit.services import audit_change, audit_record
from apps.entities.tests.helpers import JSON
from apps.privacy.services import retention_apply
from tenants.models import Organization

pytestmark = pytest.mark.django_db

NAME = "Ada Lovelace-Byron"
EMAIL = "ada.lovelace@example.org"
PHONE = "+41 79 555 01 99"
REFERENCE = "SUBJ-ADA-1815"
NICKNAME = "Enchantress of Numbers"
TAG = "analytical-engine"
GRANTEE = uuid.UUID(int=0x6A11)
GRANTEE_EMAIL = "grantee.person@example.net"
# What the trail must not contain, compared in lower case: every value above, and the text the
# subject's rows in other modules carry about it.
FORMER_VALUES = [
    "lovelace",
    EMAIL,
    "ada.lovelace",
    "5550199",
    "555 01 99",
    REFERENCE.lower(),
    "enchantress",
    "nickname",
    TAG,
    GRANTEE_EMAIL,
    "grantee.person",
    "ada king",
    "babbage",
    "ada-1815",
]

ENTITIES = "/api/v1/entities/"
LEDGER = "/api/v1/transactions/"
SCHEDULING = "/api/v1/scheduling/"


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.content
    return response.json() if response.content else {}


def _post(
    client: Client, url: str, body: dict[str, Any], status: int = 201, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    return _ok(client.post(url, body, content_type=JSON, headers=headers or {}), status)


def _patch(client: Client, url: str, body: dict[str, Any]) -> dict[str, Any]:
    return _ok(client.patch(url, body, content_type=JSON))


def _entities_module(admin: Client, grantee: Client) -> str:
    """The subject, an update, a relation, a kind, grants and their revoke; returns the subject's id."""
    _ok(grantee.get(ENTITIES))  # the grantee is a user of the organization (seen on it)
    subject = _post(
        admin,
        ENTITIES,
        {
            "kind": "customer",
            "name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "reference": REFERENCE,
            "attributes": {"nickname": NICKNAME},
            "tags": [TAG],
        },
    )
    subject_url = f"{ENTITIES}{subject['id']}"
    _patch(admin, subject_url, {"name": "Ada King Lovelace", "attributes": {"nickname": f"{NICKNAME} II"}})
    _ok(admin.get(subject_url))
    _ok(admin.get(ENTITIES, {"limit": "5"}))
    friend = _post(admin, ENTITIES, {"kind": "contact", "name": "Charles Babbage"})
    _post(admin, f"{subject_url}/relations", {"target_id": friend["id"], "kind": "colleague"})
    _post(admin, f"{ENTITIES}kinds", {"key": "patron", "label": f"Patron like {NAME}"})
    for permission in ("view", "change"):
        _post(admin, f"{subject_url}/permissions", {"user_id": str(GRANTEE), "permission": permission})
    _ok(admin.get(f"{subject_url}/permissions"))
    revoke = admin.delete(f"{subject_url}/permissions?user_id={GRANTEE}&permission=view")
    assert revoke.status_code == 204, revoke.content
    return str(subject["id"])


def _ledger_module(admin: Client, subject_id: str) -> None:
    """An account named after the subject, and transactions whose description and reference name it."""
    account = _post(
        admin,
        f"{LEDGER}accounts",
        {
            "code": "ADA-1815",
            "name": f"Receivable {NAME}",
            "type": "asset",
            "currency": "EUR",
            "entity_id": subject_id,
        },
    )
    bank = _post(
        admin, f"{LEDGER}accounts", {"code": "1000", "name": "Bank", "type": "asset", "currency": "EUR"}
    )
    _patch(admin, f"{LEDGER}accounts/{account['id']}", {"name": f"{NAME} (receivable)"})
    _ok(admin.get(f"{LEDGER}accounts/{account['id']}/statement"))

    def transaction(state: str) -> dict[str, Any]:
        body = {
            "description": f"Invoice for {NAME}, {EMAIL}",
            "reference": f"{REFERENCE}-INV",
            "currency": "EUR",
            "entity_id": subject_id,
            "state": state,
            "postings": [
                {"account_id": account["id"], "amount": "120.00"},
                {"account_id": bank["id"], "amount": "-120.00"},
            ],
        }
        return _post(admin, LEDGER, body, headers={"Idempotency-Key": uuid.uuid4().hex})

    posted, pending, voided = transaction("posted"), transaction("pending"), transaction("pending")
    _post(admin, f"{LEDGER}{posted['id']}/reverse", {})
    _post(admin, f"{LEDGER}{pending['id']}/post", {}, 200)
    _post(admin, f"{LEDGER}{voided['id']}/void", {}, 200)
    _ok(admin.get(LEDGER, {"entity_id": subject_id}))
    _ok(admin.get(f"{LEDGER}{posted['id']}"))


def _scheduling_module(admin: Client, subject_id: str) -> str:
    """A resource named after the subject with its availability, bookings and a series with notes about
    it; a second resource deleted (purged later). Returns the deleted resource's id."""
    room = _post(
        admin,
        f"{SCHEDULING}resources",
        {"kind": "room", "name": f"{NAME}'s study", "timezone": "Europe/Zurich", "entity_id": subject_id},
    )
    room_url = f"{SCHEDULING}resources/{room['id']}"
    _patch(admin, room_url, {"name": f"Study of {NAME}"})
    availability = {
        "weekly": [{"weekday": 0, "start": "09:00", "end": "17:00"}],
        "exceptions": [
            {"date": "2030-12-24", "closed": True},
            {"date": "2030-12-27", "closed": False, "start": "10:00", "end": "12:00"},
        ],
    }
    response = admin.put(f"{room_url}/availability", availability, content_type=JSON)
    assert response.status_code == 200, response.content
    booking = _post(
        admin,
        f"{SCHEDULING}bookings",
        {
            "resource_id": room["id"],
            "start": "2030-01-07T10:00Z",
            "end": "2030-01-07T11:00Z",
            "entity_id": subject_id,
            "notes": f"{NAME} brings the engine; call {PHONE}",
            "override_availability": True,
        },
    )
    _patch(admin, f"{SCHEDULING}bookings/{booking['id']}", {"notes": f"{NAME} comes at ten"})
    _post(admin, f"{SCHEDULING}bookings/{booking['id']}/cancel", {}, 200)
    _post(
        admin,
        f"{SCHEDULING}series",
        {
            "resource_id": room["id"],
            "start": "2030-02-04T10:00Z",
            "end": "2030-02-04T11:00Z",
            "rrule": "FREQ=WEEKLY;COUNT=2",
            "entity_id": subject_id,
            "notes": f"Weekly lesson with {NAME}",
            "override_availability": True,
        },
    )
    _ok(admin.get(f"{SCHEDULING}bookings", {"resource": room["id"]}))
    archive = _post(
        admin, f"{SCHEDULING}resources", {"kind": "room", "name": f"{NAME} archive", "timezone": "UTC"}
    )
    deleted = admin.delete(f"{SCHEDULING}resources/{archive['id']}")
    assert deleted.status_code == 204, deleted.content
    return str(archive["id"])


def _trail_rows(tenant: Organization) -> list[str]:
    """Every column of every entry of the organization's trail, as text."""
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(e)::text FROM audit_auditentry e ORDER BY id")
        return [row for (row,) in cursor.fetchall()]


def test_an_erased_subject_leaves_nothing_personal_anywhere_in_the_trail(
    admin_client: Client, client_for: Any, tenant_a: Organization
) -> None:
    grantee = client_for(tenant_a, ["viewer"], sub=str(GRANTEE), email=GRANTEE_EMAIL)
    subject_id = _entities_module(admin_client, grantee)
    _ledger_module(admin_client, subject_id)
    purged_id = _scheduling_module(admin_client, subject_id)
    _ok(admin_client.put("/api/v1/privacy/retention/scheduling.resource", {"days": 1}, content_type=JSON))
    with tenant_context(tenant_a):  # the periodic purge: a hard delete of the deleted resource
        retention_apply(now=datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC))
    _ok(admin_client.get(f"/api/v1/privacy/subjects/{subject_id}/export"))
    assert _ok(admin_client.post(f"/api/v1/privacy/subjects/{subject_id}/erase"))["related_rows"] >= 1

    rows = _trail_rows(tenant_a)
    with tenant_context(tenant_a):
        kinds = set(AuditEntry.objects.values_list("object_type", "action").distinct())
        purge = AuditEntry.objects.get(object_pk=purged_id, action=AuditEntry.Action.DELETE, actor=None)
    assert purge.changes["name"] == [MASK, None]
    # Every module's writers were exercised: creates, updates, deletes and reads of each.
    for expected in [
        ("entities.entity", AuditEntry.Action.CREATE),
        ("entities.entity", AuditEntry.Action.UPDATE),  # also the grants' entries and the erasure
        ("entities.entity", AuditEntry.Action.DELETE),  # the revoke
        ("entities.entityrelation", AuditEntry.Action.CREATE),
        ("entities.entitykind", AuditEntry.Action.CREATE),
        ("ledger.account", AuditEntry.Action.UPDATE),
        ("ledger.transaction", AuditEntry.Action.CREATE),
        ("ledger.transaction", AuditEntry.Action.UPDATE),
        ("scheduling.resource", AuditEntry.Action.UPDATE),  # also the availability
        ("scheduling.resource", AuditEntry.Action.DELETE),
        ("scheduling.booking", AuditEntry.Action.UPDATE),
        ("scheduling.bookingseries", AuditEntry.Action.CREATE),
        ("privacy.retentionpolicy", AuditEntry.Action.CREATE),
        ("entities.entity", AuditEntry.Action.ACCESS),
    ]:
        assert expected in kinds
    found = {value: [row for row in rows if value.lower() in row.lower()] for value in FORMER_VALUES}
    assert {value: hits for value, hits in found.items() if hits} == {}


def test_the_actor_is_named_by_id_only(member_client: Client, tenant_a: Organization) -> None:
    created = _post(member_client, ENTITIES, {"kind": "customer", "name": "Someone's client"})
    with tenant_context(tenant_a):
        entry = AuditEntry.objects.get(object_pk=created["id"])
    assert entry.actor_id is not None
    assert entry.actor_email is None
    assert "someone@example.com" not in "".join(_trail_rows(tenant_a))


def test_the_log_api_still_shows_the_actors_email_read_from_the_user_mirror(
    admin_client: Client, tenant_a: Organization
) -> None:
    created = _post(admin_client, ENTITIES, {"kind": "customer", "name": "Mirror test"})
    [item] = _ok(admin_client.get("/api/v1/audit/", {"object_id": created["id"]}))["items"]
    assert item["actor"]["email"] == "someone@example.com"
    assert item["changes"]["name"] == [None, MASK]


# --- The rule itself, for every model of every module ---------------------------------------------------

CANARY = "Canary Person canary@example.com"


def _canary_value(model_field: models.Field[Any, Any]) -> Any:
    if isinstance(model_field, models.JSONField):
        return {"who": CANARY, CANARY: [CANARY]}
    if model_field.get_internal_type() == "ArrayField":
        return [CANARY]
    if isinstance(model_field, models.CharField | models.TextField) and not model_field.choices:
        return CANARY
    return None


def _text_fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    clear = set(getattr(model, "AUDIT_CLEAR_FIELDS", ()))
    return [
        model_field
        for model_field in model._meta.concrete_fields
        if not model_field.is_relation
        and not model_field.primary_key  # the object's id, which names it anyway
        and model_field.name not in clear
        and _canary_value(model_field) is not None
        and not getattr(model_field, "audit_skip", False)
    ]


@pytest.mark.parametrize(
    "model", [model for model in audited_models() if _text_fields(model)], ids=lambda m: m._meta.label_lower
)
def test_every_modules_free_text_is_masked_in_every_kind_of_entry(
    model: type[models.Model], tenant_a: Organization
) -> None:
    instance = model()
    fields = _text_fields(model)
    for model_field in fields:
        setattr(instance, model_field.attname, _canary_value(model_field))
    with tenant_context(tenant_a):
        before = AuditEntry.objects.count()
        audit_change(action=AuditEntry.Action.CREATE, instance=instance)
        audit_change(action=AuditEntry.Action.DELETE, instance=instance)  # a hard delete's entry
        audit_change(action=AuditEntry.Action.UPDATE, instance=model(), before=instance)
        audit_record(
            action=AuditEntry.Action.UPDATE,
            instance=instance,
            changes={model_field.name: [None, CANARY] for model_field in fields} | {"note": [CANARY, None]},
        )
        assert AuditEntry.objects.count() == before + 4
    written = "".join(_trail_rows(tenant_a)[before:])
    assert "canary" not in written.lower()


def test_every_declared_clear_field_exists_and_holds_no_free_text_by_default() -> None:
    """``AUDIT_CLEAR_FIELDS`` names real fields (a typo would silently mask nothing)."""
    for model in audited_models():
        names = {model_field.name for model_field in model._meta.concrete_fields}
        assert set(getattr(model, "AUDIT_CLEAR_FIELDS", ())) <= names, model
        for name in getattr(model, "PERSONAL_FIELDS", ()):
            personal = model._meta.get_field(name)
            assert isinstance(personal, models.Field)
            assert not field_is_clear(model, personal), (model, name)


def test_ids_numbers_dates_and_codes_stay_readable() -> None:
    kept = [
        None,
        True,
        3,
        "12.50",
        "-0.01",
        "2030-01-07",
        "09:00:00",
        "2030-01-07T10:00:00+00:00",
        "view",
        "closed",
        str(uuid.UUID(int=7)),
        [[0, "09:00:00", "17:00:00"]],
    ]
    assert [value_redact(value) for value in kept] == kept
    masked = ["Ada", "ada lovelace", "ada@example.org", "+41 79 555 01 99", "Invoice 42", {"Ada L": "x"}]
    assert [value_redact(value) for value in masked] == [MASK, MASK, MASK, MASK, MASK, {MASK: "x"}]


def _entries(tenant: Organization, object_pk: str) -> list[AuditEntry]:
    with tenant_context(tenant):
        return list(AuditEntry.objects.filter(object_pk=object_pk).order_by("id"))


def test_grant_and_revoke_entries_name_the_entity_and_the_user_by_id(
    admin_client: Client, client_for: Any, tenant_a: Organization
) -> None:
    grantee = client_for(tenant_a, ["viewer"], sub=str(GRANTEE), email=GRANTEE_EMAIL)
    _ok(grantee.get(ENTITIES))
    entity = _post(admin_client, ENTITIES, {"kind": "customer", "name": NAME})
    url = f"{ENTITIES}{entity['id']}/permissions"
    _post(admin_client, url, {"user_id": str(GRANTEE), "permission": "view"})
    assert admin_client.delete(f"{url}?user_id={GRANTEE}&permission=view").status_code == 204

    grant, revoke = [e for e in _entries(tenant_a, entity["id"]) if "permission" in (e.changes or {})]
    assert grant.object_repr == revoke.object_repr == f"entities.entity {entity['id']}"
    assert grant.changes == {"permission": [None, "view"], "user": [None, str(GRANTEE)]}
    assert revoke.changes == {"permission": ["view", None], "user": [str(GRANTEE), None]}


def test_a_transaction_entry_masks_description_and_reference(
    admin_client: Client, tenant_a: Organization
) -> None:
    accounts = [
        _post(
            admin_client,
            f"{LEDGER}accounts",
            {"code": code, "name": NAME, "type": "asset", "currency": "EUR"},
        )
        for code in ("T-1", "T-2")
    ]
    body = {
        "description": f"Invoice for {NAME}",
        "reference": REFERENCE,
        "currency": "EUR",
        "postings": [
            {"account_id": accounts[0]["id"], "amount": "5.00"},
            {"account_id": accounts[1]["id"], "amount": "-5.00"},
        ],
    }
    txn = _post(admin_client, LEDGER, body, headers={"Idempotency-Key": uuid.uuid4().hex})

    [created] = [e for e in _entries(tenant_a, txn["id"]) if e.action == AuditEntry.Action.CREATE]
    assert created.object_repr == f"ledger.transaction {txn['id']}"
    assert created.changes["description"] == [None, MASK]
    assert created.changes["reference"] == [None, MASK]
    assert created.changes["currency"] == [None, "EUR"]
    assert created.changes["postings"] == [None, [[accounts[0]["id"], "5.00"], [accounts[1]["id"], "-5.00"]]]
    [account_created] = [
        e for e in _entries(tenant_a, accounts[0]["id"]) if e.action == AuditEntry.Action.CREATE
    ]
    assert (account_created.changes["name"], account_created.changes["code"]) == ([None, MASK], [None, MASK])


def test_an_availability_entry_keeps_the_hours_and_names_the_resource_by_id(
    admin_client: Client, tenant_a: Organization
) -> None:
    room = _post(admin_client, f"{SCHEDULING}resources", {"kind": "room", "name": NAME, "timezone": "UTC"})
    rules = {
        "weekly": [{"weekday": 0, "start": "09:00", "end": "17:00"}],
        "exceptions": [{"date": "2030-12-24", "closed": True}],
    }
    response = admin_client.put(f"{SCHEDULING}resources/{room['id']}/availability", rules, content_type=JSON)
    assert response.status_code == 200, response.content

    update = _entries(tenant_a, room["id"])[-1]
    assert update.object_repr == f"scheduling.resource {room['id']}"
    assert update.changes == {
        "weekly": [[], [[0, "09:00:00", "17:00:00"]]],
        "exceptions": [[], [["2030-12-24", "closed", None, None]]],
    }


def test_django_auditlogs_own_signals_write_nothing() -> None:
    """Its registry would write entries of its own (``str(instance)``, changes in clear), bypassing the
    redaction: no model is registered, and registering every model is off."""
    assert auditlog.get_models() == []
    assert not getattr(settings, "AUDITLOG_INCLUDE_ALL_MODELS", False)
