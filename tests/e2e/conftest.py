"""A lab home with a running, seeded private cluster that `loadlab` invocations reuse, and a
way to run the CLI as a user does and find every process it left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loadlab.deployments.dataset import ensure_seeded
from loadlab.deployments.postgres import PostgresCluster

SCALE = 0.002
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lab_home() -> Iterator[Path]:
    # under /tmp, which the unprivileged cluster owner can traverse
    home = Path(tempfile.mkdtemp(prefix="loadlab-e2e-"))
    # mkdtemp's 0700 would send the cluster to the shared /var/tmp/loadlab/pg, where
    # concurrent sessions clobber each other's data directory
    home.chmod(0o755)
    cluster = PostgresCluster(home=home / "pg")
    try:
        cluster.start()
        ensure_seeded(cluster, SCALE, 20240601)
        yield home
    finally:
        cluster.purge()
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Lab:
    home: Path
    results: Path
    marker: str

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "LOADLAB_HOME": str(self.home),
            "LOADLAB_RESULTS": str(self.results),
            "LOADLAB_TEST_MARKER": self.marker,  # inherited by every process the CLI starts
            **extra,
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "loadlab.cli.app", *args]

    def run(self, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=REPO,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def leftovers(self) -> list[str]:
        """Processes still carrying this lab's marker: children the CLI failed to stop."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"LOADLAB_TEST_MARKER={self.marker}".encode() in environ:
                found.append(f"{entry.name}: {cmdline}")
        return found

    def run_dirs(self) -> list[Path]:
        # a run's own report goes to results/reports/, beside the run folders
        return sorted(p for p in self.results.glob("*") if p.is_dir() and p.name != "reports")


@pytest.fixture
def lab(lab_home: Path, tmp_path: Path) -> Lab:
    return Lab(home=lab_home, results=tmp_path / "results", marker=uuid.uuid4().hex)
