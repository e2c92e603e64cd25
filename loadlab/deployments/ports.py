"""Free-port discovery and clear errors for ports already taken."""

from __future__ import annotations

import socket

from loadlab.core.errors import LabError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def preferred_port(port: int, host: str = "127.0.0.1") -> int:
    """`port` when nothing listens there (a well-known one a user expects), else a free one."""
    try:
        ensure_port_free(port, host)
    except LabError:
        return free_port(host)
    return port


def ensure_port_free(
    port: int, host: str = "127.0.0.1", what: str = "the lab", hint: str | None = None
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LabError(
                f"port {port} on {host} is already in use, so {what} cannot listen there ({exc.strerror})",
                hint=hint
                or f"stop whatever holds it (`ss -ltnp 'sport = :{port}'` shows it) "
                "or leave the port unset so the lab picks a free one",
            ) from None
