"""Throughput and latency of ``GET /api/v1/entities/?limit=50``, with and without the isolation layers.

``make bench`` (or ``.venv/bin/python bench/entities_list.py --help``); ``bench/README.md`` explains
what is measured and how to read it. In short:

1. prepare a database of its own (embedded ``hub_bench`` unless ``DATABASE_URL`` is set): migrate,
   provision the ``bench`` (10,000 live entities) and ``bench2`` organizations, seed them once;
2. start one gunicorn per variant (``hub``, ``hub_noaudit``, ``bare_rls``, ``bare``) as production does
   (``platform/gunicorn.conf.py``), check one answer from each and warm them up; then, for 1, 16 and
   64 concurrent keep-alive clients, load each variant in turn for a fixed duration; stop them all
   at the end, whatever happens;
3. print a table and write ``bench/results/entities_list.json``, with the isolation overhead as
   ratios (hub p95 / bare p95, bare rps / hub rps) per concurrency level, and the cost of read
   auditing as hub against hub_noaudit (the same Hub with ``HUB_AUDIT_READS=0``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
RESULTS_FILE = RESULTS_DIR / "entities_list.json"
WRK_SCRIPT = BENCH_DIR / "wrk_report.lua"
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
PYTHON = str(VENV_BIN / "python")
GUNICORN = str(VENV_BIN / "gunicorn")
GUNICORN_CONF = "platform/gunicorn.conf.py"

BENCH_DATABASE = "hub_bench"
REQUEST_PATH = "/api/v1/entities/?limit=50"
PAGE_SIZE = 50
DEFAULT_LEVELS = (1, 16, 64)
WRK_MAX_THREADS = 2  # one per core at most: wrk shares the machine with the server
HTTP_TIMEOUT_SECONDS = 10.0
QUIET_BUSY_CORES = 0.3  # busy cores under which the machine counts as quiet before a level
OTHER_BUSY_CORES = 0.25  # CPU used by neither the bench nor its database above which figures are suspect
SERVER_START_TIMEOUT_SECONDS = 60.0
SETTLED_CPU_SECONDS = 0.02  # gunicorn CPU per half second under which it is idle again (2 ticks)


@dataclass(frozen=True)
class BenchTenant:
    slug: str
    organization_id: uuid.UUID
    name: str
    live: int
    deleted: int


BENCH_TENANT = BenchTenant("bench", uuid.UUID("00000000-0000-4000-8000-0000000be001"), "Bench", 10_000, 200)


def bench_tenant(entities: int) -> BenchTenant:
    """The measured organization: ``bench`` (10,000 live entities) or, for another size, an organization
    of its own (``bench100000``...), so the sizes sit side by side in one database and a run of one
    size never reseeds another."""
    if entities == BENCH_TENANT.live:
        return BENCH_TENANT
    return BenchTenant(
        f"bench{entities}",
        uuid.uuid5(BENCH_TENANT.organization_id, str(entities)),
        f"Bench {entities:,}",
        entities,
        entities // 50,
    )


# A neighbour, so host routing picks among several organizations and a cross-tenant call can be refused.
NEIGHBOUR_TENANT = BenchTenant("bench2", uuid.UUID("00000000-0000-4000-8000-0000000be002"), "Bench 2", 25, 0)


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    settings_module: str
    env: dict[str, str] = field(default_factory=dict)


class BenchError(Exception):
    """The bench cannot give meaningful figures; the message says why."""


# --- Environment and preparation -----------------------------------------------------------------


def bench_env() -> dict[str, str]:
    """The environment of every subprocess: the bench's own database, dev settings, production logs."""
    env = dict(os.environ)
    env["HUB_ENV"] = "dev"
    if not env.get("DATABASE_URL"):
        env["HUB_EMBEDDED_DATABASE"] = BENCH_DATABASE
    env.setdefault("HUB_LOG_FORMAT", "json")  # as in production: one JSON access line per request
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def database_name(env: dict[str, str]) -> str | None:
    url = env.get("DATABASE_URL")
    if not url:
        return BENCH_DATABASE
    return urlsplit(url).path.lstrip("/") or None


def run(args: list[str], env: dict[str, str], *, what: str, timeout: float = 600) -> str:
    """Run a command in the project root; its stdout, or BenchError with its output."""
    completed = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()[-3000:]
        raise BenchError(f"{what} failed (exit {completed.returncode}):\n{output}")
    return completed.stdout


def prepare(env: dict[str, str], measured: BenchTenant) -> dict[str, Any]:
    """Migrate, provision the bench organizations when missing, seed them when not seeded."""
    started = time.monotonic()
    log("preparing the bench database: migrate_schemas ...")
    run([PYTHON, "manage.py", "migrate_schemas"], env, what="migrate_schemas")
    tenants = [measured, NEIGHBOUR_TENANT]
    listing = [PYTHON, "-m", "bench.prepare", "tenants", *[tenant.slug for tenant in tenants]]
    existing = json.loads(run(listing, env, what="listing tenants"))
    for tenant in tenants:
        if existing.get(tenant.slug) is None:
            log(f"provisioning organization {tenant.slug} ...")
            provision = [PYTHON, "manage.py", "provision_tenant", "--skip-identity-check"]
            provision += ["--organization-id", str(tenant.organization_id)]
            provision += ["--slug", tenant.slug, "--name", tenant.name]
            run(provision, env, what=f"provision_tenant {tenant.slug}")
    seeded: dict[str, Any] = {}
    for tenant in tenants:
        seed = [PYTHON, "-m", "bench.prepare", "seed", "--slug", tenant.slug]
        seed += ["--live", str(tenant.live), "--deleted", str(tenant.deleted)]
        seeded[tenant.slug] = json.loads(run(seed, env, what=f"seeding {tenant.slug}"))
        info = seeded[tenant.slug]
        state = "seeded now" if info["seeded_now"] else "already seeded"
        log(f"  {tenant.slug}: {info['live']:,} live entities, {info['total']:,} rows ({state})")
    log(f"prepared in {time.monotonic() - started:.1f}s")
    return seeded


def token_mint(env: dict[str, str], slug: str, role: str = "viewer") -> str:
    token = run(
        [PYTHON, "manage.py", "mint_dev_token", "--tenant", slug, "--roles", role, "--ttl", "3600"],
        env,
        what="mint_dev_token",
    ).strip()
    if token.count(".") != 2:
        raise BenchError(f"mint_dev_token printed something that is not a JWT: {token[:80]!r}")
    return token


# --- Servers -------------------------------------------------------------------------------------


@dataclass
class Server:
    variant: Variant
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    database: str | None  # whose PostgreSQL backends to account for, when local

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextmanager
def gunicorn_server(variant: Variant, env: dict[str, str]) -> Iterator[Server]:
    """gunicorn as ``make run`` starts it, on a free port; stopped on the way out, whatever happens."""
    port = free_port()
    server_env = {
        **env,
        **variant.env,
        "HUB_HOST": "127.0.0.1",
        "HUB_PORT": str(port),
        "DJANGO_SETTINGS_MODULE": variant.settings_module,
    }
    log_path = RESULTS_DIR / f"{variant.name}-gunicorn.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            # As `make run`, except for the control socket: it defaults to one path per user
            # (~/.gunicorn/gunicorn.ctl), which would take over that of any other gunicorn running.
            [GUNICORN, "-c", GUNICORN_CONF, "--no-control-socket", "hub.wsgi"],
            cwd=ROOT,
            env=server_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the master and its workers, nothing else
        )
        server = Server(variant, process, port, log_path, database_name(env))
        try:
            server_wait_healthy(server)
            yield server
        finally:
            server_stop(server)


def server_wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"gunicorn ({server.variant.name}) exited with {server.process.returncode}:\n"
                f"{log_tail(server.log_path)}"
            )
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BenchError(
        f"gunicorn ({server.variant.name}) did not answer /healthz:\n{log_tail(server.log_path)}"
    )


def server_stop(server: Server) -> None:
    """SIGTERM to the master (graceful), then SIGKILL to its process group if anything is left."""
    process, group = server.process, server.process.pid
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log(f"gunicorn ({server.variant.name}) ignored SIGTERM; killing its process group")
    for _ in range(50):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break  # master and workers are all gone
        time.sleep(0.1)
    else:
        with suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    if process.poll() is None:
        process.wait(timeout=10)


# --- CPU accounting (Linux /proc; None elsewhere) ------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu_seconds() -> float | None:
    """CPU seconds the machine spent busy (all cores), since boot."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def processes_cpu_seconds(group: int, database: str | None) -> tuple[float | None, float | None]:
    """CPU seconds of gunicorn's process ``group`` (with the children it reaped, e.g. recycled workers)
    and of the PostgreSQL backends serving ``database`` (when they run on this machine)."""
    server_ticks = postgres_ticks = 0
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None, None
    backend_tag = f" {database} ".encode() if database else None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                rest = stat.read().rsplit(")", 1)[1].split()
            if int(rest[2]) == group:
                server_ticks += sum(int(value) for value in rest[11:15])  # utime stime cutime cstime
            elif backend_tag is not None:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
                # A backend's title: "postgres: <role> <database> <client> <state>".
                if command.startswith(b"postgres: ") and backend_tag in command:
                    postgres_ticks += sum(int(value) for value in rest[11:13])
        except (OSError, IndexError, ValueError):
            continue
    return server_ticks / CLOCK_TICKS, (postgres_ticks / CLOCK_TICKS if backend_tag else None)


def server_settle(server: Server, max_seconds: float = 15.0) -> None:
    """Wait until gunicorn has finished the requests still queued when the load generator stopped.

    The client closes its connections at the deadline, but up to one request per connection was
    already sent: the server works through them for a while, which must not count against the next
    run (another level, or another variant's server).
    """
    window = 0.5
    deadline = time.monotonic() + max_seconds
    last, _ = processes_cpu_seconds(server.process.pid, None)
    while last is not None and time.monotonic() < deadline:
        time.sleep(window)
        now, _ = processes_cpu_seconds(server.process.pid, None)
        if now is None or now - last <= SETTLED_CPU_SECONDS:
            return
        last = now


def machine_busy_cores(sample_seconds: float = 1.0) -> float | None:
    """Cores the machine keeps busy right now (averaged over ``sample_seconds``)."""
    before = machine_cpu_seconds()
    time.sleep(sample_seconds)
    after = machine_cpu_seconds()
    return None if before is None or after is None else (after - before) / sample_seconds


def quiet_wait(max_seconds: float) -> float | None:
    """Wait (at most ``max_seconds``) until the machine is nearly idle; return the busy cores seen last."""
    deadline = time.monotonic() + max_seconds
    busy = machine_busy_cores()
    while busy is not None and busy > QUIET_BUSY_CORES and time.monotonic() < deadline:
        log(f"  waiting for the machine to quiet down ({busy:.2f} cores busy with other work)")
        busy = machine_busy_cores(2.0)
    return None if busy is None else round(busy, 2)


@dataclass
class CpuMark:
    wall: float
    machine: float | None
    server: float | None
    postgres: float | None

    @classmethod
    def take(cls, server: Server) -> CpuMark:
        gunicorn, postgres = processes_cpu_seconds(server.process.pid, server.database)
        return cls(time.monotonic(), machine_cpu_seconds(), gunicorn, postgres)


def _rate(after: float | None, before: float | None, wall: float) -> float | None:
    return None if after is None or before is None else (after - before) / wall


def cores_used(before: CpuMark, after: CpuMark, loadgen_cpu_seconds: float) -> dict[str, float | None]:
    """Average cores busy during a run: gunicorn, its PostgreSQL backends, the load generator, and
    everything else on the machine (``other``: other people's work, autovacuum, the kernel...)."""
    wall = max(after.wall - before.wall, 1e-9)
    machine = _rate(after.machine, before.machine, wall)
    server = _rate(after.server, before.server, wall)
    postgres = _rate(after.postgres, before.postgres, wall)
    loadgen = loadgen_cpu_seconds / wall
    other = None
    if machine is not None and server is not None:
        other = max(machine - server - (postgres or 0.0) - loadgen, 0.0)
    return {
        "machine": _round(machine),
        "gunicorn": _round(server),
        "postgres": _round(postgres),
        "load_generator": _round(loadgen),
        "other": _round(other),
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- Load generators -----------------------------------------------------------------------------


@dataclass
class RawRun:
    seconds: float
    completed: int  # responses received, whatever their status
    non200: int
    transport_errors: dict[str, int]  # connect / read / write / timeout, or exception names
    latency_ms: dict[str, float]  # mean, p50, p90, p95, p99, max over completed responses
    loadgen_cpu_seconds: float


class LoadGenerator(Protocol):
    name: str
    description: str

    def run(self, url: str, headers: dict[str, str], clients: int, seconds: int) -> RawRun: ...


class WrkLoadGenerator:
    """wrk: an event-loop C client, so it takes little of the cores it shares with the server."""

    name = "wrk"

    def __init__(self, executable: str) -> None:
        self.executable = executable
        version = subprocess.run([executable, "-v"], capture_output=True, text=True, check=False)
        first_line = (version.stdout + version.stderr).strip().splitlines()
        name = first_line[0].split(" Copyright")[0] if first_line else "wrk"
        self.description = f"{name} (at most {WRK_MAX_THREADS} threads)"

    def run(self, url: str, headers: dict[str, str], clients: int, seconds: int) -> RawRun:
        command = [
            self.executable,
            f"-t{min(clients, WRK_MAX_THREADS)}",
            f"-c{clients}",
            f"-d{seconds}s",
            f"--timeout={int(HTTP_TIMEOUT_SECONDS)}s",
            f"-s{WRK_SCRIPT}",
        ]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        command.append(url)
        usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = next(
            (line for line in completed.stdout.splitlines() if line.startswith("BENCH_JSON ")), None
        )
        if completed.returncode != 0 or report is None:
            raise BenchError(
                f"wrk failed (exit {completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
            )
        data = json.loads(report.removeprefix("BENCH_JSON "))
        latency = {key: value / 1000 for key, value in data["latency_us"].items()}
        return RawRun(
            seconds=data["duration_us"] / 1e6,
            completed=int(data["requests"]),
            non200=int(data["non200"]),
            transport_errors={
                kind: int(data[f"{kind}_errors"])
                for kind in ("connect", "read", "write")
                if data[f"{kind}_errors"]
            }
            | ({"timeout": int(data["timeouts"])} if data["timeouts"] else {}),
            latency_ms=latency,
            loadgen_cpu_seconds=(usage_after.ru_utime - usage_before.ru_utime)
            + (usage_after.ru_stime - usage_before.ru_stime),
        )


class PythonLoadGenerator:
    """One thread per client, each with its own keep-alive ``httpx.Client`` (one connection)."""

    name = "python-httpx"
    description = f"Python {platform.python_version()} threads + httpx {httpx.__version__} keep-alive"

    def run(self, url: str, headers: dict[str, str], clients: int, seconds: int) -> RawRun:
        latencies: list[list[float]] = [[] for _ in range(clients)]
        statuses: list[Counter[str]] = [Counter() for _ in range(clients)]
        ready = threading.Barrier(clients + 1)
        go = threading.Event()
        deadline = [0.0]

        def client_loop(index: int) -> None:
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            with httpx.Client(headers=headers, timeout=HTTP_TIMEOUT_SECONDS, limits=limits) as client:
                ready.wait()
                go.wait()
                mine, counts = latencies[index], statuses[index]
                while (started := time.perf_counter()) < deadline[0]:
                    try:
                        response = client.get(url)
                    except httpx.HTTPError as exc:
                        counts[type(exc).__name__] += 1
                        continue
                    mine.append(time.perf_counter() - started)
                    counts[str(response.status_code)] += 1

        threads = [
            threading.Thread(target=client_loop, args=(index,), daemon=True) for index in range(clients)
        ]
        for thread in threads:
            thread.start()
        ready.wait()  # every client is built; the clock starts now
        cpu_before = time.process_time()
        began = time.perf_counter()
        deadline[0] = began + seconds
        go.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - began
        cpu_used = time.process_time() - cpu_before

        samples = sorted(value * 1000 for mine in latencies for value in mine)
        total: Counter[str] = Counter()
        for counts in statuses:
            total.update(counts)
        completed = sum(count for status, count in total.items() if status.isdigit())
        return RawRun(
            seconds=elapsed,
            completed=completed,
            non200=completed - total.get("200", 0),
            transport_errors={status: count for status, count in total.items() if not status.isdigit()},
            latency_ms=latency_summary(samples),
            loadgen_cpu_seconds=cpu_used,
        )


def percentile(sorted_values: list[float], percent: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(math.ceil(percent / 100 * len(sorted_values)), 1)
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_summary(sorted_ms: list[float]) -> dict[str, float]:
    return {
        "mean": sum(sorted_ms) / len(sorted_ms) if sorted_ms else math.nan,
        "max": sorted_ms[-1] if sorted_ms else math.nan,
        **{f"p{p}": percentile(sorted_ms, p) for p in (50, 90, 95, 99)},
    }


def load_generator_choose(choice: str) -> LoadGenerator:
    wrk = shutil.which("wrk")
    if choice == "wrk" and wrk is None:
        raise BenchError("--load-generator wrk: wrk is not installed (apt-get install -y wrk)")
    if choice in ("auto", "wrk") and wrk is not None:
        return WrkLoadGenerator(wrk)
    return PythonLoadGenerator()


# --- Measurement ---------------------------------------------------------------------------------


@dataclass
class LevelResult:
    clients: int
    seconds: float
    completed: int
    ok: int
    errors: int
    error_kinds: dict[str, int]
    rps: float  # 200 responses per second
    latency_ms: dict[str, float]
    cores: dict[str, float | None]
    # CPU the server side (gunicorn + its PostgreSQL backends) spent per completed response: what a
    # request costs, whoever else uses the machine.
    server_cpu_ms_per_request: float | None


def server_cpu_per_request(cores: dict[str, float | None], completed: int, seconds: float) -> float | None:
    if cores["gunicorn"] is None or not completed:
        return None
    return round((cores["gunicorn"] + (cores["postgres"] or 0.0)) * seconds / completed * 1000, 2)


def level_measure(
    generator: LoadGenerator, server: Server, headers: dict[str, str], clients: int, seconds: int
) -> LevelResult:
    before = CpuMark.take(server)
    raw = generator.run(server.base_url + REQUEST_PATH, headers, clients, seconds)
    after = CpuMark.take(server)
    if raw.completed == 0:
        raise BenchError(
            f"{server.variant.name}: no response at all in {seconds}s with {clients} clients "
            f"(transport errors: {raw.transport_errors or 'none'}); see {server.log_path}"
        )
    error_kinds = dict(raw.transport_errors)
    if raw.non200:
        error_kinds["non_200"] = raw.non200
    ok = raw.completed - raw.non200
    cores = cores_used(before, after, raw.loadgen_cpu_seconds)
    return LevelResult(
        clients=clients,
        seconds=round(raw.seconds, 3),
        completed=raw.completed,
        ok=ok,
        errors=sum(error_kinds.values()),
        error_kinds=error_kinds,
        rps=round(ok / raw.seconds, 1) if raw.seconds > 0 else 0.0,
        latency_ms={key: round(value, 2) for key, value in raw.latency_ms.items()},
        cores=cores,
        server_cpu_ms_per_request=server_cpu_per_request(cores, raw.completed, raw.seconds),
    )


def sanity_check(server: Server, headers: dict[str, str], expected_count: int) -> dict[str, Any]:
    """One request, checked: 200, a full page, the right count. Its ids let variants be compared."""
    response = httpx.get(server.base_url + REQUEST_PATH, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)
    if response.status_code != 200:
        raise BenchError(
            f"{server.variant.name}: GET {REQUEST_PATH} answered {response.status_code}: "
            f"{response.text[:500]}"
        )
    body = response.json()
    ids = [item["id"] for item in body["items"]]
    # Past the count bound (HUB_LIST_COUNT_BOUND) the count is a lower bound, flagged count_exact false.
    counted = body["count"] == expected_count or (not body["count_exact"] and body["count"] < expected_count)
    if not counted or len(ids) != PAGE_SIZE:
        raise BenchError(
            f"{server.variant.name}: expected {PAGE_SIZE} items of {expected_count}, "
            f"got {len(ids)} of {body['count']}"
        )
    return {
        "status": response.status_code,
        "count": body["count"],
        "items": len(ids),
        "response_bytes": len(response.content),
        "page_sha256": hashlib.sha256(",".join(ids).encode()).hexdigest(),
    }


def read_audit_check(server: Server, headers: dict[str, str], admin_token: str) -> int:
    """How many ``access`` entries one list read added (read through the audit API as an admin):
    1 for ``hub``, 0 for ``hub_noaudit``, or the variant does not measure what it claims."""
    audit_headers = {**headers, "Authorization": f"Bearer {admin_token}"}

    def access_entries() -> list[int]:
        # The newest entries' ids, not the count: past the count bound the count stops moving (and an
        # entry's sequence is null until it is sealed, right after its request commits).
        response = httpx.get(
            server.base_url + "/api/v1/audit/?action=access&limit=10",
            headers=audit_headers,
            timeout=HTTP_TIMEOUT_SECONDS,
        )
        if response.status_code != 200:
            raise BenchError(f"{server.variant.name}: GET /api/v1/audit/ answered {response.status_code}")
        return [int(entry["id"]) for entry in response.json()["items"]]

    before = max(access_entries(), default=0)
    httpx.get(server.base_url + REQUEST_PATH, headers=headers, timeout=HTTP_TIMEOUT_SECONDS)
    added = sum(1 for entry_id in access_entries() if entry_id > before)
    expected = 0 if server.variant.env.get("HUB_AUDIT_READS") == "0" else 1
    if added != expected:
        raise BenchError(f"{server.variant.name}: one list read added {added} access entries, not {expected}")
    return added


def cross_tenant_check(server: Server, headers: dict[str, str], other_host: str) -> int:
    """The bench token on the neighbour's host: the Hub must refuse it (403), proving auth is live."""
    response = httpx.get(
        server.base_url + REQUEST_PATH, headers={**headers, "Host": other_host}, timeout=HTTP_TIMEOUT_SECONDS
    )
    if response.status_code != 403:
        raise BenchError(f"hub: the bench token on {other_host} answered {response.status_code}, not 403")
    return response.status_code


def variants_measure(
    variants: list[Variant],
    env: dict[str, str],
    generator: LoadGenerator,
    headers: dict[str, str],
    options: argparse.Namespace,
    neighbour_host: str,
    admin_token: str,
    expected_count: int,
) -> dict[str, Any]:
    """Start every variant's server, then measure level by level, the variants taking turns.

    Interleaving (rather than one server after the other) spreads whatever else the machine does over
    all variants, so their ratios stay comparable on a shared machine. An idle server costs nothing
    measurable meanwhile (its workers sleep in their poll loop).
    """
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        servers = []
        for variant in variants:
            log(f"[{variant.name}] starting gunicorn -c {GUNICORN_CONF} hub.wsgi ({variant.settings_module})")
            server = stack.enter_context(gunicorn_server(variant, env))
            servers.append(server)
            sanity = sanity_check(server, headers, expected_count)
            if variant.name.startswith("hub"):
                sanity["cross_tenant_status"] = cross_tenant_check(server, headers, neighbour_host)
                sanity["access_entries_per_read"] = read_audit_check(server, headers, admin_token)
            results[variant.name] = {
                "description": variant.description,
                "settings": variant.settings_module,
                "pid": server.process.pid,
                "sanity": sanity,
                "server_log": str(server.log_path.relative_to(ROOT)),
                "busy_cores_before_level": {},
                "levels": [],
            }
        for server in servers:
            name, pid = server.variant.name, server.process.pid
            log(f"[{name}] pid {pid} on :{server.port}; warm-up {options.server_warmup}s")
            generator.run(server.base_url + REQUEST_PATH, headers, max(options.levels), options.server_warmup)
            server_settle(server)
        for turn, clients in enumerate(options.levels):
            busy = quiet_wait(options.quiet_wait) if options.quiet_wait else None
            for server in servers[turn % len(servers) :] + servers[: turn % len(servers)]:
                name = server.variant.name
                if options.warmup:
                    generator.run(server.base_url + REQUEST_PATH, headers, clients, options.warmup)
                    server_settle(server)
                result = level_measure(generator, server, headers, clients, options.duration)
                server_settle(server)
                results[name]["levels"].append(asdict(result))
                results[name]["busy_cores_before_level"][str(clients)] = busy
                latency = result.latency_ms
                log(
                    f"[{name}] {clients:>3} clients: {result.rps:8.1f} rps  "
                    f"p50 {latency['p50']:.2f}  p95 {latency['p95']:.2f}  p99 {latency['p99']:.2f} ms  "
                    f"errors {result.errors}"
                )
    return results


def ratios(slow: dict[str, Any], fast: dict[str, Any]) -> list[dict[str, Any]]:
    """Per level: how much slower ``slow`` is than ``fast`` (latency quotients and rps quotient)."""
    rows = []
    for mine, theirs in zip(slow["levels"], fast["levels"], strict=True):

        def quotient(a: float, b: float) -> float | None:
            return round(a / b, 2) if a and b else None

        rows.append(
            {
                "clients": mine["clients"],
                "p50_ratio": quotient(mine["latency_ms"]["p50"], theirs["latency_ms"]["p50"]),
                "p95_ratio": quotient(mine["latency_ms"]["p95"], theirs["latency_ms"]["p95"]),
                "p99_ratio": quotient(mine["latency_ms"]["p99"], theirs["latency_ms"]["p99"]),
                "rps_ratio": quotient(theirs["rps"], mine["rps"]),
                "cpu_ratio": quotient(
                    mine["server_cpu_ms_per_request"] or 0.0, theirs["server_cpu_ms_per_request"] or 0.0
                ),
            }
        )
    return rows


# --- Output --------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _cores(value: float | None) -> str:
    return "  -" if value is None else f"{value:4.2f}"


def table_print(report: dict[str, Any]) -> None:
    config = report["config"]
    out = sys.stdout
    out.write("\n")
    out.write(
        f"GET {REQUEST_PATH} on {config['host']}: a page of {PAGE_SIZE} + count over "
        f"{report['dataset'][report['measured_tenant']]['live']:,} live entities\n"
    )
    out.write(
        f"gunicorn {config['workers']} workers x {config['threads']} threads (gthread); "
        f"warm-up {config['warmup_seconds']}s then {config['duration_seconds']}s per level\n"
    )
    out.write(
        f"load generator: {report['load_generator']}. It runs on the same {report['machine']['cpus']} "
        "cores as gunicorn and PostgreSQL (see the cores columns).\n\n"
    )
    header = (
        f"{'variant':<11} {'clients':>7} {'rps':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'cpu ms/req':>10}  cores: gunicorn postgres loadgen other\n"
    )
    out.write(header)
    out.write("-" * (len(header) - 1) + "\n")
    for name, variant in report["variants"].items():
        for level in variant["levels"]:
            latency, cores = level["latency_ms"], level["cores"]
            out.write(
                f"{name:<11} {level['clients']:>7} {level['rps']:>9.1f} {latency['p50']:>8.2f} "
                f"{latency['p95']:>8.2f} {latency['p99']:>8.2f} {level['errors']:>7} "
                f"{_number(level['server_cpu_ms_per_request']):>10}"
                f"         {_cores(cores['gunicorn'])}     {_cores(cores['postgres'])}    "
                f"{_cores(cores['load_generator'])}  {_cores(cores['other'])}\n"
            )
    for comparison in report["ratios"].values():
        out.write(f"\n{comparison['title']}\n")
        out.write(
            f"{'clients':>7} {'p50 ratio':>10} {'p95 ratio':>10} {'p99 ratio':>10} {'rps ratio':>10} "
            f"{'cpu ratio':>10}\n"
        )
        for row in comparison["levels"]:
            cells = [row[name] for name in ("p50_ratio", "p95_ratio", "p99_ratio", "rps_ratio", "cpu_ratio")]
            out.write(
                f"{row['clients']:>7} "
                + " ".join(f"{'-' if c is None else f'{c:.2f}x':>10}" for c in cells)
                + "\n"
            )
    errors = sum(level["errors"] for variant in report["variants"].values() for level in variant["levels"])
    if errors:
        out.write(f"\nWARNING: {errors} errors (non-200 responses or transport errors); see the JSON.\n")
    for note in report["notes"]:
        out.write(f"\nnote: {note}")
    out.write(f"\n\nresults: {report['results_file']}\n")


def git_revision() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


# --- Main ----------------------------------------------------------------------------------------


def variants_for(
    env: dict[str, str], dataset: dict[str, Any], measured: BenchTenant
) -> tuple[list[Variant], list[str]]:
    bench = dataset[measured.slug]
    bare_env = {"BENCH_SCHEMA": bench["schema_name"], "BENCH_ORGANIZATION_ID": bench["organization_id"]}
    variants = [
        Variant(
            "hub",
            "the Hub as served: host routing, per-request transaction, bearer token (JWT) and role check, "
            "per-transaction tenant context (set_config), row-level security, runtime role",
            "hub.settings",
        ),
        Variant(
            "hub_noaudit",
            "the Hub exactly as hub, but with HUB_AUDIT_READS=0: reads leave no access entry in the audit "
            "trail (the cost of read auditing is hub against hub_noaudit)",
            "hub.settings",
            {"HUB_AUDIT_READS": "0"},
        ),
        Variant(
            "bare_rls",
            "no tenancy middleware and no auth; plain Django backend, runtime role, search_path and "
            "hub.organization_id set once per session: row-level security still evaluated",
            "bench.bare_settings",
            {**bare_env, "BENCH_BYPASS_RLS": "0"},
        ),
    ]
    notes = []
    if env.get("DATABASE_URL") and not env.get("BENCH_BYPASS_DATABASE_URL"):
        notes.append(
            "variant bare (no row-level security) skipped: with DATABASE_URL set it needs "
            "BENCH_BYPASS_DATABASE_URL (a superuser or BYPASSRLS role); the baseline is bare_rls."
        )
    else:
        variants.append(
            Variant(
                "bare",
                "no tenancy middleware, no auth, no row-level security: plain Django backend connected as "
                "a role RLS does not apply to (the embedded cluster's superuser), search_path per session",
                "bench.bare_settings",
                {**bare_env, "BENCH_BYPASS_RLS": "1"},
            )
        )
    return variants, notes


def options_parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per level (default 10)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="seconds of warm-up before each level (default 2)"
    )
    parser.add_argument(
        "--server-warmup", type=int, default=3, help="seconds of warm-up after each server starts (default 3)"
    )
    parser.add_argument(
        "--levels",
        type=lambda text: [int(part) for part in text.split(",")],
        default=list(DEFAULT_LEVELS),
        help="comma-separated concurrent clients (default 1,16,64)",
    )
    parser.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument(
        "--entities",
        type=int,
        default=BENCH_TENANT.live,
        help="live entities of the measured organization (default 10,000; another size gets an "
        "organization of its own, e.g. --entities 100000)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=int,
        default=15,
        help="before each level, wait at most this many seconds for other work on the machine to stop "
        "(default 15; 0 to start at once)",
    )
    options = parser.parse_args(argv)
    if options.duration < 1 or options.server_warmup < 1 or options.warmup < 0 or min(options.levels) < 1:
        parser.error("durations must be positive and levels at least 1")
    return options


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: list[str] | None = None) -> int:
    options = options_parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    env = bench_env()
    started_at = datetime.now(UTC)
    load_before = os.getloadavg()
    generator = load_generator_choose(options.load_generator)
    database = "DATABASE_URL (caller's)" if env.get("DATABASE_URL") else f"embedded {BENCH_DATABASE}"
    log(f"database: {database}; load generator: {generator.description}")
    if load_before[0] > 0.5:
        log(f"note: the machine is already busy (load average {load_before[0]:.2f}); figures will be noisy")

    try:
        measured_tenant = bench_tenant(options.entities)
        dataset = prepare(env, measured_tenant)
        token = token_mint(env, measured_tenant.slug)
        base_domain = env.get("HUB_BASE_DOMAIN", "localhost").lower().rstrip(".")
        headers = {"Host": f"{measured_tenant.slug}.{base_domain}", "Authorization": f"Bearer {token}"}
        variants, notes = variants_for(env, dataset, measured_tenant)
        neighbour_host = f"{NEIGHBOUR_TENANT.slug}.{base_domain}"
        admin_token = token_mint(env, measured_tenant.slug, role="admin")
        measured = variants_measure(
            variants, env, generator, headers, options, neighbour_host, admin_token, measured_tenant.live
        )
    except BenchError as exc:
        log(f"bench failed: {exc}")
        return 1

    pages = {name: result["sanity"]["page_sha256"] for name, result in measured.items()}
    if len(set(pages.values())) != 1:
        log(f"bench failed: the variants did not serve the same page: {pages}")
        return 1

    baseline = "bare" if "bare" in measured else "bare_rls"
    comparisons = {
        f"hub_vs_{baseline}": {
            "title": f"Isolation overhead, hub against {baseline} "
            f"(latency and cpu/request: hub / {baseline}; rps: {baseline} / hub)",
            "levels": ratios(measured["hub"], measured[baseline]),
        },
    }
    comparisons["hub_vs_hub_noaudit"] = {
        "title": "Read auditing overhead (access entries), hub against hub_noaudit (HUB_AUDIT_READS=0)",
        "levels": ratios(measured["hub"], measured["hub_noaudit"]),
    }
    if baseline == "bare":
        comparisons["hub_vs_bare_rls"] = {
            "title": "Of which tenancy + auth + per-transaction context, hub against bare_rls",
            "levels": ratios(measured["hub"], measured["bare_rls"]),
        }
        comparisons["bare_rls_vs_bare"] = {
            "title": "Of which the row-level security policy alone, bare_rls against bare",
            "levels": ratios(measured["bare_rls"], measured["bare"]),
        }
    cpus = os.cpu_count() or 1
    notes.append(
        f"the load generator, gunicorn and PostgreSQL share the machine's {cpus} cores: the cores columns "
        "are the average cores each used during a level; once gunicorn + postgres + loadgen reach "
        f"{cpus}, the server is saturated and more clients only queue (latency grows, rps does not)."
    )
    busy = [
        f"{name}@{level['clients']} ({level['cores']['other']:.2f})"
        for name, variant in measured.items()
        for level in variant["levels"]
        if (level["cores"]["other"] or 0.0) > OTHER_BUSY_CORES
    ]
    if busy:
        notes.append(
            "something else used the CPU during some levels (variant@clients (cores)): "
            + ", ".join(busy)
            + "; those figures are pessimistic, re-run on a quiet machine to compare them."
        )
    load_after = os.getloadavg()
    config_env = {**env}
    report = {
        "benchmark": "entities_list",
        "request": f"GET {REQUEST_PATH}",
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "machine": {
            "cpus": cpus,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": [round(value, 2) for value in load_before],
            "load_average_after": [round(value, 2) for value in load_after],
        },
        "load_generator": generator.description,
        "config": {
            "database": database,
            "host": headers["Host"],
            "workers": int(config_env.get("HUB_WORKERS", str(cpus * 2))),
            "threads": int(config_env.get("HUB_THREADS", "4")),
            "db_pool_max": int(config_env.get("HUB_DB_POOL_MAX", "8")),
            "levels": options.levels,
            "duration_seconds": options.duration,
            "warmup_seconds": options.warmup,
            "server_warmup_seconds": options.server_warmup,
            "quiet_wait_seconds": options.quiet_wait,
        },
        "dataset": dataset,
        "measured_tenant": measured_tenant.slug,
        "variants": measured,
        "baseline": baseline,
        "ratios": comparisons,
        "notes": notes,
    }
    results_file = RESULTS_FILE
    if options.entities != BENCH_TENANT.live:
        results_file = RESULTS_FILE.with_name(f"entities_list_{options.entities}.json")
    report["results_file"] = str(results_file.relative_to(ROOT))
    results_file.write_text(json.dumps(report, indent=2) + "\n")
    table_print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
