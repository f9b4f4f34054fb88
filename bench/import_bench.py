"""Bulk import of entities: a CSV file of ``--rows`` rows (default 100,000) validated (the dry run), then
committed (one transaction: checked again, then written with one audit entry and one event per entity,
email and phone encrypted, and the import's status ``committed``), timed, with the process's peak RSS.

``commit_s`` ends when that transaction has committed: the rows, their audit entries and the import's
status are then there for every reader. The seal of the entries into the trail's hash chain follows it
in the same job (``seal_s``, as after every request); ``total_s`` is the dry run and the commit,
``job_total_s`` adds the seal.

``make bench-import`` (or ``.venv/bin/python bench/import_bench.py --rows 100000``). Not part of the
test suite. Its own database (embedded ``hub_import_bench`` unless ``DATABASE_URL`` is set), migrated,
with one organization (``importbench``) provisioned when missing; each run imports fresh references.
The work runs in this process, as the worker runs it (``services.import_validate_run`` and
``import_commit_run``); ``--profile FILE`` writes a cProfile of both to FILE.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.entities_list import PYTHON, RESULTS_DIR, log, run

BENCH_DATABASE = "hub_import_bench"
SLUG = "importbench"
RESULTS_FILE = RESULTS_DIR / "import.json"


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HUB_ENV"] = "dev"
    if not env.get("DATABASE_URL"):
        env["HUB_EMBEDDED_DATABASE"] = BENCH_DATABASE
    env.setdefault("HUB_LOG_LEVEL", "WARNING")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def prepare(env: dict[str, str]) -> None:
    log("preparing the bench database: migrate_schemas ...")
    run([PYTHON, "manage.py", "migrate_schemas"], env, what="migrate_schemas", timeout=1800)
    existing = json.loads(run([PYTHON, "-m", "bench.prepare", "tenants", SLUG], env, what="tenants"))
    if existing.get(SLUG) is None:
        command = [PYTHON, "manage.py", "provision_tenant", "--skip-identity-check"]
        command += [
            "--organization-id",
            str(uuid.uuid5(uuid.NAMESPACE_DNS, SLUG)),
            "--slug",
            SLUG,
            "--name",
            SLUG,
        ]
        run(command, env, what=f"provision_tenant {SLUG}")


def csv_write(path: Path, rows: int, tag: str) -> None:
    """``rows`` entities; every tenth relates to the row before it (a target in the file)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("kind,name,reference,email,phone,status,tags,attributes,relation_kind,relation_target\n")
        for n in range(rows):
            relation = f"knows,customer:{tag}-{n - 1}" if n % 10 == 9 else ","
            out.write(
                f"customer,Customer {n},{tag}-{n},c{n}@{tag}.example.com,+4144668{n % 10000:04d},active,"
                f'"vip,eu","{{""n"": {n}}}",{relation}\n'
            )


def measure(rows: int, profile: str | None) -> dict[str, float | int | str]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings")
    django.setup()
    from django.core.files.uploadedfile import UploadedFile
    from django_tenants.utils import tenant_context

    from apps.audit import services as audit_services
    from apps.imports import services
    from apps.imports.models import Import, ImportStatus
    from tenants.models import Organization, User

    tenant = Organization.objects.get(slug=SLUG)
    user, _ = User.objects.get_or_create(
        id=uuid.uuid5(uuid.NAMESPACE_DNS, "importbench-user"), defaults={"email": "bench@importbench.example"}
    )
    tag = f"B{uuid.uuid4().hex[:8]}"
    # The seal runs right after the commit's transaction (inside ``import_commit_run``): timed apart.
    seal_pending, sealing = audit_services.audit_seal_pending, [0.0]

    def seal_timed(**kwargs: Any) -> int | None:
        started = time.perf_counter()
        try:
            return seal_pending(**kwargs)
        finally:
            sealing[0] += time.perf_counter() - started

    profiler = cProfile.Profile() if profile else None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "entities.csv"
        csv_write(path, rows, tag)
        size = path.stat().st_size
        with tenant_context(tenant), path.open("rb") as handle:
            upload = UploadedFile(handle, name="entities.csv", size=size)
            started = time.perf_counter()
            record, _ = services.import_upload(
                actor=user, actor_is_admin=True, import_type="entities", upload=upload, dry_run=True
            )
            uploaded = time.perf_counter() - started
            if profiler:
                profiler.enable()
            started = time.perf_counter()
            services.import_validate_run(import_id=record.id, commit=False)
            validated = time.perf_counter() - started
            record = Import.objects.get(id=record.id)
            assert record.status == ImportStatus.VALIDATED, record.error_detail
            assert record.rows_invalid == 0, record.error_detail
            services.import_commit(actor=user, import_id=record.id, mode="all")
            started = time.perf_counter()
            audit_services.audit_seal_pending = seal_timed
            try:
                services.import_commit_run(import_id=record.id)
            finally:
                audit_services.audit_seal_pending = seal_pending
            committed = time.perf_counter() - started - sealing[0]
            if profiler:
                profiler.disable()
                profiler.dump_stats(profile)  # type: ignore[arg-type]
            record = Import.objects.get(id=record.id)
            assert record.status == ImportStatus.COMMITTED, record.error_detail
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "rows": rows,
        "file_mib": round(size / 1024**2, 1),
        "upload_s": round(uploaded, 2),
        "validate_s": round(validated, 2),
        "commit_s": round(committed, 2),
        "seal_s": round(sealing[0], 2),
        "total_s": round(validated + committed, 2),
        "job_total_s": round(validated + committed + sealing[0], 2),
        "rows_per_s": round(rows / (validated + committed)),
        "created": record.rows_created,
        "peak_rss_mib": round(peak_kib / 1024),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", help="write a cProfile of the dry run and the commit to this file")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.inner:
        print(json.dumps(measure(options.rows, options.profile)))
        return 0
    env = bench_env()
    prepare(env)
    log(f"importing {options.rows} entity rows ...")
    command = [PYTHON, str(Path(__file__).resolve()), "--inner", "--rows", str(options.rows)]
    if options.profile:
        command += ["--profile", options.profile]
    figures = json.loads(run(command, env, what="import", timeout=1800).strip().splitlines()[-1])
    RESULTS_DIR.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(figures, indent=2) + "\n")
    for key, value in figures.items():
        print(f"{key:>14}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
