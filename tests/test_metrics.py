"""``GET /metrics`` (hub.metrics): per-route counts and latency with bounded labels, the token that
guards it, scrape-time gauge hooks, and the sums over gunicorn's worker processes."""

from __future__ import annotations

import http.client
import os
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from gunicorn import util as gunicorn_util
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from hub import metrics
from tenants.models import Organization
from tests.helpers import assert_error, gunicorn_serving

METRICS_TOKEN = "metrics-token-for-the-tests-4f1c9a"
ENTITIES = "/api/v1/entities/"


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels``."""
    return sum(
        value
        for sample_name, sample_labels, value in _samples(text)
        if sample_name == name and labels.items() <= sample_labels.items()
    )


@pytest.fixture
def scrape(settings: Any) -> Callable[[], str]:
    settings.HUB_METRICS_TOKEN = METRICS_TOKEN
    client = Client()

    def read() -> str:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/plain")
        return response.content.decode()

    return read


def test_requests_are_counted_by_route_not_by_path_or_tenant(
    scrape: Callable[[], str], viewer_client: Client, admin_client: Client, tenant_a: Organization
) -> None:
    body = {"kind": "customer", "name": "Acme"}
    created = admin_client.post(ENTITIES, body, content_type="application/json")
    assert created.status_code == 201, created.content
    detail = f"{ENTITIES}{created.json()['id']}"
    before = scrape()
    for _ in range(3):
        assert viewer_client.get(ENTITIES).status_code == 200
    assert viewer_client.get(detail).status_code == 200
    assert viewer_client.post(ENTITIES, {}, content_type="application/json").status_code == 403
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("hub_http_requests_total", route="api/v1/entities/", method="GET", status="200") == 3
    assert delta("hub_http_requests_total", route="api/v1/entities/", method="POST", status="403") == 1
    assert delta("hub_http_request_duration_seconds_count", route="api/v1/entities/", method="GET") == 3
    detail_routes = {
        labels["route"]
        for name, labels, _ in _samples(after)
        if name == "hub_http_requests_total" and labels["route"].startswith("api/v1/entities/<")
    }
    assert detail_routes, "the detail read is counted under its URL pattern"
    every_label = {value for _, labels, _ in _samples(after) for value in labels.values()}
    assert not any(created.json()["id"] in value for value in every_label), "a raw path became a label"
    assert tenant_a.slug not in every_label


def test_unknown_paths_and_methods_do_not_make_new_labels(
    scrape: Callable[[], str], viewer_client: Client
) -> None:
    for index in range(5):
        viewer_client.get(f"/no/such/path/{index}")
    viewer_client.generic("BREW", ENTITIES)
    after = scrape()
    routes = {labels["route"] for name, labels, _ in _samples(after) if name == "hub_http_requests_total"}
    assert not any(route.startswith("/no/such") for route in routes)
    assert "unmatched" in routes
    methods = {labels["method"] for name, labels, _ in _samples(after) if name == "hub_http_requests_total"}
    assert "BREW" not in methods
    assert "other" in methods


def test_probes_are_routes_of_their_own(scrape: Callable[[], str]) -> None:
    before = scrape()
    assert Client().get("/healthz").status_code == 200
    after = scrape()
    assert (
        _value(after, "hub_http_requests_total", route="healthz")
        - _value(before, "hub_http_requests_total", route="healthz")
        == 1
    )
    assert _value(after, "hub_http_requests_total", route="metrics") >= 1


def test_metrics_are_off_without_a_token(settings: Any) -> None:
    settings.HUB_METRICS_TOKEN = None
    assert_error(Client().get("/metrics"), 404, "not_found")
    assert_error(Client().get("/metrics", headers={"Authorization": "Bearer "}), 404, "not_found")


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {METRICS_TOKEN}", METRICS_TOKEN])
def test_metrics_need_the_bearer_token(settings: Any, authorization: str | None) -> None:
    settings.HUB_METRICS_TOKEN = METRICS_TOKEN
    headers = {"Authorization": authorization} if authorization else {}
    response = Client().get("/metrics", headers=headers)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_gauge_hooks_are_read_at_scrape_time(scrape: Callable[[], str]) -> None:
    depth: dict[tuple[str, ...], float] = {("notifications",): 4.0, ("reports",): 0.0}

    def broken() -> float:
        raise RuntimeError("the jobs table is not there yet")

    metrics.gauge_hook_register(
        name="hub_jobs_queue_depth", documentation="Jobs waiting.", read=lambda: depth, labelnames=["queue"]
    )
    metrics.gauge_hook_register(name="hub_audit_seal_lag_seconds", documentation="Lag.", read=broken)
    try:
        text = scrape()
        assert _value(text, "hub_jobs_queue_depth", queue="notifications") == 4
        assert ("hub_jobs_queue_depth", {"queue": "reports"}, 0.0) in _samples(text)
        assert "hub_audit_seal_lag_seconds" not in text  # left out, the rest served
        depth[("notifications",)] = 1.0
        assert _value(scrape(), "hub_jobs_queue_depth", queue="notifications") == 1
    finally:
        metrics.gauge_hook_unregister(name="hub_jobs_queue_depth")
        metrics.gauge_hook_unregister(name="hub_audit_seal_lag_seconds")
    assert "hub_jobs_queue_depth" not in scrape()


# gunicorn with two workers, as `make run` and the image start it: the counts of both add up.


def _get(port: int, path: str, **headers: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        # A new connection each time: the kernel hands it to either worker.
        connection.request("GET", path, headers={"Host": "localhost", "Connection": "close", **headers})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _readyz_by_worker(folder: Path) -> dict[str, float]:
    counts = {}
    for file in folder.glob("counter_*.db"):
        counts[file.stem] = sum(
            sample.value
            for family in MultiProcessCollector.merge([str(file)])
            for sample in family.samples
            if sample.name == "hub_http_requests_total" and sample.labels["route"] == "readyz"
        )
    return counts


@pytest.mark.usefixtures("django_db_setup")
def test_two_gunicorn_workers_counts_add_up(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "HUB_METRICS_TOKEN": METRICS_TOKEN,
        "HUB_DB_POOL": "1",
        "HUB_DB_POOL_MAX": "3",
        "HUB_LOG_LEVEL": "WARNING",
    }
    with gunicorn_serving(environment, workers=2) as port:
        sent = 0
        # Until each worker has answered some: which worker accepts a connection is the kernel's choice.
        while sent < 400 and sum(count > 0 for count in _readyz_by_worker(tmp_path).values()) < 2:
            _get(port, "/readyz")
            sent += 1
        by_worker = _readyz_by_worker(tmp_path)
        assert sum(count > 0 for count in by_worker.values()) == 2, by_worker
        status, text = _get(port, "/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
    assert status == 200, text
    assert sum(by_worker.values()) == sent
    assert _value(text, "hub_http_requests_total", route="readyz") == sent
    # Each worker's pool (HUB_DB_POOL_MAX=3), alive now: the gauges of both add up too.
    assert _value(text, "hub_db_pool_connections", state="max") == 6
    assert _value(text, "hub_db_pool_connections", state="open") >= 2


def test_gunicorn_conf_gives_the_workers_a_private_metrics_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    # Recorded as unset first, so the folder on_starting puts in os.environ is removed after the test
    # (a leftover would send every later subprocess to a folder on_exit deleted).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setattr(gunicorn_util, "write_error", gunicorn_util.write_error)  # the file replaces it
    conf = runpy.run_path(str(Path(__file__).resolve().parent.parent / "platform" / "gunicorn.conf.py"))
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # reading the file sets nothing
    conf["on_starting"](None)
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert folder.is_dir()
    (folder / "counter_1.db").write_bytes(b"")
    conf["on_starting"](None)  # a restart of the master starts from zero
    assert not list(folder.iterdir())
    conf["on_exit"](None)
    assert not folder.exists()
