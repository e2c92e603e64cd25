"""One SwarmSpec gives the master's and the workers' command lines, headless or watched."""

from __future__ import annotations

from loadlab.deployments.swarm_spec import SwarmSpec, WebUi


def _spec(**extra: object) -> SwarmSpec:
    return SwarmSpec(
        target_url="http://127.0.0.1:8000",
        users=8,
        total_s=12,
        workers=2,
        csv_prefix="/tmp/cell/locust",
        environment={"LOADLAB_WORKLOAD": "json"},
        **extra,  # type: ignore[arg-type]
    )


def _value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_headless_by_default_with_the_backstop_after_the_timed_stop() -> None:
    master = _spec().master_command("locust")
    assert master[:3] == ["locust", "-f", "loadtests/locustfile.py"]
    assert "--headless" in master and "--autostart" not in master
    assert _value(master, "-u") == "8" and _value(master, "-r") == "8"
    assert _value(master, "-t") == "42s"
    assert _value(master, "--expect-workers") == "2"


def test_web_serves_the_ui_on_loopback_and_still_starts_and_ends_by_itself() -> None:
    master = _spec(web=WebUi(port=18089)).master_args()
    assert "--headless" not in master
    assert "--autostart" in master and _value(master, "--autoquit") == "0"
    assert _value(master, "--web-host") == "127.0.0.1"
    assert _value(master, "--web-port") == "18089"


def test_workers_find_the_master_where_it_binds() -> None:
    spec = _spec(master_bind_host="127.0.0.1", master_port=15557)
    assert _value(spec.master_args(), "--master-bind-port") == "15557"
    worker = spec.worker_args()
    assert worker[0] == "--worker"
    assert _value(worker, "--master-host") == "127.0.0.1"
    assert _value(worker, "--master-port") == "15557"
