"""labcontract ships wherever its importers run: the Locust and seed images, the app image
(services/seed.py imports it), the Ansible nodes' copy of the source tree, the package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _stages() -> dict[str, str]:
    """The Dockerfile's text per build stage."""
    text = (REPO / "infra" / "docker" / "Dockerfile").read_text()
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_image_that_imports_the_contract_copies_it() -> None:
    stages = _stages()
    for stage in ("locust", "seed", "app"):
        assert re.search(r"^COPY labcontract/ /app/labcontract/$", stages[stage], re.M), stage
    requirements = (REPO / "infra" / "docker" / "requirements-locust.txt").read_text()
    assert re.search(r"^pydantic\b", requirements, re.M), "the Locust image needs pydantic"


def test_the_ansible_nodes_get_the_contract() -> None:
    defaults = yaml.safe_load((REPO / "playbooks/roles/common/defaults/main.yml").read_text())
    assert {"labcontract", "loadtests", "loadlab", "services"} <= set(
        defaults["common_source_items"]
    )


def test_the_package_includes_the_contract() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "labcontract*" in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "labcontract" in pyproject["tool"]["importlinter"]["root_packages"]


# the venv's editable install could still find loadlab and services: refuse them outright
SHIPPED = """
import sys
sys.modules["loadlab"] = sys.modules["services"] = None
import labcontract, loadtests.hdr, loadtests.locustfile
print(loadtests.__file__, labcontract.__file__)
"""


def test_the_locust_side_runs_from_what_the_image_copies(tmp_path: Path) -> None:
    # the Locust image holds labcontract/ and loadtests/ only: no loadlab, no services
    for name in ("labcontract", "loadtests"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-c", SHIPPED],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(path.startswith(str(tmp_path)) for path in done.stdout.split()), done.stdout
