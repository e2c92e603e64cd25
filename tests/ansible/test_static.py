"""The playbooks without hosts: lint (production profile), syntax, and the variant registry as
the Ansible side reads it."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from loadlab.core.registry import REGISTRY_PATH, load_registry
from tests.ansible.conftest import PLAYBOOKS, ansible_env, run_playbook, tool

PLAYBOOK_FILES = sorted(p.name for p in PLAYBOOKS.glob("*.yml"))
EXAMPLE_INVENTORY = PLAYBOOKS / "inventories" / "hosts.yml"


def test_every_playbook_is_covered() -> None:
    expected = {
        "site.yml", "lab.yml", "serve.yml", "cell.yml", "stop.yml", "provision-azure.yml", "destroy-azure.yml",
        "provision-aws.yml", "destroy-aws.yml", "requirements.yml",
    }  # fmt: skip
    assert expected <= set(PLAYBOOK_FILES)


def test_ansible_lint_production_profile(collections: Path) -> None:
    done = subprocess.run(
        [tool("ansible-lint"), "--profile", "production", "--nocolor"],
        cwd=PLAYBOOKS,
        # the linter renders templates: keep the password lookup from writing .secrets/
        env=ansible_env(LOADLAB_DB_PASSWORD="lint-only"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"ansible-lint failed:\n{done.stdout}\n{done.stderr}"


@pytest.mark.parametrize("playbook", [p for p in PLAYBOOK_FILES if p != "requirements.yml"])
def test_syntax_check(playbook: str, collections: Path) -> None:
    run = run_playbook(playbook, "--syntax-check", "-i", str(EXAMPLE_INVENTORY))
    assert run.returncode == 0, f"{playbook}:\n{run.tail()}"


# Knob overrides as the app role takes them (app_knobs): "*" for every variant with the knob.
OVERRIDES = {
    "*": {"keepalive_s": 9, "pool_size": 12},
    "flask-sync": {"json": "orjson", "threads": 32, "http_parser": "fast"},
    "fastapi-async": {"asyncpg_reset": False},
    "fastapi-sync": {"threads": 80, "workers": 2},
}


def _unit_lines(unit: str, key: str) -> list[str]:
    return [
        line.removeprefix(f"{key}=") for line in unit.splitlines() if line.startswith(f"{key}=")
    ]


@pytest.mark.parametrize("overrides", [{}, OVERRIDES], ids=["stock", "overridden"])
def test_lookup_reads_the_registry_as_loadlab_does(
    overrides: dict[str, dict[str, object]], collections: Path, tmp_path: Path
) -> None:
    """The app role's units carry exactly the registry's command lines and environments,
    every knob placeholder substituted: stock, or with the role's app_knobs overrides."""
    run = run_playbook(
        str(Path(__file__).parent / "render_units.yml"),
        "-i", "localhost,", "-c", "local",
        "-e", f"registry={REGISTRY_PATH}",
        "-e", f"render_dir={tmp_path}",
        "-e", f"playbooks={PLAYBOOKS}",
        "-e", json.dumps({"knobs": overrides}),
    )  # fmt: skip
    assert run.returncode == 0, run.tail()
    registry = load_registry(REGISTRY_PATH)
    rendered = {p.stem: p.read_text() for p in tmp_path.glob("*.service")}
    assert set(rendered) == set(registry)
    for name, variant in registry.items():
        unit = rendered[name]
        knobs = {k: v for k, v in overrides.get("*", {}).items() if k in variant.knobs}
        knobs.update(overrides.get(name, {}))
        # the playbook's app_workers=3 is "cpus", its app_pool_size=7 every variant's pool
        given = {"workers": 3, "pool_size": 7, **knobs}
        (exec_start,) = _unit_lines(unit, "ExecStart")
        argv = shlex.split(exec_start)
        expected = variant.render(host="0.0.0.0", port=8123, knobs=given)
        assert argv[0] == f"/opt/loadlab/venv/bin/{expected[0]}"
        assert argv[1:] == expected[1:], name
        environment = dict(
            shlex.split(line)[0].split("=", 1) for line in _unit_lines(unit, "Environment")
        )
        expected_env = variant.environment(database_url="", knobs=given)
        del expected_env["DATABASE_URL"]  # the role's root-only environment file holds it
        assert {k: environment.get(k) for k in expected_env} == expected_env, name
        others = sorted(f"loadlab-app-{o}.service" for o in registry if o != name)
        assert sorted(_unit_lines(unit, "Conflicts")) == others


def test_the_lookup_returns_stock_knobs_and_environment_templates() -> None:
    """What the role renders from: each knob's stock value ("cpus" left as it is), its kind,
    and the environment templates with LOADLAB_POOL_SIZE, as the registry declares them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "loadlab_variants", PLAYBOOKS / "lookup_plugins" / "loadlab_variants.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    looked_up = {v["name"]: v for v in module.read_registry(REGISTRY_PATH)}
    registry = load_registry(REGISTRY_PATH)
    assert list(looked_up) == list(registry)
    for name, variant in registry.items():
        found = looked_up[name]
        assert found["knobs"] == {k: s.stock for k, s in variant.knobs.items()}, name
        assert found["knob_kinds"] == {k: variant.catalogue[k].kind for k in variant.knobs}, name
        assert found["env"] == {"LOADLAB_POOL_SIZE": "{pool_size}", **variant.env}, name
        assert found["command"] == variant.command, name
