"""Facts about where a run happened, for the manifest: machine, versions, git state."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib.metadata import distributions
from typing import Any

import psutil

from loadlab.core.paths import REPO_ROOT


def _field(path: str, prefix: str, separator: str) -> str | None:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(prefix):
                    return line.split(separator, 1)[1].strip().strip('"')
    except OSError:
        pass
    return None


def cpu_model() -> str:
    return _field("/proc/cpuinfo", "model name", ":") or platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_count": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "memory_bytes": psutil.virtual_memory().total,
        "kernel": platform.release(),
        "os": _os_release(),
        "arch": platform.machine(),
    }


def _os_release() -> str:
    return _field("/etc/os-release", "PRETTY_NAME=", "=") or platform.platform()


def packages() -> dict[str, str]:
    """Every distribution installed in the environment the lab runs in."""
    return dict(sorted((d.metadata["Name"].lower(), d.version) for d in distributions()))


def python() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def git_state() -> tuple[str | None, bool | None]:
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    sha = run("rev-parse", "HEAD")
    # reports/ is where runs write their output (the index of reports included): a tree
    # only the lab itself has written to is not "uncommitted changes" to the code measured
    status = run("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)reports")
    return sha, (bool(status) if status is not None else None)
