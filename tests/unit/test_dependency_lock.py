"""requirements.lock pins every dependency of pyproject.toml (runtime and dev) with hashes,
and infra/audit.py turns pip-audit's report into the verdict the README documents."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements.lock"


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0]).lower()


def _pins() -> dict[str, list[str]]:
    """name -> the --hash options of its pin."""
    pins: dict[str, list[str]] = {}
    current = ""
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            current = _name(line)
            assert "==" in line, f"not pinned: {line}"
            pins[current] = []
        elif "--hash=sha256:" in line:
            pins[current].append(line.strip())
    return pins


def test_every_declared_dependency_is_pinned_with_hashes() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    pins = _pins()
    missing = sorted(declared - set(pins))
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    unhashed = sorted(name for name, hashes in pins.items() if not hashes)
    assert not unhashed, f"pinned without a hash: {unhashed}"
    header = LOCK.read_text()[:2000]
    assert "--generate-hashes" in header
    assert "file://" not in LOCK.read_text(), "no machine-local index in the lock"


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loadlab_audit", REPO / "infra" / "audit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _dep(name: str, vulns: list[dict[str, Any]] | None = None, skip: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "version": "1.0"}
    if skip:
        entry["skip_reason"] = skip
    else:
        entry["vulns"] = vulns or []
    return entry


def test_a_fixable_vulnerability_fails(audit: ModuleType) -> None:
    report = {"dependencies": [_dep("a", [{"id": "PYSEC-1", "fix_versions": ["1.1"]}]), _dep("b")]}
    audited, fixable, lines = audit.verdict(report)
    assert audited and fixable and "PYSEC-1" in lines[0] and "1.1" in lines[0]


def test_an_unfixed_vulnerability_only_warns(audit: ModuleType) -> None:
    report = {"dependencies": [_dep("a", [{"id": "GHSA-x", "fix_versions": []}])]}
    audited, fixable, lines = audit.verdict(report)
    assert audited and not fixable and "no fixed release" in lines[0]


def test_a_service_that_answered_for_nothing_is_not_an_audit(audit: ModuleType) -> None:
    report = {"dependencies": [_dep("a", skip="not found"), _dep("b", skip="not found")]}
    audited, fixable, lines = audit.verdict(report)
    assert not audited and not fixable and "2 of 2" in lines[-1]
