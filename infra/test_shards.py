"""`make test`'s pytest, as two shards run side by side.

The host tests (the systemd-nspawn test bed, the emulated cloud, docker compose) spend most of
their time waiting on package downloads, booting machines or containers and Ansible round
trips, and the fault tests on processes dying and coming back, so they run beside the rest of
the suite instead of after it (in CI the two shards take about the same time). Each shard has
its own base temp folder and its own process group; output is streamed line by line with the
shard's name in front, and each shard's summary is repeated at the end. Ctrl-C or SIGTERM
stops both shards (their whole process groups) before this exits. With arguments, they go to
one plain pytest run instead.

    python infra/test_shards.py             # both shards
    python infra/test_shards.py tests/unit  # one pytest, these arguments
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[1]
HOST_TESTS = ["tests/ansible", "tests/cloud", "tests/compose", "tests/faults"]


@dataclass
class Shard:
    name: str
    args: list[str]
    process: subprocess.Popen[str] | None = None
    started: float = 0.0
    seconds: float = 0.0
    tail: list[str] = field(default_factory=list)

    def start(self, basetemp: Path) -> None:
        argv = [sys.executable, "-m", "pytest", *self.args, f"--basetemp={basetemp}"]
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            argv,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group: stopped as a whole
        )

    def stream(self, lock: threading.Lock) -> None:
        assert self.process and self.process.stdout
        for line in self.process.stdout:
            self.tail = [*self.tail[-40:], line.rstrip("\n")]
            with lock:
                print(f"[{self.name}] {line}", end="", flush=True)
        self.process.wait()
        self.seconds = time.monotonic() - self.started

    def stop(self, signum: int) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)


def shards() -> list[Shard]:
    ignored = [f"--ignore={path}" for path in HOST_TESTS]
    return [Shard("hosts", [*HOST_TESTS]), Shard("lab", ignored)]


def run(parts: list[Shard]) -> int:
    lock = threading.Lock()
    base = Path(tempfile.mkdtemp(prefix="loadlab-pytest-"))

    def stop_all(signum: int, _frame: FrameType | None) -> None:
        for shard in parts:
            shard.stop(signum)

    previous = {s: signal.signal(s, stop_all) for s in (signal.SIGINT, signal.SIGTERM)}
    readers = []
    try:
        for shard in parts:
            shard.start(base / shard.name)
            reader = threading.Thread(target=shard.stream, args=(lock,), daemon=True)
            reader.start()
            readers.append(reader)
        for reader in readers:
            while reader.is_alive():
                reader.join(timeout=1.0)  # joins in slices so a signal is handled at once
    finally:
        for shard in parts:
            shard.stop(signal.SIGTERM)
            if shard.process:
                shard.process.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)
    codes = {shard.name: shard.process.returncode if shard.process else 1 for shard in parts}
    print()
    for shard in parts:
        summary = next((line for line in reversed(shard.tail) if " in " in line), "")
        print(f"[{shard.name}] exit {codes[shard.name]} after {shard.seconds:.0f}s: {summary}")
    if any(code < 0 or code in (130, 143) for code in codes.values()):
        return 130
    return next((code for code in codes.values() if code != 0), 0)


def main(argv: list[str]) -> int:
    if argv:
        return subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=REPO)
    return run(shards())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
