"""Where things live: the repository root (the services and loadtests run from it) and the
lab's own state directory."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def lab_home() -> Path:
    return Path(os.environ.get("LOADLAB_HOME", REPO_ROOT / ".loadlab")).resolve()


def results_root() -> Path:
    return Path(os.environ.get("LOADLAB_RESULTS", REPO_ROOT / "results")).resolve()


def venv_bin(name: str) -> str:
    """A console script of the environment loadlab runs in (gunicorn, uvicorn, locust)."""
    import sys

    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name
