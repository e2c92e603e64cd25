"""Where things live: the repository root (the services and loadtests run from it) and the
lab's own state directory."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # loadlab/: its data, presets and scenarios
REPO_ROOT = PACKAGE_DIR.parent


def lab_home() -> Path:
    return Path(os.environ.get("LOADLAB_HOME", REPO_ROOT / ".loadlab")).resolve()


def results_root() -> Path:
    return Path(os.environ.get("LOADLAB_RESULTS", REPO_ROOT / "results")).resolve()


def venv_bin(name: str) -> str:
    """A console script of the environment loadlab runs in (gunicorn, uvicorn, locust)."""
    import sys

    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def usable_results_root(path: Path) -> Path:
    """`path` as a results root, or a LabError saying why it cannot be one. Checked before a
    run starts anything; it never creates, moves or deletes what is already there."""
    import os

    from loadlab.core.errors import LabError

    for candidate in [path, *path.parents]:
        if candidate.exists() and not candidate.is_dir():
            raise LabError(
                f"the results folder {path} cannot be made: {candidate} exists and is not a folder",
                hint="pass --results a folder (new or existing); the file was left as it is",
            )
        if candidate.is_dir():
            if not os.access(candidate, os.W_OK | os.X_OK):
                raise LabError(
                    f"the results folder {path} cannot be written: {candidate} is not writable",
                    hint="pass --results a folder you can write to",
                )
            break
    return path
