"""The local backend listens on loopback only: the variants, the Locust master (no web UI)
and the private Postgres. Checked on the command lines the lab builds, without starting them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadlab.core.registry import load_registry
from loadlab.core.results import LoadLevel
from loadlab.deployments import swarm as swarm_module
from loadlab.deployments.appserver import AppServer


class _Recorded:
    """Stands in for ManagedProcess: keeps the argv instead of starting it."""

    started: list[list[str]] = []

    def __init__(self, name: str, argv: list[str], **kwargs: Any) -> None:
        self.argv = argv
        self.pid = 0

    def start(self) -> _Recorded:
        _Recorded.started.append(self.argv)
        return self

    def alive(self) -> bool:
        return False

    def stop(self) -> None:
        pass


def _value(argv: list[str], flag: str) -> str:
    assert flag in argv, f"{flag} missing from {argv}"
    return argv[argv.index(flag) + 1]


@pytest.mark.parametrize("variant", list(load_registry().values()), ids=lambda v: v.name)
def test_every_variant_binds_to_loopback(variant: Any, tmp_path: Path) -> None:
    server = AppServer(variant, "postgresql://x@127.0.0.1:1/x", tmp_path, workers=1, pool_size=1)
    argv = server.argv()
    bind = _value(argv, "--bind") if "--bind" in argv else _value(argv, "--host")
    assert bind.split(":")[0] == "127.0.0.1", argv
    assert "0.0.0.0" not in " ".join(argv)


def test_the_locust_master_binds_to_loopback_without_a_web_ui(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Recorded.started = []
    monkeypatch.setattr(swarm_module, "ManagedProcess", _Recorded)
    env = {"LOADLAB_DURATION_S": "1", "LOADLAB_MEASUREMENT_OUT": str(tmp_path / "m.json")}
    swarm_module.Swarm(
        "http://127.0.0.1:1", tmp_path, workers=2, load=LoadLevel(users=4), env=env
    ).start()
    master, *workers = _Recorded.started
    assert "--master" in master
    assert _value(master, "--master-bind-host") == "127.0.0.1"
    assert "--headless" in master, "headless: Locust's web UI is never started"
    assert not any(flag in master for flag in ("--web-host", "--web-port", "--autostart"))
    assert len(workers) == 2
    for worker in workers:
        assert _value(worker, "--master-host") == "127.0.0.1"
