"""Running the two command-line tools the engine API has no equal for: `docker compose` (the
project's life) and a BuildKit `docker build` (the Dockerfile's build secret and cache)."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT

ENGINE_HINT = (
    "start one with `infra/docker/engine.sh start` (Debian: installs docker.io and docker-compose)"
)


def run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    check: bool = True,
    log: Path | None = None,
    what: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run a docker/compose command in its own session, so that a terminal's Ctrl-C reaches
    only us; an interrupt or a time-out stops the command before it propagates."""
    handle = log.open("a") if log else None
    if handle:
        handle.write(f"$ {shlex.join(argv)}\n")
        handle.flush()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle or subprocess.PIPE,
            stderr=subprocess.STDOUT if handle else subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except FileNotFoundError:
        if handle:
            handle.close()
        raise LabError(f"{argv[0]} is not installed", hint=ENGINE_HINT) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException as exc:  # KeyboardInterrupt, TimeoutExpired
        _stop_group(proc)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise LabError(
                f"{what or shlex.join(argv[:4])} did not finish within {timeout:.0f}s",
                hint=f"see {log}" if log else "",
            ) from None
        raise
    finally:
        if handle:
            handle.close()
    done = subprocess.CompletedProcess(list(argv), proc.returncode, out or "", err or "")
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout or "").strip()
        if log and not detail:
            detail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise LabError(
            f"{what or shlex.join(argv)} failed (exit {done.returncode}):\n{detail[-2000:]}",
            hint=f"see {log}" if log else "",
        )
    return done


def _stop_group(proc: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)


@contextlib.contextmanager
def uninterruptible() -> Iterator[None]:
    """Teardown must finish: Ctrl-C (or SIGTERM) during it is ignored. Every command in it
    has a time limit, so it cannot hang for good. Main thread only (signals live there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
