"""``POST /api/platform/v1/tenants/{organization_id}/archive`` and its status and download: platform
admins only, a real worker writes the archive, wrapped for the caller's RSA key (nothing that opens it is
stored), and the file expires."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from procrastinate.contrib.django.models import ProcrastinateJob

from hub.files import file_store
from tenants.archive.container import archive_records, rsa_key_source
from tenants.archive.services import archive_expire
from tenants.models import Organization, PlatformAuditEntry
from tests.helpers import assert_error
from tests.jobs import jobs_run
from tests.query_counts import assert_statements

BASE = "/api/platform/v1/tenants"
PLATFORM_ADMIN = uuid.UUID(int=0x1234)  # the ``sub`` of conftest's tokens
PRIVATE = rsa.generate_private_key(public_exponent=65537, key_size=3072)
PUBLIC_PEM = (
    PRIVATE.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
PRIVATE_PEM = PRIVATE.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


def _request(client: Client, organization_id: uuid.UUID, **body: Any) -> Any:
    return client.post(
        f"{BASE}/{organization_id}/archive",
        {"public_key": PUBLIC_PEM, **body},
        content_type="application/json",
    )


@pytest.mark.django_db
def test_only_platform_admins_may_archive(
    client_for: Any, admin_client: Client, tenant_a: Organization
) -> None:
    for client in (client_for(None, ["admin"]), client_for(None, None)):
        assert _request(client, tenant_a.organization_id).status_code in (401, 403)
    assert _request(admin_client, tenant_a.organization_id).status_code in (401, 403, 404)
    assert not ProcrastinateJob.objects.filter(task_name="tenants.archive_write").exists()


@pytest.mark.django_db
def test_unknown_organization_and_bad_keys_are_refused(
    platform_client: Client, tenant_a: Organization
) -> None:
    assert_error(_request(platform_client, uuid.uuid4()), 404, "tenant_not_found")
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    assert_error(
        _request(platform_client, tenant_a.organization_id, public_key=pem), 422, "archive_key_invalid"
    )
    assert_error(
        _request(platform_client, tenant_a.organization_id, public_key="not a key"),
        422,
        "archive_key_invalid",
    )
    unknown = platform_client.get(f"{BASE}/{tenant_a.organization_id}/archives/{uuid.uuid4()}")
    assert_error(unknown, 404, "archive_not_found")
    assert not ProcrastinateJob.objects.filter(task_name="tenants.archive_write").exists()


@pytest.mark.usefixtures("job_queue")
def test_a_worker_writes_the_archive_which_only_the_private_key_opens_then_it_expires(
    platform_client: Client, settings: Any
) -> None:
    # The session's organizations, outside the per-test transaction: the worker must see the job.
    tenant_a, tenant_b = Organization.objects.get(slug="alpha"), Organization.objects.get(slug="beta")
    response = _request(platform_client, tenant_a.organization_id)
    assert response.status_code == 202, response.content
    archive = response.json()
    assert archive["status"] == "pending"
    job = ProcrastinateJob.objects.get(task_name="tenants.archive_write")
    assert set(job.args) == {"organization_id", "archive_id", "public_key", "requested_at"}  # no secret
    status_url = f"{BASE}/{tenant_a.organization_id}/archives/{archive['id']}"
    assert_error(platform_client.get(f"{status_url}/download"), 409, "archive_not_ready")

    jobs_run(queues=["archives"])
    ready = assert_statements(lambda: platform_client.get(status_url), 6, status=200).json()
    assert ready["status"] == "ready", ready
    # Another organization's path never reaches it.
    other = f"{BASE}/{tenant_b.organization_id}/archives/{archive['id']}"
    assert_error(platform_client.get(other), 404, "archive_not_found")
    assert_error(platform_client.get(f"{other}/download"), 404, "archive_not_found")

    download = platform_client.get(f"{status_url}/download")
    assert download.status_code == 200
    data = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    assert len(data) == ready["bytes"]
    # The request and the download are in the platform's trail, naming the platform admin by id.
    trail = PlatformAuditEntry.objects.filter(
        organization_id=tenant_a.organization_id, changes__archive_id=[None, archive["id"]]
    )
    assert sorted(trail.values_list("action", "actor_id")) == [
        ("archive", PLATFORM_ADMIN),
        ("archive_download", PLATFORM_ADMIN),
    ]
    records = list(archive_records(io.BytesIO(data), rsa_key_source(PRIVATE_PEM)))
    assert records[0]["organization"]["organization_id"] == str(tenant_a.organization_id)
    assert b"PRIVATE" not in data
    assert PRIVATE_PEM not in data

    # Its time up (the expiry job, due at once with a TTL of 0): the file is gone, 410.
    settings.HUB_ARCHIVE_TTL_SECONDS = 0
    response = _request(platform_client, tenant_a.organization_id)
    jobs_run(queues=["archives", "maintenance"])
    expired_url = f"{BASE}/{tenant_a.organization_id}/archives/{response.json()['id']}"
    assert platform_client.get(expired_url).json()["status"] == "expired"
    assert_error(platform_client.get(f"{expired_url}/download"), 410, "archive_expired")
    assert not file_store().exists(f"{tenant_a.organization_id}/archives/{response.json()['id']}.hubarchive")
    archive_expire(organization_id=tenant_a.organization_id, archive_id=uuid.UUID(archive["id"]))
