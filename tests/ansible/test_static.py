"""The playbooks without hosts: lint (production profile), syntax, and the variant registry as
the Ansible side reads it."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from loadlab.registry import REGISTRY_PATH, load_registry
from tests.ansible.conftest import PLAYBOOKS, ansible_env, run_playbook, tool

PLAYBOOK_FILES = sorted(p.name for p in PLAYBOOKS.glob("*.yml"))
EXAMPLE_INVENTORY = PLAYBOOKS / "inventories" / "hosts.yml"


def test_every_playbook_is_covered() -> None:
    expected = {
        "site.yml", "bench.yml", "provision-azure.yml", "destroy-azure.yml",
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


def test_lookup_reads_the_registry_as_loadlab_does(collections: Path, tmp_path: Path) -> None:
    """The app role's units carry exactly the registry's command lines."""
    run = run_playbook(
        str(Path(__file__).parent / "render_units.yml"),
        "-i", "localhost,", "-c", "local",
        "-e", f"registry={REGISTRY_PATH}",
        "-e", f"render_dir={tmp_path}",
        "-e", f"playbooks={PLAYBOOKS}",
    )  # fmt: skip
    assert run.returncode == 0, run.tail()
    registry = load_registry(REGISTRY_PATH)
    rendered = {p.stem: p.read_text() for p in tmp_path.glob("*.service")}
    assert set(rendered) == set(registry)
    for name, variant in registry.items():
        unit = rendered[name]
        exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
        argv = shlex.split(exec_start.removeprefix("ExecStart="))
        expected = variant.render(host="0.0.0.0", port=8123, workers=3, pool_size=7)
        assert argv[0] == f"/opt/loadlab/venv/bin/{expected[0]}"
        assert argv[1:] == expected[1:], name
        others = sorted(f"loadlab-app-{o}.service" for o in registry if o != name)
        conflicts = sorted(
            line.removeprefix("Conflicts=")
            for line in unit.splitlines()
            if line.startswith("Conflicts=")
        )
        assert conflicts == others
