"""The one place that starts and stops child processes.

Each child runs in its own session (process group), so stopping it also stops whatever it
forked (gunicorn workers, uvicorn workers, Postgres backends). Every child is also tracked
in a module-level set so that a crash or Ctrl-C anywhere still reaps all of them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

_LIVE: set[ManagedProcess] = set()


def tail(text: str, lines: int = 20) -> str:
    """The last `lines` lines of a process's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        group: str | None = None,
        cpuset: set[int] | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.group = group
        self.cpuset = cpuset
        self.stop_signal = stop_signal
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        cpuset = self.cpuset

        def _pin() -> None:
            if cpuset:
                os.sched_setaffinity(0, cpuset)

        try:
            # an interrupt between the fork and `_LIVE.add` would leave the child untracked,
            # alive after the run: it is held back until the child is on the books
            with _deferred_interrupts():
                self.popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    user=self.user,
                    group=self.group,
                    start_new_session=True,
                    preexec_fn=_pin if cpuset else None,
                )
                _LIVE.add(self)
        finally:
            log.close()
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return tail(self.log_path.read_text(errors="replace"), lines)
        except OSError:
            return ""

    def wait(self, timeout: float | None = None) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Signal the whole process group, wait, then kill what is left."""
        if self.popen is None:
            return
        try:
            if self.popen.poll() is None:
                _signal_group(self.popen.pid, self.stop_signal)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=timeout)
            # children may outlive a leader that exited: the group still needs reaping
            _signal_group(self.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=5)
        finally:
            _LIVE.discard(self)

    def __enter__(self) -> ManagedProcess:
        return self.start() if self.popen is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def _deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP for the block, then deliver them again to whatever
    handler was in place (so Ctrl-C still stops the run, just after the block)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be changed, and only run, in the main thread
        return
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: caught.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for signum in caught:
            os.kill(os.getpid(), signum)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_all() -> None:
    for proc in list(_LIVE):
        proc.stop(timeout=5)


def live_processes() -> list[ManagedProcess]:
    return [p for p in _LIVE if p.alive()]


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so every `finally` and context manager runs."""


@contextlib.contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    def _raise(signum: int, _frame: object) -> None:
        raise Interrupted(f"received {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


atexit.register(stop_all)
