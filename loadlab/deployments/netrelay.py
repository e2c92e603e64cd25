"""A userspace stand-in for `tc netem delay`, for kernels built without sch_netem.

It runs inside the database's network namespace, listens on the namespace's veth address and
forwards each connection to PostgreSQL on the namespace's loopback, holding every chunk of
bytes for half the round trip in each direction. Order is kept (a chunk never overtakes the
one before it, even with jitter), so TCP sees a slow link, never a reordering one.

Threads, not asyncio: event loops wake with millisecond granularity (epoll timeouts), too
coarse for sub-millisecond delays; `time.sleep` wakes within tens of microseconds.

The delay is read from a JSON control file ({"rtt_ms": .., "jitter_ms": ..}) at start and
on SIGHUP; after each read the relay writes the same settings to `<control>.applied`, which
is how the lab knows a change is in force.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import random
import signal
import socket
import threading
import time
from collections import deque
from pathlib import Path

CHUNK = 256 * 1024
PR_SET_TIMERSLACK = 29


class Delay:
    def __init__(self, control: Path) -> None:
        self.control = control
        self.one_way_s = 0.0
        self.jitter_s = 0.0

    def reload(self) -> None:
        settings = json.loads(self.control.read_text())
        self.one_way_s = float(settings["rtt_ms"]) / 2000.0
        self.jitter_s = float(settings.get("jitter_ms", 0.0)) / 2000.0
        applied = self.control.with_name(self.control.name + ".applied")
        tmp = applied.with_name(applied.name + ".tmp")
        tmp.write_text(json.dumps(settings))
        tmp.replace(applied)

    def sample(self) -> float:
        if self.jitter_s:
            return max(0.0, self.one_way_s + random.uniform(-self.jitter_s, self.jitter_s))
        return self.one_way_s


class Direction:
    """src -> dst: one thread reads and stamps each chunk with its due time, one sends it then."""

    def __init__(self, src: socket.socket, dst: socket.socket, delay: Delay, done) -> None:  # type: ignore[no-untyped-def]
        self.src, self.dst, self.delay, self.done = src, dst, delay, done
        self.queue: deque[tuple[float, bytes]] = deque()
        self.ready = threading.Condition()

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._send, daemon=True).start()

    def _read(self) -> None:
        last_due = 0.0
        while True:
            try:
                data = self.src.recv(CHUNK)
            except OSError:
                data = b""
            due = max(last_due, time.monotonic() + self.delay.sample()) if data else 0.0
            last_due = due
            with self.ready:
                self.queue.append((due, data))
                self.ready.notify()
            if not data:
                return

    def _send(self) -> None:
        while True:
            with self.ready:
                while not self.queue:
                    self.ready.wait()
                due, data = self.queue.popleft()
            if not data:  # end of stream: pass the half-close on
                with contextlib.suppress(OSError):
                    self.dst.shutdown(socket.SHUT_WR)
                self.done()
                return
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                self.dst.sendall(data)
            except OSError:
                self.done(force=True)
                return


def relay(client: socket.socket, upstream: tuple[str, int], delay: Delay) -> None:
    try:
        server = socket.create_connection(upstream)
    except OSError:
        client.close()
        return
    for sock in (client, server):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    finished = {"count": 0}
    lock = threading.Lock()

    def done(force: bool = False) -> None:
        with lock:
            finished["count"] += 2 if force else 1
            if finished["count"] >= 2:
                for sock in (client, server):
                    with contextlib.suppress(OSError):
                        sock.close()

    Direction(client, server, delay, done).start()
    Direction(server, client, delay, done).start()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="host:port to accept on")
    parser.add_argument("--upstream", required=True, help="host:port to forward to")
    parser.add_argument("--control", required=True, type=Path, help="JSON delay settings")
    args = parser.parse_args()
    # the default 50 us timer slack would blur the sub-millisecond delays this exists for
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)
    delay = Delay(args.control)
    listener = socket.create_server(_address(args.listen), backlog=512, reuse_port=False)
    signal.signal(signal.SIGHUP, lambda *_: delay.reload())
    delay.reload()  # also announces that the relay is listening
    upstream = _address(args.upstream)
    while True:
        client, _ = listener.accept()
        relay(client, upstream, delay)


if __name__ == "__main__":
    main()
