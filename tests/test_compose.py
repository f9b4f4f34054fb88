"""``docker-compose.yml``, the image and ``manage.py generate_secrets``, checked without a Docker engine.

The file is parsed as compose would read it (YAML, ``${VAR:-default}`` interpolation from ``.env``):
each profile is complete, every variable given to the Hub is one it reads, every command exists,
every file it mounts or builds from is there. Then the image's own command (the Dockerfile's ``CMD``)
is started with the ``prod`` profile's environment and the secrets ``generate_secrets`` prints, against
this machine's PostgreSQL, and must pass the production guard and answer ``/readyz``.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command, get_commands

from hub.secret_strength import key_bytes_weakness, secret_weakness
from tenants.master_keys import master_key_parse
from tests.helpers import gunicorn_serving

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = ROOT / "platform" / "Dockerfile"
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# Variables the Hub's process reads besides the settings': Django's, and gunicorn's (its config file).
_READ_ELSEWHERE = {"DJANGO_SETTINGS_MODULE", "PROMETHEUS_MULTIPROC_DIR"}


def _generated() -> dict[str, str]:
    out = io.StringIO()
    call_command("generate_secrets", stdout=out)
    return _dotenv(out.getvalue())


def _dotenv(text: str) -> dict[str, str]:
    """An ``.env`` file as compose reads it: ``NAME=value`` lines, ``#`` comments, blank lines."""
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, separator, value = line.partition("=")
            assert separator, f"not a NAME=value line: {line!r}"
            values[name.strip()] = value
    return values


def _interpolate(value: str, dotenv: dict[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, operator, default = match.groups()
        given = dotenv.get(name)
        if operator == ":-":
            return given or default
        if operator == "-":
            return default if given is None else given
        return given or ""

    return _INTERPOLATION.sub(substitute, value)


def _environment(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    environment = SERVICES[service].get("environment", {})
    assert isinstance(environment, dict), f"{service}: environment as a mapping"
    return {name: _interpolate(str(value), dotenv) for name, value in environment.items()}


def _hub_services(profile: str) -> list[str]:
    return [
        name for name, service in SERVICES.items() if "build" in service and profile in service["profiles"]
    ]


def _dockerfile_instruction(keyword: str) -> list[str]:
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith(f"{keyword} ")]
    assert len(lines) == 1, f"one {keyword} in the Dockerfile"
    value: list[str] = json.loads(lines[0].removeprefix(f"{keyword} "))  # the exec form, a JSON array
    return value


def _variables_the_hub_reads() -> set[str]:
    source = (ROOT / "hub" / "settings.py").read_text() + (ROOT / "platform" / "gunicorn.conf.py").read_text()
    read = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    read |= set(re.findall(r"""environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    return read | _READ_ELSEWHERE


# --- the file ------------------------------------------------------------------------------------


def test_every_service_belongs_to_the_dev_the_prod_or_the_citus_profile() -> None:
    for name, service in SERVICES.items():
        assert service.get("profiles") in (["dev"], ["prod"], ["citus"]), name
    for profile in ("dev", "prod", "citus"):
        members = {name for name, service in SERVICES.items() if profile in service["profiles"]}
        for name in members:
            needed = set(SERVICES[name].get("depends_on", {}))
            assert needed <= members, f"{name} ({profile}) depends on another profile's {needed - members}"
        published = [port for name in members for port in SERVICES[name].get("ports", [])]
        assert "8000:8000" in published, f"the {profile} profile serves the Hub on :8000"


def test_the_dev_profile_needs_no_env_file() -> None:
    # Compose interpolates the whole file whatever the profile: a required ${VAR:?} would stop `up`
    # of the dev profile until an .env exists.
    text = (ROOT / "docker-compose.yml").read_text()
    assert not [match for match in _INTERPOLATION.finditer(text) if match.group(2) in (":?", "?")]
    for name in _hub_services("dev"):
        for variable, value in _environment(name, {}).items():
            assert "${" not in str(SERVICES[name]["environment"][variable]), (name, variable)
            assert value, (name, variable)


def test_every_variable_given_to_the_hub_is_one_it_reads() -> None:
    read = _variables_the_hub_reads()
    for name in _hub_services("dev") + _hub_services("prod") + _hub_services("citus"):
        unknown = set(SERVICES[name]["environment"]) - read
        assert not unknown, f"{name} sets variables the Hub never reads: {sorted(unknown)}"


def test_the_prod_profile_takes_every_secret_from_the_env_file() -> None:
    generated = set(_generated())
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = {match.group(1) for match in _INTERPOLATION.finditer(text)}
    example = _dotenv((ROOT / ".env.example").read_text())
    assert set(example) == interpolated, ".env.example lists what compose reads from .env"
    required = {
        name for name in example if f"{name}=" in (ROOT / ".env.example").read_text().split("# Optional")[0]
    }
    assert required == generated, "generate_secrets prints every required variable, nothing else"
    for name in _hub_services("prod"):
        environment = SERVICES[name]["environment"]
        for secret in ("HUB_SECRET_KEY", "IDENTITY_JWT_SECRET", "HUB_FIELD_KEYS", "HUB_METRICS_TOKEN"):
            assert environment[secret] == f"${{{secret}:-}}", (name, secret)
        assert environment["HUB_ENV"] == "prod"
    # The runtime role through PgBouncer; DDL straight to PostgreSQL.
    environment = _environment("app", _generated())
    assert "@pgbouncer:" in environment["DATABASE_URL"]
    assert "@postgres:5432/" in environment["DATABASE_OWNER_URL"]
    assert SERVICES["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"


def test_the_citus_profile_checks_the_schema_and_makes_our_reference_tables() -> None:
    from tenants.citus import REFERENCE_TABLES

    assert "check_citus" in " ".join(SERVICES["citus-migrate"]["command"])
    setup = (ROOT / "platform" / "citus" / "setup.sql").read_text()
    named = set(re.findall(r"'(\w+)'", setup.split("FOREACH", 1)[1].split("LOOP", 1)[0]))
    assert named == REFERENCE_TABLES, (
        "setup.sql makes exactly tenants.citus.REFERENCE_TABLES reference tables"
    )
    for name in _hub_services("citus"):
        environment = _environment(name, _generated())
        assert "@citus-coordinator:5432/" in environment["DATABASE_URL"], name
        assert environment["HUB_ENV"] == "prod", name


def test_every_command_exists() -> None:
    commands = get_commands()
    for name, service in SERVICES.items():
        if "build" not in service or "command" not in service:
            continue
        line = " ".join(service["command"])
        used = re.findall(r"manage\.py (\w+)", line)
        assert used, f"{name}: a manage.py command"
        for command in used:
            assert command in commands, f"{name}: manage.py {command} does not exist"
    image = _dockerfile_instruction("CMD")
    assert image[0] == "gunicorn"
    config = image[image.index("-c") + 1]
    assert (ROOT / config).is_file()
    assert (ROOT / (image[-1].replace(".", "/") + ".py")).is_file()  # the WSGI module


def test_every_file_it_refers_to_exists() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name} mounts {source}"
            else:
                assert source in COMPOSE["volumes"], f"{name}: volume {source} is declared"
        if "build" in service:
            build = service["build"]
            assert (ROOT / build["context"] / build["dockerfile"]).is_file(), name
    copied = re.findall(r"^COPY (\S+(?: \S+)*) \S+$", DOCKERFILE.read_text(), flags=re.MULTILINE)
    for sources in copied:
        for source in sources.split():
            if not source.startswith("--"):
                assert (ROOT / source).exists(), f"the Dockerfile copies {source}"


def _docker_compose() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    answer = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)  # noqa: S603
    return docker if answer.returncode == 0 else None


@pytest.mark.skipif(_docker_compose() is None, reason="no docker compose here (no engine needed for config)")
@pytest.mark.parametrize("profile", ["dev", "prod", "citus"])
def test_docker_compose_config_accepts_it(profile: str, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("\n".join(f"{name}={value}" for name, value in _generated().items()))
    compose = ["-f", str(ROOT / "docker-compose.yml"), "--env-file", str(tmp_path / ".env")]
    result = subprocess.run(  # noqa: S603
        [str(_docker_compose()), "compose", *compose, "--profile", profile, "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# --- generate_secrets ----------------------------------------------------------------------------


def test_generated_secrets_pass_the_production_guard() -> None:
    first, second = _generated(), _generated()
    for name in ("HUB_SECRET_KEY", "IDENTITY_JWT_SECRET", "HUB_METRICS_TOKEN"):
        assert secret_weakness(first[name]) is None, name
    assert len(first["HUB_SECRET_KEY"]) >= 50
    assert len(first["IDENTITY_JWT_SECRET"]) >= 32
    key = master_key_parse(first["HUB_FIELD_KEYS"]).key
    assert secret_weakness(first["HUB_FIELD_KEYS"]) is None
    assert key_bytes_weakness(key) is None
    for name, value in first.items():
        assert value != second[name], f"{name} is fresh each time"
        assert re.fullmatch(r"[A-Za-z0-9_\-+/=]+", value), f"{name} fits an .env line and a URL"


def test_prod_settings_refuse_without_the_env_file() -> None:
    environment = {**os.environ, **_environment("app", {}), "DATABASE_URL": "postgresql://x@localhost/x"}
    environment["DATABASE_OWNER_URL"] = environment["DATABASE_URL"]
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**environment, "DJANGO_SETTINGS_MODULE": "hub.settings"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    for name in ("HUB_SECRET_KEY", "IDENTITY_JWT_SECRET", "HUB_FIELD_KEYS"):
        assert name in result.stderr


# --- the image's command, with the prod profile's environment ------------------------------------


def _get(port: int, path: str, **headers: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("GET", path, headers={"Host": "hub.localhost", **headers})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.mark.usefixtures("django_db_setup")
def test_the_image_command_boots_with_the_prod_profile_and_answers_readyz() -> None:
    dotenv = _generated()
    environment = {
        # The image's PATH and Python; this machine's venv stands for the image's site-packages.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108
        **{name: value for name, value in _dockerfile_env().items()},
        **_environment("app", dotenv),
        # The compose hosts (pgbouncer, postgres) do not resolve here: this machine's database.
        "DATABASE_URL": str(settings.DATABASE_URL),
        "DATABASE_OWNER_URL": str(settings.DATABASE_OWNER_URL),
        "REDIS_URL": "",
        "HUB_LOG_LEVEL": "WARNING",
    }
    assert environment["HUB_ENV"] == "prod"
    with gunicorn_serving(environment, command=_dockerfile_instruction("CMD")) as port:
        status, body = _get(port, "/readyz")
        assert (status, json.loads(body)) == (200, {"status": "ready"})
        status, body = _get(port, "/metrics", Authorization=f"Bearer {dotenv['HUB_METRICS_TOKEN']}")
        assert status == 200
        assert "hub_http_requests_total" in body


def _dockerfile_env() -> dict[str, str]:
    """The ``ENV`` of the Dockerfile (``NAME=value`` pairs, continued lines joined)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            for pair in line.removeprefix("ENV ").split():
                name, _, value = pair.partition("=")
                values[name] = value
    return values
