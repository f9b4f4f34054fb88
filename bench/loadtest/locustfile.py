"""The users of ``make loadtest`` (run by ``bench/loadtest/run.py``; not meant to be started by hand).

Each simulated user is one person of one organization with its own access token (no roles in it: the
role is its membership, as the identity service issues tokens), thinking 1 to 5 seconds between two
requests. About 80 % of what they do reads (entity lists, searches, detail reads, balances, bookings,
the calendar, free slots) and 20 % writes (entities created and updated, transfers posted with an
``Idempotency-Key``, bookings; a ``409 booking_conflict`` is an expected answer, counted apart).

Every response is recorded by ``request_record`` (operation, milliseconds, outcome) and written at the
end to ``LOADTEST_SAMPLES`` for ``run.py`` to summarise: locust's own statistics round percentiles.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from locust import FastHttpUser, between, events, task

PLAN = json.loads(open(os.environ["LOADTEST_PLAN"]).read())  # noqa: SIM115 - read once at import
SAMPLES_PATH = os.environ["LOADTEST_SAMPLES"]
SAMPLES: dict[str, list[list[Any]]] = {}  # operation -> [[milliseconds, outcome], ...]
USER_SEATS = itertools.count()
SEARCH_WORDS = ["acme", "blue", "logistics", "nova", "foods", "labs", "prime", "harbor", "works", "delta"]
DAY = timedelta(days=1)


@events.request.add_listener
def request_record(
    request_type: str,
    name: str,
    response_time: float,
    response: Any,
    exception: Any,
    context: Any,
    **kwargs: Any,
) -> None:
    """``ok``, ``conflict`` (an expected 409), ``http_<status>`` or the exception's name."""
    status = getattr(response, "status_code", 0) or 0
    if exception is None:
        outcome = "conflict" if status == 409 else "ok"
    elif status:
        outcome = f"http_{status}"
    else:
        outcome = type(exception).__name__
    SAMPLES.setdefault(name, []).append([round(response_time, 2), outcome])


@events.quitting.add_listener
def samples_write(environment: Any, **kwargs: Any) -> None:
    with open(SAMPLES_PATH, "w") as out:
        json.dump(SAMPLES, out)


class FrontendUser(FastHttpUser):
    wait_time = between(1, 5)
    # One connection per user, as a browser tab keeps one to its API; kept alive between requests.
    concurrency = 1
    network_timeout = 60.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        seat = next(USER_SEATS)
        users = PLAN["users"]
        self.person = users[seat % len(users)]
        self.tenant = PLAN["tenants"][self.person["tenant"]]
        self.rng = random.Random(seat)
        self.headers = {"Host": self.tenant["host"], "Authorization": f"Bearer {self.person['token']}"}
        self.mine: list[str] = []  # entities this user created, updated later

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, headers=self.headers, name=name, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    def _send(
        self, method: str, path: str, name: str, body: dict[str, Any], expected: int, **extra: str
    ) -> Any:
        headers = {**self.headers, **extra}
        with self.client.request(
            method, path, headers=headers, json=body, name=name, catch_response=True
        ) as response:
            if response.status_code == expected:
                return response
            if (
                response.status_code == 409
                and name == "booking create"
                and "booking_conflict" in response.text
            ):
                response.success()  # someone else took the slot: what a real user meets too
                return None
            response.failure(f"{response.status_code}: {response.text[:200]}")
            return None

    def _entity(self) -> str:
        if self.mine and self.rng.random() < 0.3:
            return self.rng.choice(self.mine)
        return self.rng.choice(self.tenant["entities"])

    def _window(self) -> tuple[str, str]:
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start += DAY * self.rng.randrange(1, 30)
        return start.isoformat().replace("+00:00", "Z"), (start + DAY * 7).isoformat().replace("+00:00", "Z")

    # --- reads: 80 ------------------------------------------------------------------------------

    @task(20)
    def entity_list(self) -> None:
        offset = self.rng.choice([0, 0, 0, 50, 100])
        self._get(f"/api/v1/entities/?limit=50&offset={offset}", "entity list")

    @task(12)
    def entity_search(self) -> None:
        self._get(f"/api/v1/entities/?limit=20&q={self.rng.choice(SEARCH_WORDS)}", "entity search")

    @task(14)
    def entity_detail(self) -> None:
        self._get(f"/api/v1/entities/{self._entity()}", "entity detail")

    @task(10)
    def account_balance(self) -> None:
        account = self.rng.choice(self.tenant["accounts"])
        self._get(f"/api/v1/transactions/accounts/{account}/balance", "account balance")

    @task(8)
    def booking_list(self) -> None:
        start, end = self._window()
        resource = self.rng.choice(self.tenant["resources"])
        self._get(
            f"/api/v1/scheduling/bookings?resource={resource}&from={start}&to={end}&limit=50", "booking list"
        )

    @task(6)
    def calendar(self) -> None:
        start, end = self._window()
        self._get(f"/api/v1/scheduling/calendar?from={start}&to={end}", "calendar")

    @task(10)
    def free_slots(self) -> None:
        start, end = self._window()
        resource = self.rng.choice(self.tenant["resources"])
        path = f"/api/v1/scheduling/availability?resource={resource}&from={start}&to={end}&duration=30"
        self._get(path, "free slots")

    # --- writes: 20 -----------------------------------------------------------------------------

    @task(6)
    def entity_create(self) -> None:
        body = {
            "kind": "customer",
            "name": f"Loadtest {self.rng.choice(SEARCH_WORDS).title()} {uuid.uuid4().hex[:8]}",
            "tags": ["loadtest"],
            "attributes": {"source": "loadtest"},
        }
        response = self._send("POST", "/api/v1/entities/", "entity create", body, 201)
        if response is not None:
            self.mine.append(response.json()["id"])

    @task(5)
    def entity_update(self) -> None:
        body = {"status": self.rng.choice(["active", "inactive"]), "tags": ["loadtest", "updated"]}
        self._send("PATCH", f"/api/v1/entities/{self._entity()}", "entity update", body, 200)

    @task(5)
    def transfer(self) -> None:
        source, target = self.rng.sample(self.tenant["accounts"], 2)
        amount = f"{self.rng.randrange(1, 10_000) / 100:.2f}"
        body = {
            "description": "Loadtest transfer",
            "currency": "EUR",
            "postings": [
                {"account_id": target, "amount": amount},
                {"account_id": source, "amount": f"-{amount}"},
            ],
        }
        self._send(
            "POST", "/api/v1/transactions/", "transfer", body, 201, **{"Idempotency-Key": uuid.uuid4().hex}
        )

    @task(4)
    def booking_create(self) -> None:
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + DAY * self.rng.randrange(
            1, 60
        )
        start = day + timedelta(hours=8, minutes=30 * self.rng.randrange(0, 20))  # 08:00-18:00 UTC
        body = {
            "resource_id": self.rng.choice(self.tenant["resources"]),
            "start": start.isoformat().replace("+00:00", "Z"),
            "end": (start + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
        }
        self._send("POST", "/api/v1/scheduling/bookings", "booking create", body, 201)
