"""What can be exported: each tenant list endpoint whose rows make sense in a file, mapped to the SAME
selector call, the SAME filter schema and the SAME item schema (the columns) as the list itself.

So an export with some filters holds exactly the rows the list answers with those filters, for the
same caller: the viewer-aware selectors apply the same visibility (restricted entities for admins and
granted users only). A list scoped to a parent (an entity's relations, a report's runs) takes the
parent's id as a filter (``entity_id``, ``report_id``), and the parent must be visible to the caller.

``EXCLUDED`` names every tenant list endpoint that is not exportable, with the reason;
``tests/test_registry.py`` walks the tenant API and fails on a list endpoint in neither.

Personal columns: for a caller who is not an admin, the columns naming a field of the model's
``PERSONAL_FIELDS`` are left out of the file (``columns_for``), except those in ``SHOWN_TO_ALL``.
"""

from __future__ import annotations

import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet
from ninja import Schema

from api.pagination import Page, PageParams
from api.rows import RowShape
from apps.audit import selectors as audit_selectors
from apps.audit.models import ACTION_CODES, AuditEntry
from apps.audit.schemas import AuditFilter, AuditPage
from apps.deliveries import selectors as delivery_selectors
from apps.deliveries.models import Delivery
from apps.deliveries.schemas import DeliveryFilter, DeliveryPage
from apps.entities import selectors as entity_selectors
from apps.entities.models import Entity, EntityKind, EntityRelation
from apps.entities.schemas import ENTITY_ROWS, EntityFilter, EntityPage, KindPage, RelationPage
from apps.entities.selectors import EntityViewer
from apps.ledger import selectors as ledger_selectors
from apps.ledger.models import Account, Transaction
from apps.ledger.schemas import AccountFilter, AccountPage, TransactionFilter, TransactionPage
from apps.members import selectors as member_selectors
from apps.members.models import Member
from apps.members.schemas import MemberFilter, MemberPage
from apps.notifications import selectors as notification_selectors
from apps.notifications.models import AlertRule, Notification
from apps.notifications.schemas import InboxFilter, NotificationPage, RuleFilter, RulePage
from apps.privacy import selectors as privacy_selectors
from apps.privacy.models import RetentionPolicy
from apps.privacy.schemas import RetentionPage
from apps.reports import selectors as report_selectors
from apps.reports.models import Report, ReportRun
from apps.reports.schemas import ReportPage, RunPage
from apps.scheduling import selectors as scheduling_selectors
from apps.scheduling.models import Booking, Resource
from apps.scheduling.schemas import (
    BOOKING_ROWS,
    RESOURCE_ROWS,
    BookingFilter,
    BookingPage,
    ResourceFilter,
    ResourcePage,
)

# Personal fields every role that reads the list may export: an entity's name is what the list
# identifies it by (a customer's, a supplier's); contact fields, references, attributes and tags are
# admins' only.
SHOWN_TO_ALL = frozenset({"name"})

Rows = Callable[[Any, EntityViewer], QuerySet[Any]]


class RelationExportFilter(PageParams):
    """The relations list's query, with its path's entity as a filter."""

    entity_id: uuid.UUID


class RunExportFilter(PageParams):
    """The report runs list's query, with its path's report as a filter."""

    report_id: uuid.UUID


@dataclass(frozen=True)
class Exportable:
    """One exportable list: its OpenAPI path (under ``/api/v1``), the role its endpoint needs, its
    filter schema, its page schema (the items' schema gives the columns), the model its rows are, the
    selector call, and the row shape the list reads it with (if any)."""

    name: str
    path: str
    role: str
    filters: type[PageParams]
    page: type[Page]
    model: type[Model]
    rows: Rows
    shape: RowShape | None = None

    @property
    def item(self) -> type[Schema]:
        annotation = self.page.model_fields["items"].annotation
        return typing.cast(type[Schema], typing.get_args(annotation)[0])

    @property
    def columns(self) -> list[str]:
        return list(self.item.model_fields)

    def columns_for(self, *, is_admin: bool) -> list[str]:
        """The columns of the file for this caller: personal ones only for admins."""
        if is_admin:
            return self.columns
        personal = set(getattr(self.model, "PERSONAL_FIELDS", ())) - SHOWN_TO_ALL
        return [column for column in self.columns if column not in personal]

    def filter_keys(self) -> set[str]:
        """The names a client may send in ``filters``: the schema's fields (by their alias) that are
        not paging parameters."""
        paging = set(PageParams.model_fields)
        return {info.alias or name for name, info in self.filters.model_fields.items() if name not in paging}


def _entities(f: Any, viewer: EntityViewer) -> QuerySet[Any]:
    return entity_selectors.entity_list(
        viewer=viewer,
        kind=f.kind,
        status=f.status,
        tag=f.tag,
        q=f.q,
        email=f.email,
        phone=f.phone,
        ordering=f.ordering,
    )


def _relations(f: Any, viewer: EntityViewer) -> QuerySet[Any]:
    entity = entity_selectors.entity_get(entity_id=f.entity_id, viewer=viewer)
    return entity_selectors.entity_relation_list(entity=entity, viewer=viewer)


def _accounts(f: Any, viewer: EntityViewer) -> QuerySet[Any]:
    return ledger_selectors.account_list(
        archived=f.archived, currency=f.currency, type=f.type, with_balance=f.includes("balance")
    )


def _transactions(f: Any, viewer: EntityViewer) -> QuerySet[Any]:
    return ledger_selectors.transaction_list(
        account_id=f.account,
        entity_id=f.entity,
        viewer=viewer,
        state=f.state,
        date_from=f.date_from,
        date_to=f.date_to,
        reference=f.reference,
    )


def _bookings(f: Any, viewer: EntityViewer) -> QuerySet[Any]:
    return scheduling_selectors.booking_list(
        resource_id=f.resource, start=f.start, end=f.end, status=f.status, series_id=f.series
    )


def _audit_entries(f: Any, viewer: EntityViewer) -> QuerySet[Any]:
    return audit_selectors.audit_entry_list(
        actor=f.actor,
        action=ACTION_CODES[f.action] if f.action else None,
        object_type=f.object_type,
        object_id=f.object_id,
        since=f.since,
        until=f.until,
    )


RESOURCES: dict[str, Exportable] = {
    resource.name: resource
    for resource in (
        Exportable(
            "entities", "/entities/", "viewer", EntityFilter, EntityPage, Entity, _entities, ENTITY_ROWS
        ),
        Exportable(
            "entity_kinds",
            "/entities/kinds",
            "viewer",
            PageParams,
            KindPage,
            EntityKind,
            lambda f, v: entity_selectors.entity_kind_list(),
        ),
        Exportable(
            "entity_relations",
            "/entities/{entity_id}/relations",
            "viewer",
            RelationExportFilter,
            RelationPage,
            EntityRelation,
            _relations,
        ),
        Exportable(
            "ledger_accounts",
            "/transactions/accounts",
            "viewer",
            AccountFilter,
            AccountPage,
            Account,
            _accounts,
        ),
        Exportable(
            "transactions",
            "/transactions/",
            "viewer",
            TransactionFilter,
            TransactionPage,
            Transaction,
            _transactions,
        ),
        Exportable(
            "scheduling_resources",
            "/scheduling/resources",
            "viewer",
            ResourceFilter,
            ResourcePage,
            Resource,
            lambda f, v: scheduling_selectors.resource_list(kind=f.kind),
            RESOURCE_ROWS,
        ),
        Exportable(
            "bookings",
            "/scheduling/bookings",
            "viewer",
            BookingFilter,
            BookingPage,
            Booking,
            _bookings,
            BOOKING_ROWS,
        ),
        Exportable(
            "members",
            "/members/",
            "admin",
            MemberFilter,
            MemberPage,
            Member,
            lambda f, v: member_selectors.member_list(role=f.role),
        ),
        Exportable("audit_entries", "/audit/", "admin", AuditFilter, AuditPage, AuditEntry, _audit_entries),
        Exportable(
            "deliveries",
            "/notifications/deliveries/",
            "admin",
            DeliveryFilter,
            DeliveryPage,
            Delivery,
            lambda f, v: delivery_selectors.delivery_list(
                status=f.status, target=f.target, channel=f.channel
            ),
        ),
        Exportable(
            "alert_rules",
            "/notifications/rules",
            "admin",
            RuleFilter,
            RulePage,
            AlertRule,
            lambda f, v: notification_selectors.rule_list(event_type=f.event_type, enabled=f.enabled),
        ),
        Exportable(
            "notifications",
            "/notifications/",
            "viewer",
            InboxFilter,
            NotificationPage,
            Notification,
            lambda f, v: notification_selectors.notification_list(user_id=v.user_id, unread=f.unread),
        ),
        Exportable(
            "retention_policies",
            "/privacy/retention",
            "admin",
            PageParams,
            RetentionPage,
            RetentionPolicy,
            lambda f, v: privacy_selectors.retention_policy_list(),
        ),
        Exportable(
            "reports",
            "/analytics/reports",
            "viewer",
            PageParams,
            ReportPage,
            Report,
            lambda f, v: report_selectors.report_list(),
        ),
        Exportable(
            "report_runs",
            "/analytics/reports/{report_id}/runs",
            "viewer",
            RunExportFilter,
            RunPage,
            ReportRun,
            lambda f, v: report_selectors.run_list(report_id=f.report_id),
        ),
    )
}

# Tenant list endpoints (OpenAPI paths under /api/v1) that are not exportable, and why.
EXCLUDED: dict[str, str] = {
    "/entities/{entity_id}/permissions": "access grants, not business data: managed per entity by admins",
    "/transactions/accounts/{account_id}/statement": (
        "a running balance carried page to page by the cursor; the same postings are in the "
        "transactions export"
    ),
    "/exports/": "the exports themselves: metadata of files, not data",
    "/imports/": "the imports themselves: metadata of uploaded files, not data",
    "/imports/{import_id}/issues": "the validation report of one upload, read while fixing it",
}
