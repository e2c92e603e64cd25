"""No paid machine left behind: a run that fails or is interrupted after provisioning started
destroys what it created, unless the user asked to keep it.

    with CleanupGuard(destroy, keep=False, say=print, what="lab 'loadlab' in eu-west-1"):
        provision(); converge(); bench()

SIGTERM and SIGHUP are turned into KeyboardInterrupt inside the block, so `kill`, a closed
terminal and Ctrl-C all end in the same cleanup. While it runs, Ctrl-C only says to wait:
the destroy playbook runs in its own session, out of the terminal's reach.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

from loadlab.core.errors import LabError


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal; `signal_name` says which."""

    def __init__(self, signal_name: str = "SIGINT") -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    handled = [signal.SIGTERM, signal.SIGHUP]
    previous = {s: signal.getsignal(s) for s in handled}
    for s in handled:
        signal.signal(s, _raise_interrupted)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def patience(say: Callable[[str], None]) -> Iterator[None]:
    """Ctrl-C and SIGTERM during the cleanup: say so, keep going."""

    def wait(signum: int, _frame: FrameType | None) -> None:
        say(f"{signal.Signals(signum).name} ignored: still destroying the lab; wait for it")

    handled = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous = {s: signal.getsignal(s) for s in handled}
    for s in handled:
        signal.signal(s, wait)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class CleanupGuard:
    """Calls `destroy()` when the block raises (an error, Ctrl-C, SIGTERM), unless `keep`.

    `destroy` returns a one-line summary of what it removed. The block's error is re-raised,
    completed by what happened to the resources; when the cleanup itself fails, the error says
    so and how to finish it by hand."""

    def __init__(
        self,
        destroy: Callable[[], str],
        *,
        keep: bool,
        say: Callable[[str], None],
        what: str,
        down_command: str,
        on_kept: Callable[[], None] | None = None,
    ) -> None:
        self.destroy = destroy
        self.keep = keep
        self.say = say
        self.what = what
        self.down_command = down_command
        self.on_kept = on_kept
        self.outcome: str | None = None
        self._signals: Any = None

    def __enter__(self) -> CleanupGuard:
        self._signals = signals_as_interrupts()
        self._signals.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        self._signals.__exit__(None, None, None)
        if exc is None or not isinstance(exc, Exception | KeyboardInterrupt):
            return False
        cause = (
            f"was interrupted ({exc.signal_name})"
            if isinstance(exc, Interrupted)
            else "was interrupted"
            if isinstance(exc, KeyboardInterrupt)
            else "failed"
        )
        if self.keep:
            self.outcome = f"kept {self.what} (--keep); `{self.down_command}` removes it"
            self.say(f"the run {cause}; {self.outcome}")
            if self.on_kept:
                self.on_kept()
            return self._reraise(exc)
        self.say(f"the run {cause}: destroying {self.what} (Ctrl-C cannot stop this)")
        try:
            with patience(self.say):
                summary = self.destroy()
        except Exception as error:
            raise LabError(
                f"{_message(exc)}; then the cleanup failed too: {error}",
                hint=f"run `{self.down_command}` until it reports nothing left",
            ) from None
        self.outcome = f"destroyed {self.what}: {summary}"
        self.say(self.outcome)
        return self._reraise(exc)

    def _reraise(self, exc: BaseException) -> bool:
        if isinstance(exc, LabError) and self.outcome:
            raise LabError(f"{exc.args[0]}; {self.outcome}", hint=exc.hint) from None
        return False  # KeyboardInterrupt and unexpected errors propagate as they are


def _message(exc: BaseException) -> str:
    if isinstance(exc, Interrupted):
        return f"interrupted by {exc.signal_name}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return exc.args[0] if isinstance(exc, LabError) and exc.args else str(exc)
