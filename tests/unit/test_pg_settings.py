"""The benchmark's Postgres settings are written once (loadlab/core/pg_settings.py): the local
cluster, docker-compose.yml's postgres command and the Ansible role's defaults agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from loadlab.core import pg_settings
from loadlab.core.pg_settings import BENCHMARK_SETTINGS, COMPOSE_VARIABLES, ROLE_SETTINGS
from loadlab.deployments.postgres import PostgresCluster


def _compose_settings(env: dict[str, str]) -> dict[str, str]:
    """The postgres command's settings as compose would resolve `${VAR:-default}`."""
    compose = yaml.safe_load(pg_settings.COMPOSE_FILE.read_text())
    command = [str(part) for part in compose["services"]["postgres"]["command"]]
    assert command[::2] == ["-c"] * (len(command) // 2)
    resolved = [
        re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), part)
        for part in command[1::2]
    ]
    return dict(part.split("=", 1) for part in resolved)


def _role_settings() -> dict[str, str]:
    defaults = yaml.safe_load(pg_settings.ROLE_DEFAULTS.read_text())
    return {name: str(value) for name, value in defaults["postgres_settings"].items()}


def test_the_three_deployments_agree() -> None:
    local = PostgresCluster(home=Path("/nonexistent"), bindir=Path("/usr/bin")).settings
    assert local == BENCHMARK_SETTINGS
    assert _compose_settings({}) == BENCHMARK_SETTINGS
    assert _role_settings() == ROLE_SETTINGS
    # the role sizes a dedicated VM up, and otherwise runs what the laptop runs
    sized = {"shared_buffers", "effective_cache_size", "maintenance_work_mem", "max_wal_size"}
    assert {
        k: v for k, v in ROLE_SETTINGS.items() if k in BENCHMARK_SETTINGS and k not in sized
    } == {k: v for k, v in BENCHMARK_SETTINGS.items() if k not in sized}


def test_the_compose_variables_size_their_settings() -> None:
    env = {variable: f"<{name}>" for name, variable in COMPOSE_VARIABLES.items()}
    settings = _compose_settings(env)
    for name in COMPOSE_VARIABLES:
        assert settings[name] == f"<{name}>"


def test_the_role_keeps_words_as_strings() -> None:
    # YAML 1.1 would read a bare on/off as a boolean, and Postgres would get True
    role = yaml.safe_load(pg_settings.ROLE_DEFAULTS.read_text())["postgres_settings"]
    assert role["jit"] == "off" and role["synchronous_commit"] == "on"
    assert role["max_connections"] == 300


def test_the_files_are_rendered_from_the_module() -> None:
    assert pg_settings.main(["--check"]) == 0


def test_the_check_fails_when_a_file_is_edited_by_hand(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text(
        pg_settings.COMPOSE_FILE.read_text().replace("work_mem=8MB", "work_mem=64MB")
    )
    monkeypatch.setattr(pg_settings, "COMPOSE_FILE", compose)
    assert pg_settings.main(["--check"]) == 1
    assert pg_settings.main(["--write"]) == 0
    assert "work_mem=8MB" in compose.read_text()
    assert pg_settings.main(["--check"]) == 0


def test_the_manifest_records_settings_as_the_server_shows_them() -> None:
    # pg_settings' `setting` glued to its `unit` gave "65536" + "8kB" = "655368kB"
    assert "current_setting(name)" in pg_settings.REPORT_QUERY
    assert "unit" not in pg_settings.REPORT_QUERY
    assert set(BENCHMARK_SETTINGS) <= set(pg_settings.REPORTED)


PUBLISHED = sorted((Path(__file__).resolve().parents[2] / "reports").glob("**/manifest.json"))


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: p.parent.name)
def test_published_manifests_show_the_settings_as_the_server_does(path: Path) -> None:
    # SHOW's rendering of what was written: "512MB", never the glued "655368kB"
    recorded = json.loads(path.read_text())["postgres"]["settings"]
    assert {name: recorded.get(name) for name in BENCHMARK_SETTINGS} == BENCHMARK_SETTINGS
