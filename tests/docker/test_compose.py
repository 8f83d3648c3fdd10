"""docker/ checked statically (no Docker engine here): the compose file follows the Compose
specification's structure, and every service's command and environment match what the example
app reads."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.docker.yamlish import loads

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
EXAMPLE = ROOT / "example"

# From the Compose specification (compose-spec.json): the keys this stack may use.
TOP_LEVEL = {"name", "services", "networks", "volumes", "configs", "secrets"}
SERVICE_KEYS = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "depends_on",
    "healthcheck", "ports", "expose", "volumes", "restart", "deploy", "networks", "labels",
    "stop_signal", "stop_grace_period", "user", "working_dir", "init", "profiles",
}  # fmt: skip
BUILD_KEYS = {"context", "dockerfile", "args", "target", "labels"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTART = {"no", "always", "on-failure", "unless-stopped"}
DURATION = re.compile(r"^(\d+(ms|s|m|h))+$")
APP_IMAGE = "rxcdc-example"

# Read by example/project/settings.py with a default meant for development only.
OPTIONAL = {"DJANGO_DEBUG", "DJANGO_CSRF_TRUSTED_ORIGINS", "DJANGO_LOG_LEVEL"}
OPTIONAL |= {"EXAMPLE_FRONTEND_DIST"}  # set by the Dockerfile


@pytest.fixture(scope="module")
def compose() -> dict:
    return loads((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def compose_services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    out = {}
    for line in (DOCKER / "app.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def settings_reads() -> set[str]:
    """Environment variables example/project/settings.py reads."""
    source = (EXAMPLE / "project" / "settings.py").read_text()
    return set(re.findall(r'env\("(\w+)"', source))


def app_services(compose_services: dict) -> dict:
    return {name: s for name, s in compose_services.items() if s.get("image") == APP_IMAGE}


def test_structure_follows_the_compose_specification(compose, compose_services):
    assert set(compose) <= TOP_LEVEL
    assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", compose["name"])
    for name, service in compose_services.items():
        assert re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name)
        assert set(service) <= SERVICE_KEYS, (name, set(service) - SERVICE_KEYS)
        assert "image" in service or "build" in service, name
        assert isinstance(service.get("command", []), list), f"{name}: use the exec form"
        if "build" in service:
            assert set(service["build"]) <= BUILD_KEYS
            context = DOCKER / service["build"]["context"]
            assert (context / service["build"].get("dockerfile", "Dockerfile")).is_file(), name
        assert service.get("restart", "no") in RESTART
        for target, spec in service.get("depends_on", {}).items():
            assert target in compose_services, f"{name} depends on unknown {target}"
            assert spec["condition"] in CONDITIONS
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in compose_services[target], f"{target} has no healthcheck"
        check = service.get("healthcheck")
        if check is not None:
            assert set(check) <= HEALTHCHECK_KEYS
            assert check["test"][0] in ("CMD", "CMD-SHELL")
            for key in ("interval", "timeout", "start_period"):
                assert key not in check or DURATION.match(check[key]), (name, key)
        for env_file in service.get("env_file", []):
            assert (DOCKER / env_file).is_file()
        for port in service.get("ports", []):
            assert re.fullmatch(r"\d+:\d+", port), port


def test_volumes_are_declared_and_bind_mounts_exist(compose, compose_services):
    declared = set(compose.get("volumes") or {})
    used = set()
    for service in compose_services.values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DOCKER / source).is_file(), source
            else:
                used.add(source)
    assert used == declared


def test_every_long_running_service_has_a_health_check(compose_services):
    for name, service in compose_services.items():
        if name != "migrate":  # a one-off job
            assert "healthcheck" in service, name


def test_postgres_has_wal2json_and_logical_wal(compose_services):
    postgres = compose_services["postgres"]
    options = postgres["command"]
    assert "wal_level=logical" in options
    assert any(o.startswith("max_slot_wal_keep_size=") for o in options)
    dockerfile = (DOCKER / postgres["build"]["dockerfile"]).read_text()
    major = re.search(r"^FROM postgres:(\d+)", dockerfile, re.M).group(1)
    assert f"postgresql-{major}-wal2json" in dockerfile


def test_the_app_environment_is_exactly_what_the_settings_read(compose_services, app_env):
    apps = app_services(compose_services)
    assert set(apps) == {"migrate", "worker", "web1", "web2"}
    for name, service in apps.items():
        assert service["env_file"] == ["app.env"], name
        assert "environment" not in service, f"{name}: keep the app's settings in app.env"
    reads = settings_reads()
    assert set(app_env) <= reads, f"not read by settings.py: {set(app_env) - reads}"
    missing = reads - OPTIONAL - set(app_env)
    assert not missing, f"missing from app.env: {missing}"


def test_the_app_environment_points_at_the_services(compose_services, app_env):
    postgres = compose_services["postgres"]["environment"]
    assert app_env["PGHOST"] in compose_services
    assert app_env["PGPORT"] == "5432"
    assert app_env["PGDATABASE"] == postgres["POSTGRES_DB"]
    assert app_env["PGUSER"] == postgres["POSTGRES_USER"]
    assert app_env["PGPASSWORD"] == postgres["POSTGRES_PASSWORD"]
    for key, scheme, service in [
        ("REDIS_URL", "redis", "redis"),
        ("MONGO_URL", "mongodb", "mongo"),
    ]:
        url = urlsplit(app_env[key])
        assert url.scheme == scheme and url.hostname == service and service in compose_services
    assert re.fullmatch(r"[a-z0-9_]{1,63}", app_env["RX_SLOT_NAME"])  # a valid slot name


def test_commands_run_what_the_app_has(compose_services):
    commands = {name: s["command"] for name, s in app_services(compose_services).items()}
    assert commands["migrate"] == ["python", "manage.py", "migrate", "--no-input"]
    workers = [n for n, c in commands.items() if c[-1] == "rx_replicate"]
    assert workers == ["worker"], "exactly one active worker per slot"
    assert "deploy" not in compose_services["worker"]
    assert (ROOT / "rxcdc" / "management" / "commands" / "rx_replicate.py").is_file()
    web = {n: c for n, c in commands.items() if c[0] == "daphne"}
    assert set(web) == {"web1", "web2"}
    for command in web.values():
        module, _, attr = command[-1].partition(":")
        asgi = EXAMPLE / Path(*module.split(".")).with_suffix(".py")
        assert re.search(rf"^{attr} = ", asgi.read_text(), re.M), command
        assert command[command.index("-b") + 1] == "0.0.0.0"


def test_the_load_balancer_sends_http_and_websockets_to_every_daphne(compose_services):
    conf = (DOCKER / "nginx.conf").read_text()
    upstream = set(re.findall(r"server\s+([\w-]+):(\d+);", conf))
    web = {
        (name, s["command"][s["command"].index("-p") + 1])
        for name, s in compose_services.items()
        if s.get("command", [""])[0] == "daphne"
    }
    assert upstream == web
    assert "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "proxy_set_header Connection $connection_upgrade;" in conf
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in compose_services["lb"]["volumes"]
    assert set(compose_services["lb"]["depends_on"]) == {name for name, _ in web}


def test_the_image_builds_the_app_and_its_frontend():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M):
        assert (ROOT / source).exists(), source
    assert "python manage.py makefrontend" in dockerfile
    assert "npm ci" in dockerfile and "vite build" in dockerfile
    dist = re.search(r"EXAMPLE_FRONTEND_DIST=(\S+)", dockerfile).group(1)
    assert f"COPY --from=frontend /frontend/dist {dist}" in dockerfile
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1)
    assert "project.asgi:application" in cmd
