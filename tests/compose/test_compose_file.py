"""docker-compose.yml against the Compose specification and against the variant registry."""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from loadlab.core.registry import load_registry
from loadlab.deployments.compose.settings import (
    SERVICE_HOST,
    SERVICE_PORT,
    StackSettings,
    port_variable,
)
from loadlab.deployments.postgres import BENCHMARK_SETTINGS
from tests.compose.conftest import COMPOSE_FILE, REPO, interpolate, variables

pytestmark = pytest.mark.compose

INFRASTRUCTURE = {"postgres", "seed", "locust-master", "locust-worker"}


def schema_path() -> Path:
    explicit = os.environ.get("LOADLAB_COMPOSE_SCHEMA")
    return Path(explicit) if explicit else REPO.parent / "shared" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    path = schema_path()
    if not path.is_file():
        pytest.skip(
            f"the Compose JSON schema is not here: looked for {path} (../shared/schemas/"
            "compose-spec.json beside the checkout; LOADLAB_COMPOSE_SCHEMA names another copy)"
        )
    schema = json.loads(path.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    ]


def test_the_compose_file_is_valid_against_the_specification(
    validator: jsonschema.Draft7Validator,
    compose_raw: dict[str, Any],
    compose_defaults: dict[str, Any],
) -> None:
    assert _errors(validator, compose_raw) == [], f"{COMPOSE_FILE} as written"
    assert _errors(validator, compose_defaults) == [], f"{COMPOSE_FILE} with the defaults filled in"


def test_every_variant_has_a_service_with_the_registry_command(compose_raw: dict[str, Any]) -> None:
    """Each service runs the registry's command line and environment with the stock knobs,
    LOADLAB_APP_WORKERS workers and LOADLAB_POOL_SIZE connections per worker."""
    registry = load_registry()
    services = compose_raw["services"]
    assert set(services) - INFRASTRUCTURE == set(registry), "variant services = registry variants"
    # with the defaults, and with other values: the placeholders must be wired to variables
    for env in ({}, {"LOADLAB_APP_WORKERS": "3", "LOADLAB_POOL_SIZE": "7"}):
        rendered = interpolate(compose_raw, env)
        workers = int(env.get("LOADLAB_APP_WORKERS", variables(compose_raw)["LOADLAB_APP_WORKERS"]))
        pool = int(env.get("LOADLAB_POOL_SIZE", variables(compose_raw)["LOADLAB_POOL_SIZE"]))
        for name, variant in registry.items():
            service = rendered["services"][name]
            expected = variant.render(
                host=SERVICE_HOST, port=SERVICE_PORT, workers=workers, pool_size=pool
            )
            assert [str(part) for part in service["command"]] == expected, name
            environment = {key: str(value) for key, value in service["environment"].items()}
            assert environment["DATABASE_URL"].startswith("postgresql://"), name
            # LOADLAB_POOL_SIZE and what the knobs render into (LOADLAB_JSON, ...), stock
            assert environment == variant.environment(
                database_url=environment["DATABASE_URL"], workers=workers, pool_size=pool
            ), name
            if not env:
                assert pool == variant.pool_size, (
                    f"{name}: the registry's pool size is {variant.pool_size}"
                )


def test_the_knobs_reach_the_services_environment(compose_defaults: dict[str, Any]) -> None:
    """The variables the services read (services/common/config.py) are set to the stock knobs."""
    services = compose_defaults["services"]
    for name in ("flask-sync", "flask-gevent", "flask-granian"):
        assert services[name]["environment"]["LOADLAB_JSON"] == "stdlib", name
    for name in ("fastapi-async", "fastapi-granian"):
        assert str(services[name]["environment"]["LOADLAB_ASYNCPG_RESET"]) == "1", name
    assert str(services["fastapi-sync"]["environment"]["LOADLAB_THREADS"]) == "40"


def test_variants_share_cpus_image_and_health_rules(compose_defaults: dict[str, Any]) -> None:
    services = compose_defaults["services"]
    variants = [services[name] for name in load_registry()]
    for key in ("cpuset", "image", "healthcheck", "depends_on"):
        values = [json.dumps(v.get(key), sort_keys=True) for v in variants]
        assert len(set(values)) == 1, f"every variant has the same {key}"
    shared = [
        {k: v["environment"][k] for k in ("DATABASE_URL", "LOADLAB_POOL_SIZE")} for v in variants
    ]
    assert len({json.dumps(e, sort_keys=True) for e in shared}) == 1, "the same database and pool"
    first = variants[0]
    assert first["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert first["depends_on"]["seed"]["condition"] == "service_completed_successfully"
    assert first["healthcheck"]["test"][0] == "CMD"
    assert first["cpuset"] != services["locust-worker"]["cpuset"], (
        "the load generator is kept apart"
    )
    assert services["locust-master"]["cpuset"] == services["locust-worker"]["cpuset"]
    ports = [v["ports"][0] for v in variants]
    assert all(p.startswith("127.0.0.1:") and p.endswith(f":{SERVICE_PORT}") for p in ports)
    assert len(set(ports)) == len(ports), "each variant publishes its own port"


def test_postgres_has_the_local_backends_benchmark_settings(
    compose_defaults: dict[str, Any],
) -> None:
    postgres = compose_defaults["services"]["postgres"]
    command = [str(part) for part in postgres["command"]]
    assert command[::2] == ["-c"] * (len(command) // 2)
    settings = dict(part.split("=", 1) for part in command[1::2])
    assert settings == BENCHMARK_SETTINGS
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert (
        "shared_preload_libraries" in settings
        and "pg_stat_statements" in settings["shared_preload_libraries"]
    )


def test_locust_services_follow_the_contract(compose_defaults: dict[str, Any]) -> None:
    master = compose_defaults["services"]["locust-master"]["command"]
    worker = compose_defaults["services"]["locust-worker"]["command"]
    assert master[:4] == ["locust", "-f", "loadtests/locustfile.py", "--master"]
    assert "--expect-workers" in master and "--host" in master
    assert worker == ["locust", "-f", "loadtests/locustfile.py", "--worker",
                      "--master-host", "locust-master", "--master-port", "5557"]  # fmt: skip
    env = compose_defaults["services"]["locust-worker"]["environment"]
    for name in ("LOADLAB_WORKLOAD", "LOADLAB_USERS_SEEDED", "LOADLAB_ARRIVAL_RATE",
                 "LOADLAB_THINK_MS", "LOADLAB_WARMUP_S"):  # fmt: skip
        assert name in env, name
    assert "ports" not in compose_defaults["services"]["locust-worker"], (
        "workers scale: no fixed port"
    )


def test_the_backend_sets_exactly_the_files_variables(compose_raw: dict[str, Any]) -> None:
    in_file = {name for name in variables(compose_raw) if name.startswith("LOADLAB_")}
    settings = StackSettings(project="loadlab-check", ports={"postgres": 1, "locust-web": 2} | {
        name: 3 + i for i, name in enumerate(load_registry())
    })  # fmt: skip
    from_backend = set(settings.environment())
    locust_per_cell = {"LOADLAB_WORKLOAD", "LOADLAB_ARRIVAL_RATE", "LOADLAB_THINK_MS",
                       "LOADLAB_WARMUP_S", "LOADLAB_LOCUST_WORKERS", "LOADLAB_TARGET_URL",
                       "LOADLAB_PG_MAX_CONNECTIONS", "LOADLAB_PG_SHARED_BUFFERS",
                       "LOADLAB_PG_EFFECTIVE_CACHE_SIZE"}  # fmt: skip
    assert from_backend - in_file == set(), "the backend sets variables the file never reads"
    assert in_file - from_backend - locust_per_cell == set(), (
        "the file reads variables the backend leaves to chance"
    )
    for name in load_registry():
        assert port_variable(name) in in_file


def test_every_variable_is_documented(compose_raw: dict[str, Any]) -> None:
    readme = (REPO / "infra" / "docker" / "README.md").read_text()
    missing = [name for name in variables(compose_raw) if f"`{name}`" not in readme]
    assert missing == [], "infra/docker/README.md documents every variable of docker-compose.yml"


def test_image_requirements_agree_with_pyproject() -> None:
    declared = {}
    for spec in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        name = re.split(r"[\[<>=!~ ]", spec, maxsplit=1)[0].lower()
        declared[name] = spec
    for path in sorted((REPO / "infra" / "docker").glob("requirements-*.txt")):
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name = re.split(r"[\[<>=!~ ]", line, maxsplit=1)[0].lower()
            if name in declared:
                assert line == declared[name], (
                    f"{path.name}: {line} differs from pyproject's {declared[name]}"
                )


def test_no_secret_goes_into_an_image() -> None:
    dockerfile = (REPO / "infra" / "docker" / "Dockerfile").read_text()
    # the CA bundle is a build secret (mounted for one RUN), never an ARG, ENV or COPY
    assert "--mount=type=secret,id=ca_bundle,required=false" in dockerfile
    assert not re.search(
        r"^\s*(ARG|ENV)\s+\S*(PASSWORD|CERT|CA_BUNDLE|TOKEN)", dockerfile, re.M | re.I
    )
    assert not re.search(r"^\s*COPY\s+.*\.(crt|pem|key)\b", dockerfile, re.M | re.I)
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "results"):
        assert entry in ignored, f".dockerignore keeps {entry} out of the build context"
