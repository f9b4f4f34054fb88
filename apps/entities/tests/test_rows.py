"""The entities list served from rows (``ENTITY_ROWS``, ``api.rows``) answers byte for byte what Ninja
answers through ``EntityPage``/``EntityOut`` validation, on rows of every sort: nulls, unicode, encrypted
fields set and blank, erased, restricted, whole-second and microsecond timestamps, a soft-deleted one."""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from ninja import Schema
from ninja.responses import NinjaJSONEncoder

from api.pagination import PageParams, paginate
from api.rows import RowShape
from apps.entities import services
from apps.entities.models import Entity
from apps.entities.schemas import ENTITY_ROWS, EntityOut, EntityPage
from apps.entities.tests.helpers import URL
from apps.privacy.services import subject_erase
from tenants.models import Organization, User

pytestmark = pytest.mark.django_db


def _through_schema(body: dict[str, Any], instances: list[Entity]) -> bytes:
    """What Ninja answers for this page through the schema: validate the model instances, dump, render
    with the API's JSON encoder (``ninja.operation._result_to_response``)."""
    page = {
        "items": instances,
        "count": body["count"],
        "count_exact": body["count_exact"],
        "next": body["next"],
    }
    return json.dumps(EntityPage.model_validate(page).model_dump(), cls=NinjaJSONEncoder).encode()


@pytest.fixture
def varied(tenant_a: Organization, actor: User, in_tenant: Any) -> list[Entity]:
    """Entities covering every kind of value the list shows."""
    other, _ = User.objects.get_or_create(id=uuid.UUID(int=0x5E), defaults={"email": "other@example.com"})
    with in_tenant(tenant_a):
        full = services.entity_create(
            actor=actor,
            kind="customer",
            name='Zoë Ünïcødé 東京 🚀 "quoted" \\ back',
            reference="R-ü",
            email="zoë@exämple.com",
            phone="+41 44 668 18 00",
            attributes={"note": "straße ☃", "n": 1, "f": 1.5, "nested": {"a": [1, None, "x"], "b": True}},
            tags=["vip", "eu"],
        )
        bare = services.entity_create(actor=actor, kind="supplier", name="Bare")
        erased = services.entity_create(
            actor=actor, kind="contact", name="To Erase", email="gone@example.com", phone="+41 44 668 18 01"
        )
        subject_erase(actor=actor, entity_id=erased.id)
        restricted = services.entity_create(actor=actor, kind="asset", name="Locked", email="x@example.com")
        services.entity_update(
            actor=other, entity=restricted, changes={"restricted": True, "status": "inactive"}
        )
        whole_second = services.entity_create(actor=actor, kind="customer", name="Whole second")
        Entity.objects.filter(id=whole_second.id).update(
            created_at=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
            updated_at=datetime.datetime(2026, 1, 2, 3, 4, 5, 1000, tzinfo=datetime.UTC),
            created_by=None,
        )
        deleted = services.entity_create(actor=actor, kind="customer", name="Deleted", email="d@example.com")
        services.entity_delete(actor=actor, entity=deleted)
        return list(
            Entity.objects.filter(
                id__in=[e.id for e in (full, bare, erased, restricted, whole_second, deleted)]
            )
        )


@pytest.mark.parametrize("ordering", ["-created_at", "name", "reference"])
def test_the_list_from_rows_is_byte_identical_to_the_schema_path(
    admin_client: Client, tenant_a: Organization, varied: list[Entity], in_tenant: Any, ordering: str
) -> None:
    for limit in (500, 2):
        response = admin_client.get(URL, {"limit": limit, "ordering": ordering})
        assert response.status_code == 200
        assert response["Content-Type"] == "application/json; charset=utf-8"
        body = response.json()
        with in_tenant(tenant_a):
            by_id = Entity.objects.in_bulk([item["id"] for item in body["items"]], field_name="id")
        instances = [by_id[uuid.UUID(item["id"])] for item in body["items"]]
        assert response.content == _through_schema(body, instances)
    assert len(response.json()["items"]) == 2
    assert len(admin_client.get(URL, {"limit": 500}).json()["items"]) == len(varied) - 1  # not the deleted


def test_the_rows_of_every_sort_are_covered(admin_client: Client, varied: list[Entity]) -> None:
    """The fixture really holds what the comparison is about (so it cannot pass vacuously)."""
    items = admin_client.get(URL, {"limit": 500}).json()["items"]
    assert {item["email"] for item in items} >= {None, "zoë@exämple.com"}
    assert {item["reference"] for item in items} >= {None, "R-ü"}
    assert any(item["erased_at"] for item in items) if "erased_at" in items[0] else True
    assert any(item["restricted"] for item in items)
    assert any(item["created_by"] is None for item in items)
    assert "2026-01-02T03:04:05Z" in {item["created_at"] for item in items}
    assert "2026-01-02T03:04:05.001Z" in {item["updated_at"] for item in items}


def test_dump_of_an_instance_matches_the_schema_for_every_row(
    tenant_a: Organization, varied: list[Entity], in_tenant: Any
) -> None:
    """``dump_object`` (one loaded entity, the deleted one included) against ``EntityOut``."""
    with in_tenant(tenant_a):
        for entity in Entity.objects.filter(id__in=[e.id for e in varied]):
            fast = json.dumps(ENTITY_ROWS.dump_object(entity), cls=NinjaJSONEncoder)
            slow = json.dumps(EntityOut.model_validate(entity).model_dump(), cls=NinjaJSONEncoder)
            assert fast == slow


class _NameOnly(Schema):
    id: uuid.UUID
    name: str


def test_a_shape_without_the_encrypted_fields_never_reads_them(
    tenant_a: Organization, varied: list[Entity], in_tenant: Any
) -> None:
    """Only the shape's columns are selected: an encrypted column not in it is never read, so never
    decrypted; the list's own shape reads email and phone (it shows them) but not their blind indexes."""
    with in_tenant(tenant_a), CaptureQueriesContext(connection) as queries:
        page = paginate(
            Entity.objects.order_by("name", "id"),
            page=PageParams(limit=50, cursor=None, offset=None),
            shape=RowShape(_NameOnly, model=Entity),
        )
        listed = paginate(
            Entity.objects.order_by("name", "id"),
            page=PageParams(limit=50, cursor=None, offset=None),
            shape=ENTITY_ROWS,
        )
    assert [set(item) for item in page["items"]] == [{"id", "name"}] * len(varied)
    narrow, wide = queries.captured_queries[0]["sql"], queries.captured_queries[2]["sql"]
    assert '"email"' not in narrow, narrow
    assert '"phone"' not in narrow, narrow
    assert '"email"' in wide, wide
    assert "email_index" not in wide, wide
    assert "phone_index" not in wide, wide
    assert {item["email"] for item in listed["items"]} >= {"zoë@exämple.com", None}


def test_a_schema_the_rows_cannot_render_identically_is_refused_at_build() -> None:
    class WithResolver(Schema):
        name: str

        @staticmethod
        def resolve_name(entity: Any) -> str:
            return str(entity.name).upper()

    class WithUnknownType(Schema):
        status: datetime.timedelta

    class WithUnknownColumn(Schema):
        nowhere: str

    with pytest.raises(TypeError, match="resolvers without a row function"):
        RowShape(WithResolver, model=Entity)
    with pytest.raises(TypeError, match="does not know how to render"):
        RowShape(WithUnknownType, model=Entity)
    with pytest.raises(Exception, match="nowhere"):
        RowShape(WithUnknownColumn, model=Entity)
    assert RowShape(WithResolver, model=Entity, resolvers={"name": str.upper}).dump({"name": "a"}) == {
        "name": "A"
    }


def test_json_datetime_is_the_encoders() -> None:
    from api.rows import json_datetime

    encoder = NinjaJSONEncoder()
    moments = [
        timezone.now(),
        datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        datetime.datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=datetime.UTC),
        datetime.datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    ]
    for moment in moments:
        assert json_datetime(moment) == encoder.default(moment)
