"""The compose file as compose reads it, and a Docker engine started for the session.

The engine fixture does what a user on a fresh Debian machine does: `infra/docker/engine.sh
start` (installs docker.io and docker-compose when missing, starts dockerd), then makes sure
the base image the Dockerfile starts FROM exists (pulled, or made with debootstrap by
`infra/docker/base-image.sh` where no registry answers). When no engine can be had, the
tests that need one fail with the reason; they are never skipped.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENGINE_SH = REPO / "infra" / "docker" / "engine.sh"
BASE_IMAGE_SH = REPO / "infra" / "docker" / "base-image.sh"
BASE_IMAGE = "debian:bookworm-slim"
LABEL = "com.docker.compose.project"

_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def load_compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


def variables(node: Any) -> dict[str, str | None]:
    """Every ${VAR} the file interpolates, with its default (None when it has none)."""
    found: dict[str, str | None] = {}
    if isinstance(node, dict):
        for value in node.values():
            found.update(variables(value))
    elif isinstance(node, list):
        for value in node:
            found.update(variables(value))
    elif isinstance(node, str):
        for match in _VARIABLE.finditer(node):
            name = match.group("name") or match.group("bare")
            if name:
                found[name] = match.group("arg") if match.group("op") in (":-", "-") else None
    return found


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, $$."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        if op == ":-" and not value:
            return arg
        if op == "-" and value is None:
            return arg
        return value or ""

    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if isinstance(node, str):
        return _VARIABLE.sub(substitute, node)
    return node


@pytest.fixture(scope="session")
def compose_raw() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="session")
def compose_defaults(compose_raw: dict[str, Any]) -> dict[str, Any]:
    """The file as compose sees it with no LOADLAB_* variable set."""
    return dict(interpolate(compose_raw, {}))


def machine_ca_bundle() -> str | None:
    """The CA bundle this machine tells pip to trust (a TLS-inspecting proxy's), if any."""
    explicit = os.environ.get("LOADLAB_BUILD_CA_BUNDLE")
    if explicit is not None:
        return explicit or None
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if (value := os.environ.get(name)) and Path(value).is_file():
            return value
    parser = configparser.ConfigParser()
    for path in (
        "/etc/pip.conf",
        "/etc/xdg/pip/pip.conf",
        str(Path.home() / ".config/pip/pip.conf"),
    ):
        try:
            parser.read(path)
        except configparser.Error:
            continue
        if (cert := parser.get("global", "cert", fallback="")) and Path(cert).is_file():
            return cert
    return None


def _engine_answers() -> bool:
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _step(argv: list[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: `{' '.join(argv)}` did not finish within {timeout:.0f}s")
    except OSError as error:
        pytest.fail(f"{what}: cannot run `{' '.join(argv)}`: {error}")
    if done.returncode != 0:
        pytest.fail(
            f"{what}: `{' '.join(argv)}` failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
        )


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[None]:
    """A running engine with the base image; the engine is stopped again if we started it."""
    was_running = _engine_answers()
    if not was_running:
        _step(["bash", str(ENGINE_SH), "start"], "no Docker engine could be started", timeout=1200)
    try:
        _step(
            ["bash", str(BASE_IMAGE_SH)],
            f"the base image {BASE_IMAGE} could not be made",
            timeout=1200,
        )
        yield
    finally:
        if not was_running:
            subprocess.run(
                ["bash", str(ENGINE_SH), "stop"], cwd=REPO, capture_output=True, timeout=300
            )


@dataclass
class ComposeRun:
    project: str
    results: Path

    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "LOADLAB_RESULTS": str(self.results),
            "LOADLAB_COMPOSE_PROJECT": self.project,
            "PYTHONUNBUFFERED": "1",
        }
        if ca_bundle := machine_ca_bundle():
            env["LOADLAB_BUILD_CA_BUNDLE"] = ca_bundle
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "loadlab.cli.app", *args]

    def run(self, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes still labelled with this run's project."""
        label = f"label={LABEL}={self.project}"
        found = {}
        for kind, argv in {
            "containers": ["docker", "ps", "-a", "-q", "--filter", label],
            "networks": ["docker", "network", "ls", "-q", "--filter", label],
            "volumes": ["docker", "volume", "ls", "-q", "--filter", label],
        }.items():
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            found[kind] = done.stdout.split()
        return {kind: ids for kind, ids in found.items() if ids}

    def remove_leftovers(self) -> None:
        """The test's own safety net: whatever the run left, by label."""
        left = self.leftovers()
        for cid in left.get("containers", []):
            subprocess.run(["docker", "rm", "-f", "-v", cid], capture_output=True, timeout=120)
        for nid in left.get("networks", []):
            subprocess.run(["docker", "network", "rm", nid], capture_output=True, timeout=60)
        for vid in left.get("volumes", []):
            subprocess.run(["docker", "volume", "rm", "-f", vid], capture_output=True, timeout=60)

    def run_dirs(self) -> list[Path]:
        # a run's own report goes to results/reports/, beside the run folders
        return sorted(p for p in self.results.glob("*") if p.is_dir() and p.name != "reports")


@pytest.fixture
def compose_run(docker_engine: None, tmp_path: Path) -> Iterator[ComposeRun]:
    run = ComposeRun(project=f"loadlab-test-{uuid.uuid4().hex[:10]}", results=tmp_path / "results")
    try:
        yield run
    finally:
        run.remove_leftovers()
