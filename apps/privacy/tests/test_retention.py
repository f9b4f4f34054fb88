"""Retention policies (admins set them) and their purge of old soft-deleted rows by apply_retention."""

from __future__ import annotations

import datetime
import io
import threading
import uuid
from collections import Counter
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context
from guardian.models import UserObjectPermission

from apps.audit.models import AuditEntry
from apps.entities import services as entity_services
from apps.entities.models import Entity, EntityRelation
from apps.entities.tests.helpers import JSON
from apps.members.services import member_seen
from apps.privacy.models import RetentionPolicy
from apps.privacy.services import PurgeResult, retention_apply, retention_policy_set
from apps.scheduling import services as scheduling
from apps.scheduling.models import Resource
from tenants.models import Organization, User
from tenants.services import tenant_provision
from tests.helpers import assert_error, lock_waiters, owner_cursor, wait_until

URL = "/api/v1/privacy/retention"
ENTITY = "entities.entity"


def policy_url(model: str = ENTITY) -> str:
    return f"{URL}/{model}"


def _policies(tenant: Organization) -> list[tuple[str, int]]:
    with tenant_context(tenant):
        return list(RetentionPolicy.objects.order_by("model").values_list("model", "days"))


# --- API -----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_sets_changes_lists_and_removes_a_policy(admin_client: Client, tenant_a: Organization) -> None:
    response = admin_client.put(policy_url(), {"days": 30}, content_type=JSON)
    assert response.status_code == 200, response.content
    assert response.json()["model"] == ENTITY
    assert response.json()["days"] == 30
    assert admin_client.put(policy_url(), {"days": 90}, content_type=JSON).json()["days"] == 90
    listed = admin_client.get(URL).json()
    assert [(item["model"], item["days"]) for item in listed["items"]] == [(ENTITY, 90)]
    assert listed["count"] == 1
    assert admin_client.delete(policy_url()).status_code == 204
    assert _policies(tenant_a) == []
    assert_error(admin_client.delete(policy_url()), 404, "retention_policy_not_found")

    with tenant_context(tenant_a):
        actions = list(
            AuditEntry.objects.filter(object_type="privacy.retentionpolicy")
            .exclude(action=AuditEntry.Action.ACCESS)
            .order_by("id")
            .values_list("action", "changes")
        )
    assert [action for action, _ in actions] == [0, 1, 2]
    assert actions[1][1]["days"] == [30, 90]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {"days": 0},
        {"days": -5},
        {"days": 36501},
        {"days": "30"},
        {"days": 1.5},
        {"days": True},
        {"days": None},
        {},
        {"days": "P30D"},
        [30],
    ],
    ids=repr,
)
def test_malformed_retention_period_is_refused(
    admin_client: Client, tenant_a: Organization, body: Any
) -> None:
    assert_error(admin_client.put(policy_url(), body, content_type=JSON), 422)
    assert _policies(tenant_a) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model", ["entities.entityrelation", "audit.auditentry", "tenants.user", "nope.nope", "x"]
)
def test_a_policy_only_covers_soft_deleted_models(
    admin_client: Client, tenant_a: Organization, model: str
) -> None:
    body = assert_error(admin_client.put(policy_url(model), {"days": 30}, content_type=JSON), 422)
    assert "entities.entity" in body["detail"]
    assert _policies(tenant_a) == []


@pytest.mark.django_db
@pytest.mark.parametrize("client_name", ["member_client", "viewer_client"])
def test_only_admins_manage_retention(client_name: str, request: Any, tenant_a: Organization) -> None:
    client: Client = request.getfixturevalue(client_name)
    assert_error(client.get(URL), 403)
    assert_error(client.put(policy_url(), {"days": 30}, content_type=JSON), 403)
    assert_error(client.delete(policy_url()), 403)
    assert _policies(tenant_a) == []


@pytest.mark.django_db
def test_policies_are_per_organization(
    admin_client: Client, client_for: Any, tenant_a: Organization, tenant_b: Organization
) -> None:
    admin_client.put(policy_url(), {"days": 30}, content_type=JSON)
    b_admin = client_for(tenant_b, ["admin"])
    assert b_admin.get(URL).json()["count"] == 0
    assert_error(b_admin.delete(policy_url()), 404)
    assert _policies(tenant_a) == [(ENTITY, 30)]


# --- Purge ---------------------------------------------------------------------------------------------


def _entity(tenant: Organization, actor: User, name: str, *, deleted_days_ago: int | None) -> Entity:
    with tenant_context(tenant):
        entity = entity_services.entity_create(actor=actor, kind="customer", name=name)
        if deleted_days_ago is not None:
            entity_services.entity_delete(actor=actor, entity=entity)
            Entity.objects.filter(id=entity.id).update(
                deleted_at=timezone.now() - datetime.timedelta(days=deleted_days_ago)
            )
        return entity


@pytest.mark.django_db
def test_purge_removes_only_soft_deleted_rows_older_than_the_policy(
    tenant_a: Organization, tenant_b: Organization, actor: User, b_actor: User
) -> None:
    live = _entity(tenant_a, actor, "Live", deleted_days_ago=None)
    recent = _entity(tenant_a, actor, "Recent", deleted_days_ago=10)
    old = _entity(tenant_a, actor, "Old", deleted_days_ago=None)
    other = _entity(tenant_a, actor, "Other", deleted_days_ago=None)
    with tenant_context(tenant_a):
        link = entity_services.entity_relation_create(
            actor=actor, source=other, target_id=old.id, kind="knows"
        )
        member_seen(tenant=tenant_a, user_id=actor.id)  # only A's users are granted
        entity_services.entity_permission_grant(actor=actor, entity=old, user_id=actor.id, permission="view")
        entity_services.entity_delete(actor=actor, entity=old)
        Entity.objects.filter(id=old.id).update(deleted_at=timezone.now() - datetime.timedelta(days=40))
        retention_policy_set(actor=actor, model=ENTITY, days=30)
    b_old = _entity(tenant_b, b_actor, "B old", deleted_days_ago=400)

    with tenant_context(tenant_a):
        [result] = retention_apply()
        assert (result.model, result.purged, result.kept) == (ENTITY, 1, [])
        assert set(Entity.objects.values_list("id", flat=True)) >= {live.id, recent.id, other.id}
        assert not Entity.objects.filter(id=old.id).exists()
        assert not EntityRelation.objects.filter(id=link.id).exists()
        assert not UserObjectPermission.objects.filter(object_pk=str(old.id)).exists()
        deletes = AuditEntry.objects.filter(object_pk=str(old.id), action=AuditEntry.Action.DELETE)
        assert deletes.filter(actor__isnull=True).exists()  # the purge, by no user
        # Safe to re-run: nothing more to do.
        assert [(r.purged, r.kept) for r in retention_apply()] == [(0, [])]
    with tenant_context(tenant_b):
        assert Entity.objects.filter(id=b_old.id).exists()  # B has no policy


@pytest.mark.django_db
def test_dry_run_counts_and_deletes_nothing(tenant_a: Organization, actor: User) -> None:
    old = _entity(tenant_a, actor, "Old", deleted_days_ago=40)
    with tenant_context(tenant_a):
        retention_policy_set(actor=actor, model=ENTITY, days=30)
        assert [r.purged for r in retention_apply(dry_run=True)] == [1]
        assert Entity.objects.filter(id=old.id).exists()


@pytest.fixture
def delta(committed_db: None) -> Organization:
    tenant = tenant_provision(
        organization_id=uuid.uuid4(), slug=f"delta-{uuid.uuid4().hex[:6]}", name="Delta", check_identity=False
    )
    actor, _ = User.objects.get_or_create(id=uuid.UUID(int=0xDE), defaults={"email": "d@example.com"})
    for days in (5, 50, 500):
        _entity(tenant, actor, f"Gone {days}", deleted_days_ago=days)
    with tenant_context(tenant):
        retention_policy_set(actor=actor, model=ENTITY, days=30)
    return tenant


def test_apply_retention_walks_every_tenant_with_progress_and_is_rerunnable(delta: Organization) -> None:
    out = io.StringIO()
    call_command("apply_retention", "--batch-size", "1", stdout=out)
    total = Organization.objects.count()
    assert f"[{total}/{total} 100%]" in out.getvalue()
    for batch in (1, 2):  # a line per committed batch, then the tenant's total
        assert f"{delta.slug}: entities.entity batch {batch}: {batch} purged so far" in out.getvalue()
    assert f"{delta.slug}: entities.entity (30 days): 2 purged" in out.getvalue()
    with tenant_context(delta):
        assert list(Entity.objects.values_list("name", flat=True)) == ["Gone 5"]

    again = io.StringIO()
    call_command("apply_retention", "--tenant", delta.slug, stdout=again)
    assert f"[1/1 100%] {delta.slug}: entities.entity (30 days): 0 purged" in again.getvalue()

    dry = io.StringIO()
    call_command("apply_retention", "--tenant", delta.slug, "--dry-run", stdout=dry)
    assert "0 would purge" in dry.getvalue()


def test_apply_retention_unknown_tenant_is_an_error(committed_db: None) -> None:
    with pytest.raises(CommandError, match="No organization"):
        call_command("apply_retention", "--tenant", "nope")


@pytest.mark.parametrize("size", ["0", "-1", "x", "1.5"])
def test_apply_retention_refuses_a_batch_size_below_one(committed_db: None, size: str) -> None:
    with pytest.raises(CommandError, match="batch-size"):
        call_command("apply_retention", "--batch-size", size)


def test_rows_still_referenced_are_kept_and_the_others_purged(delta: Organization) -> None:
    """A row another table still points at (here a table outside Django, with a restricting foreign key)
    is kept and counted; the rest of its batch is purged all the same."""
    with tenant_context(delta):
        gone_500 = Entity.objects.get(name="Gone 500")
    with owner_cursor(delta) as cursor:
        cursor.execute("CREATE TABLE keeper (entity_id uuid REFERENCES entities_entity (id))")
        cursor.execute("INSERT INTO keeper VALUES (%s)", [gone_500.id])

    with tenant_context(delta):
        [result] = retention_apply()
        assert (result.purged, result.kept) == (1, [str(gone_500.id)])
        assert sorted(Entity.objects.values_list("name", flat=True)) == ["Gone 5", "Gone 500"]


@pytest.mark.django_db
def test_a_policy_for_a_model_that_no_longer_exists_is_skipped(tenant_a: Organization, actor: User) -> None:
    old = _entity(tenant_a, actor, "Old", deleted_days_ago=40)
    with tenant_context(tenant_a):
        RetentionPolicy.objects.create(model="removed.model", days=1)
        assert retention_apply() == []
        assert Entity.objects.filter(id=old.id).exists()


def test_concurrent_first_settings_of_a_policy_all_succeed(client_for: Any, committed_db: None) -> None:
    """Many admins set the same model's first policy at once: each gets a 200, one row remains, and the
    trail holds one create and an update per other request (none is lost to a unique violation)."""
    tenant = tenant_provision(
        organization_id=uuid.uuid4(), slug=f"race-{uuid.uuid4().hex[:6]}", name="Race", check_identity=False
    )
    workers = 8
    clients = [client_for(tenant, ["admin"], sub=str(uuid.uuid4())) for _ in range(workers)]
    barrier, statuses, errors = threading.Barrier(workers), Counter[int](), []

    def put(index: int) -> None:
        try:
            barrier.wait()
            response = clients[index].put(policy_url(), {"days": 10 + index}, content_type=JSON)
            statuses[response.status_code] += 1
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=put, args=(index,)) for index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert statuses == {200: workers}
    [(model, days)] = _policies(tenant)
    assert model == ENTITY
    assert 10 <= days < 10 + workers
    with tenant_context(tenant):
        actions = Counter(
            AuditEntry.objects.filter(
                object_pk__isnull=False, content_type__model="retentionpolicy"
            ).values_list("action", flat=True)
        )
    assert actions == {AuditEntry.Action.CREATE: 1, AuditEntry.Action.UPDATE: workers - 1}


# --- Batched purge -------------------------------------------------------------------------------------


def _expired(tenant: Organization) -> list[uuid.UUID]:
    """The ids of the tenant's entities deleted over 30 days ago, as another connection sees them."""
    found: list[uuid.UUID] = []

    def count() -> None:
        try:
            with tenant_context(tenant):
                cutoff = timezone.now() - datetime.timedelta(days=30)
                found.extend(
                    Entity.objects.filter(deleted_at__lt=cutoff).order_by("id").values_list("id", flat=True)
                )
        finally:
            connections.close_all()

    thread = threading.Thread(target=count)
    thread.start()
    thread.join()
    return found


def _purge_deletes(tenant: Organization) -> Counter[str]:
    with tenant_context(tenant):
        return Counter(
            AuditEntry.objects.filter(
                object_type=ENTITY, action=AuditEntry.Action.DELETE, actor__isnull=True
            ).values_list("object_pk", flat=True)
        )


@pytest.fixture
def expired_seven(delta: Organization) -> list[uuid.UUID]:
    """Seven entities of ``delta`` past its 30-day policy (the fixture's two, and five more)."""
    actor = User.objects.get(id=uuid.UUID(int=0xDE))
    for index in range(5):
        _entity(delta, actor, f"Old {index}", deleted_days_ago=40 + index)
    expired = _expired(delta)
    assert len(expired) == 7
    return expired


def test_each_batch_commits_before_the_next_starts(
    delta: Organization, expired_seven: list[uuid.UUID]
) -> None:
    """Seven rows by batches of three: three commits, each seen by another connection at once, and no
    transaction open between them."""
    seen: list[tuple[int, int, bool]] = []

    def on_batch(result: PurgeResult) -> None:
        seen.append((result.purged, len(_expired(delta)), connection.in_atomic_block))

    with tenant_context(delta):
        [result] = retention_apply(batch_size=3, on_batch=on_batch)

    assert seen == [(3, 4, False), (6, 1, False), (7, 0, False)]
    assert (result.purged, result.batches, result.kept) == (7, 3, [])
    assert _purge_deletes(delta) == Counter({str(pk): 1 for pk in expired_seven})


def test_an_interrupted_purge_loses_nothing_and_resumes(
    delta: Organization, expired_seven: list[uuid.UUID]
) -> None:
    """A row of the second batch fails to delete (a trigger raising, as a crash would): the first batch
    stays purged, nothing of the second is done (rows and their audit entries together), and the next
    run purges the rest, each row once."""
    with owner_cursor(delta) as cursor:
        cursor.execute(
            "CREATE FUNCTION staged_crash() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'staged crash'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER staged_crash BEFORE DELETE ON entities_entity FOR EACH ROW "
            f"WHEN (OLD.id = '{expired_seven[4]}') EXECUTE FUNCTION staged_crash()"
        )

    with tenant_context(delta), pytest.raises(DatabaseError, match="staged crash"):
        retention_apply(batch_size=3)

    assert _expired(delta) == expired_seven[3:]
    assert _purge_deletes(delta) == Counter({str(pk): 1 for pk in expired_seven[:3]})

    with owner_cursor(delta) as cursor:
        cursor.execute("DROP TRIGGER staged_crash ON entities_entity")
    with tenant_context(delta):
        [result] = retention_apply(batch_size=3)
    assert (result.purged, result.batches) == (4, 2)
    assert _expired(delta) == []
    assert _purge_deletes(delta) == Counter({str(pk): 1 for pk in expired_seven})


def test_requests_of_the_organization_wait_for_one_batch_at_most(
    delta: Organization, client_for: Any
) -> None:
    """The purge's entity batch is done and its resource batch waits (on a row the test holds): a
    request of the same organization that writes to the audit trail goes through meanwhile. Before,
    the purge held the organization's audit lock from its first delete to its very end."""
    actor = User.objects.get(id=uuid.UUID(int=0xDE))
    with tenant_context(delta):
        room = scheduling.resource_create(kind="room", name="Old room", timezone="UTC")
        scheduling.resource_delete(resource=room)
        Resource.objects.filter(id=room.id).update(deleted_at=timezone.now() - datetime.timedelta(days=40))
        retention_policy_set(actor=actor, model="scheduling.resource", days=30)
    member = client_for(delta, ["member"], sub=str(uuid.uuid4()))
    outcome: dict[str, Any] = {}

    def purge() -> None:
        try:
            with tenant_context(delta):
                outcome["purge"] = retention_apply()
        finally:
            connections.close_all()

    def request() -> None:
        try:
            outcome["request"] = member.post(
                "/api/v1/entities/", {"kind": "customer", "name": "New"}, content_type=JSON
            )
        finally:
            connections.close_all()

    purging, requesting = threading.Thread(target=purge), threading.Thread(target=request)
    with tenant_context(delta), transaction.atomic():
        Resource.objects.select_for_update().get(id=room.id)  # the purge's second batch waits on it
        purging.start()
        purge_waited = wait_until(lambda: lock_waiters() == 1)
        requesting.start()
        wait_until(lambda: not requesting.is_alive() or lock_waiters() > 1)
        request_waited = requesting.is_alive()
    requesting.join(30)
    purging.join(30)

    assert purge_waited, "the purge never reached the locked row: the race was not staged"
    assert not request_waited, "the request waited for the purge"
    assert outcome["request"].status_code == 201, outcome["request"].content
    assert [(r.model, r.purged) for r in outcome["purge"]] == [(ENTITY, 2), ("scheduling.resource", 1)]
