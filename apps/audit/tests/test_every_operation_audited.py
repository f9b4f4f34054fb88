"""Every operation of the tenant API writes its audit entries: a walk over the OpenAPI document.

The test reads ``/api/v1/openapi.json`` as a client would, calls every operation in it once, as an
admin, with a valid request, and checks the entries carrying that response's ``X-Request-ID``.
``OPERATIONS`` says, per operation, how to call it and which entries it must leave; an operation the
spec has and the table does not is a failure, so a new endpoint cannot ship unaudited. The audit
endpoints themselves are the one listed exception: reading the log is not audited (``apps.audit.api``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import tenant_context

from apps.analytics.selectors import analytics_setting_get
from apps.audit.models import ACTION_NAMES, AuditEntry
from apps.deliveries.models import Delivery
from apps.deliveries.services import delivery_enqueue
from apps.entities import services
from apps.entities.models import Entity, EntityRelation
from apps.entities.selectors import EntityViewer
from apps.entities.tests.helpers import DEFAULT_SUB, JSON
from apps.exports.models import Export
from apps.exports.services import export_request, export_write
from apps.imports.models import Import
from apps.imports.services import import_upload, import_validate_run
from apps.ledger import services as ledger_services
from apps.ledger.models import Account, Transaction
from apps.members.models import Member, MemberRole
from apps.members.services import member_role_set, member_seen
from apps.notifications import services as notifications
from apps.notifications.models import AlertRule, Notification
from apps.privacy.services import retention_policy_set
from apps.reports import services as reports
from apps.reports.models import Report, ReportRun
from apps.scheduling import services as scheduling
from apps.scheduling.models import Booking, Resource
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db

SPEC_URL = "/api/v1/openapi.json"
ENTITY = "entities.entity"
RELATION = "entities.entityrelation"
KIND = "entities.entitykind"
GRANT = "guardian.userobjectpermission"
POLICY = "privacy.retentionpolicy"
GRANTEE = uuid.UUID(int=0x6A47)
ACCOUNT = "ledger.account"
TRANSACTION = "ledger.transaction"
POSTING = "ledger.posting"
RESOURCE = "scheduling.resource"
BOOKING = "scheduling.booking"
SERIES = "scheduling.bookingseries"
MEMBER = "members.member"
RULE = "notifications.alertrule"
NOTIFICATION = "notifications.notification"
SETTING = "analytics.analyticssetting"
REPORT = "reports.report"
RUN = "reports.reportrun"
DELIVERY = "deliveries.delivery"
IMPORT = "imports.import"
ISSUE = "imports.importissue"
EXPORT = "exports.export"


@dataclass
class Target:
    """The objects one call works on: fresh for every operation, so a delete harms no other call."""

    entity: Entity
    other: Entity
    relation: EntityRelation  # from ``entity`` to ``other``
    grantee: User
    grant_id: str  # ``view`` on ``entity`` for ``grantee``
    policy_id: str  # the retention policy of entities
    account: Account
    posted: Transaction  # posted to ``account``
    pending: Transaction  # pending on ``account``
    resource: Resource
    booking: Booking  # of ``resource``, in the past (so the resource may be deleted)
    rule: AlertRule
    notification: Notification  # the caller's only live one
    setting: str  # the analytics setting's id
    report: Report
    run: ReportRun  # of ``report``, succeeded (so it can be downloaded)
    delivery: Delivery  # dead-lettered (so it can be retried)
    validated: (
        Import  # an entity import after its dry run, not committed (so it can be committed or cancelled)
    )
    committed: Import  # an entity import committed (so it can be undone)
    export: Export  # an export of entities, written (so it can be downloaded)


@dataclass(frozen=True)
class Expect:
    """One audit entry an operation must write.

    ``object_id``: ``"entity"`` (the path's entity), ``"policy"`` (the target's retention policy),
    ``"account"``, ``"posted"`` or ``"pending"`` (the path's account or transaction), ``"created"`` (the
    object in the response body), ``"listed"`` (a list read: one entry whose ``object_ids`` are
    exactly the ids returned, as ``Call.listed`` reads them), or ``"picked"`` (the id ``pick`` returns).
    """

    action: str
    object_type: str
    object_id: str
    # ``object_id="picked"``: the id this returns (the path's resource or booking, an item of the body).
    pick: Callable[[Target, dict[str, Any]], str] | None = None
    # A list read of its own (an operation listing two kinds); else ``Call.listed``.
    listed: Callable[[Target, dict[str, Any]], list[str]] | None = None


@dataclass(frozen=True)
class Call:
    status: int
    expect: tuple[Expect, ...] = ()
    body: Callable[[Target], dict[str, Any]] | None = None
    query: Callable[[Target], dict[str, str]] | None = None
    # The ids a list read returned, from the response body (its items' ``id``, or ``key`` for kinds).
    listed: Callable[[Target, dict[str, Any]], list[str]] = lambda t, body: [
        str(item.get("id", item.get("key"))) for item in body["items"]
    ]
    # Only the explicit exceptions are False; they must then write no entry at all.
    audited: bool = True
    headers: Callable[[Target], dict[str, str]] | None = None
    # A multipart upload: the form's fields, files among them.
    form: Callable[[Target], dict[str, Any]] | None = None


def _resource_id(target: Target, body: dict[str, Any]) -> str:
    return str(target.resource.id)


def _booking_id(target: Target, body: dict[str, Any]) -> str:
    return str(target.booking.id)


def _member_ids(user_ids: list[str]) -> list[str]:
    with tenant_context(Organization.objects.get(slug="alpha")):
        rows = dict(Member.objects.filter(user_id__in=user_ids).values_list("user_id", "id"))
    return [str(rows[uuid.UUID(user_id)]) for user_id in user_ids]


def _member_id(target: Target, body: dict[str, Any]) -> str:
    return _member_ids([str(target.grantee.id)])[0]


_PATH_RESOURCE_READ = Expect("access", RESOURCE, "picked", pick=_resource_id)
_PATH_BOOKING_READ = Expect("access", BOOKING, "picked", pick=_booking_id)

# (method, path as in the OpenAPI document) -> how to call it and what it must leave in the trail.
OPERATIONS: dict[tuple[str, str], Call] = {
    ("GET", "/api/v1/entities/kinds"): Call(200, (Expect("access", KIND, "listed"),)),
    ("POST", "/api/v1/entities/kinds"): Call(
        201,
        (Expect("create", KIND, "created"),),
        body=lambda t: {"key": "walked", "label": "Walked"},
    ),
    ("GET", "/api/v1/entities/"): Call(
        200, (Expect("access", ENTITY, "listed"),), query=lambda t: {"limit": "5"}
    ),
    ("POST", "/api/v1/entities/"): Call(
        201,
        (Expect("create", ENTITY, "created"),),
        body=lambda t: {"kind": "customer", "name": "Walk Ltd", "email": "walk@example.com"},
    ),
    ("GET", "/api/v1/entities/{entity_id}"): Call(200, (Expect("access", ENTITY, "entity"),)),
    ("PATCH", "/api/v1/entities/{entity_id}"): Call(
        200,
        (Expect("access", ENTITY, "entity"), Expect("update", ENTITY, "entity")),
        body=lambda t: {"name": "Walked Renamed"},
    ),
    ("DELETE", "/api/v1/entities/{entity_id}"): Call(
        204, (Expect("access", ENTITY, "entity"), Expect("delete", ENTITY, "entity"))
    ),
    ("DELETE", "/api/v1/entities/{entity_id}/relations/{relation_id}"): Call(
        204,
        (
            Expect("access", ENTITY, "entity"),
            Expect("delete", RELATION, "picked", pick=lambda t, body: str(t.relation.id)),
        ),
    ),
    ("GET", "/api/v1/entities/{entity_id}/relations"): Call(
        200, (Expect("access", ENTITY, "entity"), Expect("access", RELATION, "listed"))
    ),
    ("POST", "/api/v1/entities/{entity_id}/relations"): Call(
        201,
        (Expect("access", ENTITY, "entity"), Expect("create", RELATION, "created")),
        body=lambda t: {"target_id": str(t.other.id), "kind": "supplies"},
    ),
    # Grants are recorded against the entity they are on (changes: permission and user).
    ("GET", "/api/v1/entities/{entity_id}/permissions"): Call(
        200,
        (Expect("access", ENTITY, "entity"), Expect("access", GRANT, "listed")),
        listed=lambda t, body: [t.grant_id] * len(body["items"]),
    ),
    ("POST", "/api/v1/entities/{entity_id}/permissions"): Call(
        201,
        (Expect("access", ENTITY, "entity"), Expect("create", ENTITY, "entity")),
        body=lambda t: {"user_id": str(t.grantee.id), "permission": "change"},
    ),
    ("DELETE", "/api/v1/entities/{entity_id}/permissions"): Call(
        204,
        (Expect("access", ENTITY, "entity"), Expect("delete", ENTITY, "entity")),
        query=lambda t: {"user_id": str(t.grantee.id), "permission": "view"},
    ),
    ("GET", "/api/v1/privacy/subjects/{entity_id}/export"): Call(200, (Expect("access", ENTITY, "entity"),)),
    ("POST", "/api/v1/privacy/subjects/{entity_id}/erase"): Call(200, (Expect("update", ENTITY, "entity"),)),
    ("GET", "/api/v1/privacy/retention"): Call(200, (Expect("access", POLICY, "listed"),)),
    ("PUT", "/api/v1/privacy/retention/{model}"): Call(
        200, (Expect("update", POLICY, "policy"),), body=lambda t: {"days": 45}
    ),
    ("DELETE", "/api/v1/privacy/retention/{model}"): Call(204, (Expect("delete", POLICY, "policy"),)),
    ("GET", "/api/v1/transactions/accounts"): Call(200, (Expect("access", ACCOUNT, "listed"),)),
    ("POST", "/api/v1/transactions/accounts"): Call(
        201,
        (Expect("create", ACCOUNT, "created"),),
        body=lambda t: {
            "code": f"W-{uuid.uuid4().hex[:8]}",
            "name": "Walk",
            "type": "asset",
            "currency": "EUR",
        },
    ),
    ("GET", "/api/v1/transactions/accounts/{account_id}"): Call(200, (Expect("access", ACCOUNT, "account"),)),
    ("PATCH", "/api/v1/transactions/accounts/{account_id}"): Call(
        200,
        (Expect("access", ACCOUNT, "account"), Expect("update", ACCOUNT, "account")),
        body=lambda t: {"name": "Walked account"},
    ),
    ("GET", "/api/v1/transactions/accounts/{account_id}/balance"): Call(
        200, (Expect("access", ACCOUNT, "account"),)
    ),
    ("GET", "/api/v1/transactions/accounts/{account_id}/statement"): Call(
        200,
        (Expect("access", ACCOUNT, "account"), Expect("access", POSTING, "listed")),
        listed=lambda t, body: [str(item["posting_id"]) for item in body["items"]],
    ),
    ("GET", "/api/v1/transactions/trial-balance"): Call(
        200,
        (Expect("access", ACCOUNT, "listed"),),
        listed=lambda t, body: [item["account_id"] for item in body["accounts"]],
    ),
    ("GET", "/api/v1/transactions/"): Call(200, (Expect("access", TRANSACTION, "listed"),)),
    ("POST", "/api/v1/transactions/"): Call(
        201,
        (Expect("create", TRANSACTION, "created"),),
        body=lambda t: {
            "description": "Walk",
            "currency": "EUR",
            "postings": [
                {"account_id": str(t.account.id), "amount": "1.00"},
                {"account_id": str(t.account.id), "amount": "-1.00"},
            ],
        },
        headers=lambda t: {"Idempotency-Key": uuid.uuid4().hex},
    ),
    ("GET", "/api/v1/transactions/{transaction_id}"): Call(200, (Expect("access", TRANSACTION, "posted"),)),
    ("POST", "/api/v1/transactions/{transaction_id}/post"): Call(
        200, (Expect("access", TRANSACTION, "pending"), Expect("update", TRANSACTION, "pending"))
    ),
    ("POST", "/api/v1/transactions/{transaction_id}/void"): Call(
        200, (Expect("access", TRANSACTION, "pending"), Expect("update", TRANSACTION, "pending"))
    ),
    ("POST", "/api/v1/transactions/{transaction_id}/reverse"): Call(
        201, (Expect("access", TRANSACTION, "posted"), Expect("create", TRANSACTION, "created"))
    ),
    **{
        (method, f"/api/v1/scheduling/{path}"): call
        for (method, path), call in {
            ("GET", "resources"): Call(200, (Expect("access", RESOURCE, "listed"),)),
            ("POST", "resources"): Call(
                201,
                (Expect("create", RESOURCE, "created"),),
                body=lambda t: {"kind": "room", "name": "Walk Room", "timezone": "Europe/Berlin"},
            ),
            ("GET", "resources/{resource_id}"): Call(200, (_PATH_RESOURCE_READ,)),
            ("PATCH", "resources/{resource_id}"): Call(
                200,
                (_PATH_RESOURCE_READ, Expect("update", RESOURCE, "picked", pick=_resource_id)),
                body=lambda t: {"name": "Walked Room", "capacity": 2},
            ),
            ("DELETE", "resources/{resource_id}"): Call(
                204, (_PATH_RESOURCE_READ, Expect("delete", RESOURCE, "picked", pick=_resource_id))
            ),
            ("GET", "resources/{resource_id}/availability"): Call(200, (_PATH_RESOURCE_READ,)),
            ("PUT", "resources/{resource_id}/availability"): Call(
                200,
                (_PATH_RESOURCE_READ, Expect("update", RESOURCE, "picked", pick=_resource_id)),
                body=lambda t: {"weekly": [{"weekday": 0, "start": "09:00", "end": "17:00"}]},
            ),
            ("GET", "availability"): Call(
                200,
                (_PATH_RESOURCE_READ,),
                query=lambda t: {
                    "resource": str(t.resource.id),
                    "from": "2020-01-06T00:00Z",
                    "to": "2020-01-07T00:00Z",
                    "duration": "30",
                },
            ),
            ("GET", "calendar"): Call(
                200,
                (
                    Expect("access", RESOURCE, "listed", listed=lambda t, b: [str(t.resource.id)]),
                    Expect("access", BOOKING, "listed", listed=lambda t, b: [str(t.booking.id)]),
                ),
                query=lambda t: {
                    "resource": str(t.resource.id),
                    "from": "2020-01-06T00:00Z",
                    "to": "2020-01-07T00:00Z",
                },
            ),
            ("GET", "bookings"): Call(
                200, (Expect("access", BOOKING, "listed"),), query=lambda t: {"resource": str(t.resource.id)}
            ),
            ("POST", "bookings"): Call(
                201,
                (Expect("create", BOOKING, "created"),),
                body=lambda t: {
                    "resource_id": str(t.resource.id),
                    "start": "2020-01-07T10:00Z",
                    "end": "2020-01-07T11:00Z",
                },
            ),
            ("GET", "bookings/{booking_id}"): Call(200, (_PATH_BOOKING_READ,)),
            ("PATCH", "bookings/{booking_id}"): Call(
                200,
                (_PATH_BOOKING_READ, Expect("update", BOOKING, "picked", pick=_booking_id)),
                body=lambda t: {"start": "2020-01-06T12:00Z", "end": "2020-01-06T13:00Z"},
            ),
            ("POST", "bookings/{booking_id}/cancel"): Call(
                200, (_PATH_BOOKING_READ, Expect("update", BOOKING, "picked", pick=_booking_id))
            ),
            ("POST", "series"): Call(
                201,
                (
                    Expect("create", SERIES, "created"),
                    Expect("create", BOOKING, "picked", pick=lambda t, b: str(b["bookings"][0]["id"])),
                    Expect("create", BOOKING, "picked", pick=lambda t, b: str(b["bookings"][1]["id"])),
                ),
                body=lambda t: {
                    "resource_id": str(t.resource.id),
                    "start": "2020-02-03T10:00Z",
                    "end": "2020-02-03T11:00Z",
                    "rrule": "FREQ=WEEKLY;COUNT=2",
                },
            ),
        }.items()
    },
    # Memberships are recorded against the member row (its id); the path names the user (the grantee).
    ("GET", "/api/v1/members/"): Call(
        200,
        (Expect("access", MEMBER, "listed"),),
        listed=lambda t, body: _member_ids([item["user_id"] for item in body["items"]]),
    ),
    ("GET", "/api/v1/members/{user_id}"): Call(200, (Expect("access", MEMBER, "picked", pick=_member_id),)),
    ("PUT", "/api/v1/members/{user_id}"): Call(
        200, (Expect("update", MEMBER, "picked", pick=_member_id),), body=lambda t: {"role": "member"}
    ),
    ("DELETE", "/api/v1/members/{user_id}"): Call(
        204, (Expect("delete", MEMBER, "picked", pick=_member_id),)
    ),
    ("GET", "/api/v1/notifications/rules"): Call(200, (Expect("access", RULE, "listed"),)),
    ("POST", "/api/v1/notifications/rules"): Call(
        201,
        (Expect("create", RULE, "created"),),
        body=lambda t: {
            "name": "Walk",
            "event_type": "entity.created",
            "recipients": {"roles": ["admin"]},
            "channels": ["in_app"],
        },
    ),
    **{
        (method, "/api/v1/notifications/rules/{rule_id}"): Call(
            status, (Expect("access", RULE, "picked", pick=lambda t, b: str(t.rule.id)), *also), body=body
        )
        for method, status, also, body in (
            ("GET", 200, (), None),
            (
                "PATCH",
                200,
                (Expect("update", RULE, "picked", pick=lambda t, b: str(t.rule.id)),),
                lambda t: {"enabled": False},
            ),
            ("DELETE", 204, (Expect("delete", RULE, "picked", pick=lambda t, b: str(t.rule.id)),), None),
        )
    },
    ("GET", "/api/v1/notifications/"): Call(200, (Expect("access", NOTIFICATION, "listed"),)),
    ("POST", "/api/v1/notifications/read-all"): Call(
        200, (Expect("update", NOTIFICATION, "picked", pick=lambda t, b: str(t.notification.id)),)
    ),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Call(
        200, (Expect("update", NOTIFICATION, "picked", pick=lambda t, b: str(t.notification.id)),)
    ),
    ("DELETE", "/api/v1/notifications/{notification_id}"): Call(
        204, (Expect("delete", NOTIFICATION, "picked", pick=lambda t, b: str(t.notification.id)),)
    ),
    # A count of the caller's unread notifications names none of them.
    ("GET", "/api/v1/notifications/unread-count"): Call(200, audited=False),
    # The metric catalogue is the code's, not the organization's data.
    ("GET", "/api/v1/analytics/metrics"): Call(200, audited=False),
    **{
        ("GET", f"/api/v1/analytics/{name}"): Call(
            200, (Expect("access", SETTING, "picked", pick=lambda t, b: t.setting),), query=query
        )
        for name, query in (
            ("dashboard", None),
            ("timeseries", lambda t: {"metric": "entities.created", "interval": "month"}),
            ("settings", None),
        )
    },
    # The organization's setting row is written on its first change (until then the defaults are read).
    ("PATCH", "/api/v1/analytics/settings"): Call(
        200,
        (Expect("create", SETTING, "picked", pick=lambda t, b: t.setting),),
        body=lambda t: {"time_zone": "Europe/Berlin"},
    ),
    ("GET", "/api/v1/analytics/reports"): Call(200, (Expect("access", REPORT, "listed"),)),
    ("POST", "/api/v1/analytics/reports"): Call(
        201,
        (Expect("create", REPORT, "created"),),
        body=lambda t: {
            "name": "Walked",
            "metrics": ["entities.created"],
            "period": {"relative": "this_year"},
        },
    ),
    ("GET", "/api/v1/analytics/reports/{report_id}"): Call(
        200, (Expect("access", REPORT, "picked", pick=lambda t, b: str(t.report.id)),)
    ),
    ("PATCH", "/api/v1/analytics/reports/{report_id}"): Call(
        200,
        (Expect("update", REPORT, "picked", pick=lambda t, b: str(t.report.id)),),
        body=lambda t: {"name": "Walked again"},
    ),
    # A report goes with its runs.
    ("DELETE", "/api/v1/analytics/reports/{report_id}"): Call(
        204,
        (
            Expect("delete", REPORT, "picked", pick=lambda t, b: str(t.report.id)),
            Expect("delete", RUN, "picked", pick=lambda t, b: str(t.run.id)),
        ),
    ),
    ("POST", "/api/v1/analytics/reports/{report_id}/runs"): Call(202, (Expect("create", RUN, "created"),)),
    ("GET", "/api/v1/analytics/reports/{report_id}/runs"): Call(200, (Expect("access", RUN, "listed"),)),
    ("GET", "/api/v1/analytics/reports/{report_id}/runs/{run_id}"): Call(
        200, (Expect("access", RUN, "picked", pick=lambda t, b: str(t.run.id)),)
    ),
    ("GET", "/api/v1/analytics/reports/{report_id}/runs/{run_id}/download"): Call(
        200,
        (Expect("access", RUN, "picked", pick=lambda t, b: str(t.run.id)),),
        query=lambda t: {"format": "csv"},
    ),
    ("GET", "/api/v1/notifications/deliveries/"): Call(200, (Expect("access", DELIVERY, "listed"),)),
    ("GET", "/api/v1/notifications/deliveries/{delivery_id}"): Call(
        200, (Expect("access", DELIVERY, "picked", pick=lambda t, b: str(t.delivery.id)),)
    ),
    ("POST", "/api/v1/notifications/deliveries/{delivery_id}/retry"): Call(
        200,
        (
            Expect("access", DELIVERY, "picked", pick=lambda t, b: str(t.delivery.id)),
            Expect("update", DELIVERY, "picked", pick=lambda t, b: str(t.delivery.id)),
        ),
    ),
    ("GET", "/api/v1/imports/"): Call(
        200, (Expect("access", IMPORT, "listed"),), query=lambda t: {"limit": "5"}
    ),
    ("POST", "/api/v1/imports/"): Call(
        202,
        (Expect("create", IMPORT, "created"),),
        query=lambda t: {"type": "entities", "dry_run": "true"},
        form=lambda t: {
            "file": SimpleUploadedFile("w.csv", f"kind,name\ncustomer,Up {t.entity.id}\n".encode())
        },
    ),
    ("GET", "/api/v1/imports/{import_id}"): Call(
        200, (Expect("access", IMPORT, "picked", pick=lambda t, b: str(t.validated.id)),)
    ),
    ("GET", "/api/v1/imports/{import_id}/issues"): Call(200, (Expect("access", ISSUE, "listed"),)),
    ("POST", "/api/v1/imports/{import_id}/commit"): Call(
        202, (Expect("update", IMPORT, "picked", pick=lambda t, b: str(t.validated.id)),)
    ),
    ("POST", "/api/v1/imports/{import_id}/cancel"): Call(
        200, (Expect("update", IMPORT, "picked", pick=lambda t, b: str(t.validated.id)),)
    ),
    ("POST", "/api/v1/imports/{import_id}/undo"): Call(
        200,
        (
            Expect("delete", ENTITY, "picked", pick=lambda t, b: _imported_entity(t.committed)),
            Expect("update", IMPORT, "picked", pick=lambda t, b: str(t.committed.id)),
        ),
    ),
    ("GET", "/api/v1/exports/"): Call(
        200, (Expect("access", EXPORT, "listed"),), query=lambda t: {"limit": "5"}
    ),
    ("POST", "/api/v1/exports/"): Call(
        202,
        (Expect("create", EXPORT, "created"),),
        body=lambda t: {"resource": "entities", "filters": {"kind": "customer"}, "format": "ndjson"},
    ),
    ("GET", "/api/v1/exports/{export_id}"): Call(
        200, (Expect("access", EXPORT, "picked", pick=lambda t, b: str(t.export.id)),)
    ),
    ("GET", "/api/v1/exports/{export_id}/download"): Call(
        200, (Expect("access", EXPORT, "picked", pick=lambda t, b: str(t.export.id)),)
    ),
    ("DELETE", "/api/v1/exports/{export_id}"): Call(
        204, (Expect("delete", EXPORT, "picked", pick=lambda t, b: str(t.export.id)),)
    ),
    # The import templates describe the code (its columns and an example row), not the organization's data.
    ("GET", "/api/v1/imports/templates"): Call(200, audited=False),
    ("GET", "/api/v1/imports/templates/{import_type}"): Call(200, audited=False),
    # Exceptions: the audit log's own endpoints (admins only) are not audited, see apps.audit.api;
    # ``/me`` reads only what the caller's own token and roles say.
    ("GET", "/api/v1/audit/"): Call(200, audited=False),
    ("GET", "/api/v1/audit/verify"): Call(200, audited=False),
    ("GET", "/api/v1/me"): Call(200, audited=False),
}

HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}


def _spec_operations(admin_client: Client) -> set[tuple[str, str]]:
    response = admin_client.get(SPEC_URL)
    assert response.status_code == 200, response.content
    paths: dict[str, dict[str, Any]] = response.json()["paths"]
    return {
        (method.upper(), path) for path, item in paths.items() for method in item if method in HTTP_METHODS
    }


def _target(tenant: Organization, actor: User) -> Target:
    suffix = uuid.uuid4().hex[:8]
    grantee, _ = User.objects.get_or_create(id=GRANTEE, defaults={"email": "grantee@example.com"})
    with tenant_context(tenant):
        entity = services.entity_create(actor=actor, kind="customer", name=f"Walk {suffix}", tags=["walk"])
        other = services.entity_create(actor=actor, kind="supplier", name=f"Other {suffix}")
        relation = services.entity_relation_create(
            actor=actor, source=entity, target_id=other.id, kind="owns"
        )
        member_seen(tenant=tenant, user_id=grantee.id)  # only A's users are granted
        member_role_set(actor=actor, user_id=grantee.id, role=MemberRole.VIEWER)
        grant, _ = services.entity_permission_grant(
            actor=actor, entity=entity, user_id=grantee.id, permission="view"
        )
        policy = retention_policy_set(actor=actor, model=ENTITY, days=30)
        account = ledger_services.account_create(
            actor=actor, code=f"A-{suffix}", name="Walk", type="asset", currency="EUR"
        )
        legs = [{"account_id": account.id, "amount": "2.00"}, {"account_id": account.id, "amount": "-2.00"}]
        posted = ledger_services.transaction_create(
            actor=actor, description="Walk", currency="EUR", postings=legs
        )
        pending = ledger_services.transaction_create(
            actor=actor, description="Walk", currency="EUR", postings=legs, state="pending"
        )
        resource = scheduling.resource_create(kind="room", name=f"Walk {suffix}", timezone="UTC")
        booking = scheduling.booking_create(
            actor=actor,
            resource_id=resource.id,
            start=datetime(2020, 1, 6, 10, tzinfo=UTC),
            end=datetime(2020, 1, 6, 11, tzinfo=UTC),
        )
        rule = notifications.rule_create(
            actor=actor,
            name="Walk",
            event_type="entity.created",
            recipients={"roles": ["admin"]},
            channels=["in_app"],
        )
        Notification.objects.filter(user=actor).update(deleted_at=datetime.now(tz=UTC))
        notification = Notification.objects.create(user=actor, event_type="entity.created", title="Walk")
        setting = analytics_setting_get()
        report = reports.report_create(
            actor=actor,
            name=f"Walk {suffix}",
            metrics=["entities.created"],
            period={"relative": "this_month"},
        )
        run = reports.run_request(actor=actor, report_id=report.id)
        reports.run_execute(run_id=run.id)
        run.refresh_from_db()
        delivery = delivery_enqueue(
            target="communication",
            channel="email",
            recipient_user_id=actor.id,
            to="walk@example.com",
            subject="Walk",
            message="Walk",
        )
        Delivery.objects.filter(id=delivery.id).update(status=Delivery.Status.FAILED)
        validated, committed = (
            _import(actor, f"kind,name,reference\ncustomer,Imported {suffix},{mode}-{suffix}\n", mode)
            for mode in ("validated", "committed")
        )
        export = export_request(
            actor=actor,
            viewer=EntityViewer(user_id=actor.id, is_admin=True),
            roles=frozenset({"admin", "member", "viewer"}),
            resource="entities",
            filters={"tag": "walk"},
            file_format="csv",
        )
        export_write(export_id=export.id)
        export.refresh_from_db()
    return Target(
        entity=entity,
        other=other,
        relation=relation,
        grantee=grantee,
        grant_id=str(grant.pk),
        policy_id=str(policy.pk),
        account=account,
        posted=posted,
        pending=pending,
        resource=resource,
        booking=booking,
        rule=rule,
        notification=notification,
        setting=str(setting.pk),
        report=report,
        run=run,
        delivery=delivery,
        validated=validated,
        committed=committed,
        export=export,
    )


def _imported_entity(record: Import) -> str:
    with tenant_context(Organization.objects.get(slug="alpha")):
        return str(Entity.objects.get(source_import=record.id).id)


def _import(actor: User, csv: str, mode: str) -> Import:
    """An entity import of ``csv``, validated, and committed when ``mode`` says so, as its jobs would."""
    upload = SimpleUploadedFile("walk.csv", csv.encode(), content_type="text/csv")
    record, _ = import_upload(
        actor=actor, actor_is_admin=True, import_type="entities", upload=upload, dry_run=mode == "validated"
    )
    import_validate_run(import_id=record.id, commit=mode == "committed")
    record.refresh_from_db()
    assert record.status == mode, record.error_detail
    return record


def _url(path: str, target: Target) -> str:
    url = path.replace("{entity_id}", str(target.entity.id)).replace("{model}", ENTITY)
    url = url.replace("{account_id}", str(target.account.id))
    url = url.replace("{relation_id}", str(target.relation.id))
    # Posting and voiding take a pending transaction; reading and reversing a posted one.
    txn = target.pending if path.endswith(("/post", "/void")) else target.posted
    url = url.replace("{transaction_id}", str(txn.id))
    url = url.replace("{user_id}", str(target.grantee.id))
    url = url.replace("{resource_id}", str(target.resource.id)).replace(
        "{booking_id}", str(target.booking.id)
    )
    url = url.replace("{rule_id}", str(target.rule.id))
    url = url.replace("{notification_id}", str(target.notification.id))
    url = url.replace("{report_id}", str(target.report.id)).replace("{run_id}", str(target.run.id))
    url = url.replace("{delivery_id}", str(target.delivery.id))
    url = url.replace("{import_type}", "entities").replace("{export_id}", str(target.export.id))
    # Undoing takes a committed import; the others one after its dry run.
    imported = target.committed if path.endswith("/undo") else target.validated
    url = url.replace("{import_id}", str(imported.id))
    assert "{" not in url, f"{path}: a path parameter the walk cannot fill; teach _url about it"
    return url


def _response_id(body: dict[str, Any]) -> str:
    return str(body.get("id", body.get("key")))


def _call(client: Client, method: str, url: str, call: Call, target: Target) -> Any:
    body = call.body(target) if call.body else None
    query = call.query(target) if call.query else {}
    kwargs: dict[str, Any] = {
        "headers": {"User-Agent": "audit-walk/1", **(call.headers(target) if call.headers else {})}
    }
    if method == "GET":
        return client.get(url, query, **kwargs)
    if query:
        url = f"{url}?{urlencode(query)}"
    if body is not None:
        kwargs.update(data=body, content_type=JSON)
    if call.form is not None:
        kwargs.update(data=call.form(target))
    return getattr(client, method.lower())(url, **kwargs)


def _problems(
    operation: tuple[str, str], call: Call, response: Any, entries: list[AuditEntry], target: Target
) -> list[str]:
    name = " ".join(operation)
    if response.status_code != call.status:
        return [f"{name}: status {response.status_code}, expected {call.status}: {response.content!r}"]
    if not call.audited:
        return [f"{name}: declared unaudited but wrote {len(entries)} entries"] if entries else []
    is_json = response.get("Content-Type", "").startswith("application/json")
    if response.streaming:  # a download streamed from the file store
        b"".join(response.streaming_content)
        is_json = False
    body = response.json() if is_json and response.content else {}  # a download is a file
    problems = []
    remaining = list(entries)
    for expect in call.expect:
        match = None
        for entry in remaining:
            if ACTION_NAMES[entry.action] != expect.action or entry.object_type != expect.object_type:
                continue
            if expect.object_id == "listed":
                listed = expect.listed or call.listed
                if entry.object_pk == "" and entry.object_ids == listed(target, body):
                    match = entry
            elif expect.object_id in ("entity", "account", "posted", "pending"):
                match = entry if entry.object_pk == str(getattr(target, expect.object_id).id) else None
            elif expect.object_id == "policy":
                match = entry if entry.object_pk == target.policy_id else None
            elif expect.object_id == "picked" and expect.pick is not None:
                match = entry if entry.object_pk == expect.pick(target, body) else None
            else:
                match = entry if entry.object_pk == _response_id(body) else None
            if match is not None:
                break
        if match is None:
            problems.append(f"{name}: no {expect} entry among {_describe(entries)}")
            continue
        remaining.remove(match)
        if match.actor_id != DEFAULT_SUB or match.actor_email is not None:  # by id only
            problems.append(f"{name}: {expect} entry names actor {match.actor_id} {match.actor_email}")
        if match.remote_addr != "127.0.0.1" or match.user_agent != "audit-walk/1":
            problems.append(f"{name}: {expect} entry lacks client IP or user agent")
    if remaining:
        problems.append(f"{name}: unexpected entries {_describe(remaining)}")
    return problems


def _describe(entries: list[AuditEntry]) -> list[tuple[str, str, str]]:
    return [(ACTION_NAMES[entry.action], entry.object_type, entry.object_pk) for entry in entries]


def test_the_table_names_every_operation_of_the_spec(admin_client: Client) -> None:
    spec = _spec_operations(admin_client)

    unknown = sorted(spec - OPERATIONS.keys())
    stale = sorted(OPERATIONS.keys() - spec)
    assert not unknown, f"operations with no audit expectation in OPERATIONS (add them): {unknown}"
    assert not stale, f"OPERATIONS names operations the API no longer has: {stale}"


def test_every_operation_writes_its_audit_entries(
    admin_client: Client, tenant_a: Organization, actor: User
) -> None:
    spec = _spec_operations(admin_client)
    assert len(spec) >= len(OPERATIONS) - 1  # the spec really was walked, not an empty document
    problems: list[str] = []

    for operation in sorted(spec):
        call = OPERATIONS.get(operation)
        if call is None:
            problems.append(f"{' '.join(operation)}: not in OPERATIONS, so not known to be audited")
            continue
        target = _target(tenant_a, actor)
        response = _call(admin_client, operation[0], _url(operation[1], target), call, target)
        request_id = response.get("X-Request-ID")
        if not request_id:
            problems.append(f"{' '.join(operation)}: no X-Request-ID header")
            continue
        with tenant_context(tenant_a):
            entries = list(AuditEntry.objects.filter(request_id=request_id).order_by("id"))
        problems.extend(_problems(operation, call, response, entries, target))

    assert not problems, "\n".join(problems)
