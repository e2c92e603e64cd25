"""The compose backend's parts that need no engine: the swarm's service overrides come from
the one SwarmSpec, a container's state reads as a process's, and the sampler's roots skip
the init process. (tests/compose/test_compose_run.py runs them all for real.)"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from loadlab.core.config import RunConfig
from loadlab.core.results import CellSpec, LoadLevel
from loadlab.deployments.compose.containers import ContainerInfo
from loadlab.deployments.compose.faults import WatchedContainer
from loadlab.deployments.compose.sampler import _below_init
from loadlab.deployments.compose.swarm import service_overrides
from loadlab.deployments.swarm import SwarmSizing
from loadlab.deployments.swarm_spec import SwarmSpec, WebUi

pytestmark = pytest.mark.compose


def _attrs(**state: Any) -> dict[str, Any]:
    return {
        "Id": "c0ffee",
        "RestartCount": state.pop("restarts", 0),
        "Config": {
            "Labels": {
                "com.docker.compose.service": "locust-worker",
                "com.docker.compose.container-number": "2",
            },
            "Cmd": ["locust"],
            "Env": ["A=1"],
        },
        "State": {
            "Pid": 4242,
            "Running": True,
            "Status": "running",
            "ExitCode": 0,
            "StartedAt": "2026-12-03T13:00:00Z",
            **state,
        },
        "Image": "sha256:1",
    }


def _spec(web: WebUi | None = None) -> SwarmSpec:
    return SwarmSpec(
        target_url="http://fastapi-async:8000",
        users=8,
        total_s=4,
        workers=2,
        csv_prefix="/app/out/locust",
        environment={"LOADLAB_WORKLOAD": "db-read"},
        master_host="locust-master",
        web=web,
    )


def test_the_lab_runs_the_swarm_specs_command_lines_on_compose() -> None:
    spec = _spec()
    services = service_overrides(spec)["services"]
    assert services["locust-master"]["command"] == spec.master_command()
    assert services["locust-worker"]["command"] == spec.worker_command()
    worker = services["locust-worker"]["command"]
    assert worker[worker.index("--master-host") + 1] == "locust-master"
    for name in ("locust-master", "locust-worker"):
        assert services[name]["environment"] == {"LOADLAB_WORKLOAD": "db-read"}
    assert "--headless" in services["locust-master"]["command"]


def test_web_on_compose_serves_the_ui_inside_the_container_with_autostart() -> None:
    master = service_overrides(_spec(WebUi(host="0.0.0.0")))["services"]["locust-master"]
    command = master["command"]
    assert "--headless" not in command and "--autostart" in command
    # every interface of the container: compose publishes it on 127.0.0.1 only
    assert command[command.index("--web-host") + 1] == "0.0.0.0"
    assert command[command.index("--web-port") + 1] == "8089"


def test_web_is_accepted_on_compose() -> None:
    assert RunConfig(backend="compose", web=True).web


def test_a_containers_state_reads_as_a_process() -> None:
    first = ContainerInfo.from_attrs(_attrs())
    assert (first.service, first.number, first.pid) == ("locust-worker", 2, 4242)
    assert first.same_run(ContainerInfo.from_attrs(_attrs()))
    assert not first.same_run(ContainerInfo.from_attrs(_attrs(restarts=1)))
    assert not first.same_run(ContainerInfo.from_attrs(_attrs(StartedAt="2026-12-03T13:00:09Z")))
    assert not first.same_run(ContainerInfo.from_attrs(_attrs(Running=False, ExitCode=137)))


class _Stack:
    def __init__(self, now: ContainerInfo) -> None:
        self.now = now

    def inspect(self, container_id: str) -> ContainerInfo:
        return self.now


@pytest.mark.parametrize(
    ("state", "code", "name"),
    [
        ({"Running": False, "ExitCode": 137}, -9, "locust-worker-0"),  # docker kill
        (
            {"Running": False, "ExitCode": 137, "OOMKilled": True},
            -9,
            "locust-worker-0 (OOM-killed)",
        ),
        ({"Running": False, "ExitCode": 3}, 3, "locust-worker-0"),
        ({"restarts": 1}, None, "locust-worker-0"),  # running again: no exit code to tell
    ],
)
def test_a_dead_or_restarted_container_is_a_dead_process(
    state: dict[str, Any], code: int | None, name: str
) -> None:
    first = ContainerInfo.from_attrs(_attrs())
    watched = WatchedContainer(
        _Stack(ContainerInfo.from_attrs(_attrs(**state))), "locust-worker-0", first
    )  # type: ignore[arg-type]
    watched._read_at = float("-inf")  # no cached reading
    assert not watched.alive()
    assert watched.returncode() == code
    assert watched.name == name


def test_the_init_process_is_not_part_of_a_component(tmp_path: Path) -> None:
    assert _below_init(os.getpid()) == [os.getpid()]
    assert _below_init(0) == []


def test_a_cell_spec_renders_for_compose() -> None:
    """ComposeLab.swarm_spec: the container's paths, the workers find the master by name."""
    from loadlab.deployments.compose.lab import ComposeLab

    lab = ComposeLab.__new__(ComposeLab)
    lab.config = RunConfig(backend="compose")
    lab.data = {"users": 2000}
    lab.locust_workers = 2
    lab.sizing = SwarmSizing.from_config(2, 90.0)
    lab.web_url = None
    served = type("Served", (), {"internal_url": "http://flask-sync:8000"})()
    cell = CellSpec(
        cell_id="000-x", order=0, variant="flask-sync", workload="db-read",
        load=LoadLevel(model="closed", users=8), repeat=0, duration_s=3, warmup_s=1,
    )  # fmt: skip
    spec = lab.swarm_spec(cell, served)  # type: ignore[arg-type]
    assert spec.locustfile == "loadtests/locustfile.py"
    assert spec.csv_prefix == "/app/out/locust" and spec.master_host == "locust-master"
    assert spec.environment["LOADLAB_MEASUREMENT_OUT"] == "/app/out/measurement.json"
    assert spec.total_s == 4 and spec.workers == 2 and spec.web is None
    assert json.loads(spec.environment["LOADLAB_SWARM"])["sizing"] == "fixed"
