"""The ansible lab's side of a cell, without hosts: the SwarmSpec as a systemd environment
file, and the fault watch and file layout from what the nodes left."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadlab.core.config import load_config
from loadlab.core.errors import LabError
from loadlab.core.progress import Silent
from loadlab.core.results import CellSpec, LoadLevel
from loadlab.deployments.ansible import collect
from loadlab.deployments.ansible.forward import tunnel_command
from loadlab.deployments.ansible.lab import AnsibleLab, _words
from loadlab.measurement.faults import read_faults

FACTS = {
    "groups": {"db": ["tb1"], "app": ["tb2"], "locust_master": ["tb3"], "locust_workers": ["tb3"]},
    "worker_units": [{"host": "tb3", "unit": f"loadlab-locust-worker@{n}.service"} for n in (1, 2)],
    "app": {"host": "tb2", "url": "http://10.0.0.2:8000", "workers": 1, "pool_size": 4},
    "master": {"host": "tb3", "address": "10.0.0.3", "port": 5557},
    "cells_dir": "/var/lib/loadlab/cells",
    "data": {"users": 1000},
}
ACTIVE = {"ActiveState": "active", "MainPID": "41", "InvocationID": "a", "NRestarts": "0"}


def lab(tmp_path: Path, preset: str = "quick") -> AnsibleLab:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    config = load_config(preset, overrides={"backend": "ansible", "inventory": str(inventory)})
    made = AnsibleLab(config, tmp_path, Silent())
    made.facts, made.data = FACTS, FACTS["data"]
    return made


def spec() -> CellSpec:
    return CellSpec(
        cell_id="001-x", order=1, variant="flask-sync", workload="db-read",
        load=LoadLevel(users=8), repeat=1, duration_s=5, warmup_s=1,
    )  # fmt: skip


def test_the_swarm_spec_gives_the_units_their_command_lines(tmp_path: Path) -> None:
    swarm = lab(tmp_path).swarm_spec(spec(), "/var/lib/loadlab/cells/001-x")
    master = _words(swarm.master_command()[1:]).split()
    assert master[:4] == ["-f", "loadtests/locustfile.py", "--master", "--headless"]
    assert " ".join(master).count("--expect-workers 2 ") == 1
    assert "--host http://10.0.0.2:8000" in " ".join(master)
    worker = _words(swarm.worker_command()[1:])
    assert "--worker --master-host 10.0.0.3 --master-port 5557" in worker
    assert swarm.environment["LOADLAB_MEASUREMENT_OUT"].startswith("/var/lib/loadlab/cells/001-x/")
    with pytest.raises(LabError, match="whitespace"):
        _words(["--csv", "/a b/locust"])


def test_soak_windows_reach_the_nodes(tmp_path: Path) -> None:
    swarm = lab(tmp_path, "soak").swarm_spec(spec(), "/cells/001-x")
    assert float(swarm.environment["LOADLAB_WINDOW_S"]) > 0


def node(cell: Path, host: str, name: str, payload: object) -> None:
    (cell / "nodes" / host).mkdir(parents=True, exist_ok=True)
    (cell / "nodes" / host / name).write_text(json.dumps(payload))


def states(cell: Path, app_after: dict[str, str], worker: dict[str, str], pg_after: str) -> None:
    unit = "loadlab-app-flask-sync.service"
    node(cell, "tb2", collect.APP_BEFORE, {unit: ACTIVE})
    node(cell, "tb2", collect.APP_AFTER, {unit: app_after})
    node(cell, "tb3", collect.WORKERS_AFTER, {"loadlab-locust-worker@1.service": worker})
    node(cell, "tb1", collect.PG_BEFORE, {"postmaster_start": "t0", "statements": {}})
    node(cell, "tb1", collect.PG_AFTER, {"postmaster_start": pg_after, "statements": {}})


def test_a_clean_cell_has_no_faults(tmp_path: Path) -> None:
    states(tmp_path, ACTIVE, {"Result": "success", "ExecMainStatus": "0"}, "t0")
    assert collect.faults(tmp_path, app_host="tb2", db_host="tb1", elapsed_s=6) == []
    assert not (tmp_path / "faults.json").exists()


def test_a_dead_app_a_lost_worker_and_a_restarted_database_are_faults(tmp_path: Path) -> None:
    died = {**ACTIVE, "ActiveState": "failed", "Result": "signal", "MainPID": "0"}
    states(tmp_path, died, {"Result": "exit-code", "ExecMainStatus": "1"}, "t1")
    found = collect.faults(tmp_path, app_host="tb2", db_host="tb1", elapsed_s=6)
    kinds = [f.kind for f in found]
    assert kinds == ["app process died", "load generator worker lost", "database restarted"]
    assert [f.kind for f in read_faults(tmp_path)] == kinds


def test_the_cell_leaves_the_layout_of_every_backend(tmp_path: Path) -> None:
    header = "time,component,pid,cpu_percent,rss_bytes,uss_bytes\n"
    for host, rows in {"tb2": "2.0,app,7,50,100,90\n1.0,machine,0,10,1,\n",
                       "tb3": "1.5,machine,0,20,1,\n"}.items():  # fmt: skip
        (tmp_path / "nodes" / host).mkdir(parents=True)
        (tmp_path / "nodes" / host / "resources.csv").write_text(header + rows)
    (tmp_path / "nodes" / "tb3" / "locust_stats.csv").write_text("x")
    (tmp_path / "nodes" / "tb3" / "measurement.json").write_text("{}")
    states(tmp_path, ACTIVE, {"Result": "success"}, "t0")
    collect.collect(tmp_path, app_host="tb2", db_host="tb1", master_host="tb3", elapsed_s=1)
    lines = (tmp_path / "resources.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in lines[1:]] == ["machine", "machine@tb3", "app"]
    assert (tmp_path / "locust_stats.csv").exists() and (tmp_path / "measurement.json").exists()
    assert (tmp_path / "pg_stat_statements.json").exists()
    assert (tmp_path / "nodes" / "tb3" / collect.WORKERS_AFTER).exists()  # kept, as evidence


def test_the_web_ui_is_reached_through_ssh_as_ansible_reaches_the_master() -> None:
    settings = {
        "ansible_host": "10.0.0.3",
        "ansible_user": "root",
        "ansible_ssh_private_key_file": "/keys/lab",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no",
    }
    argv = tunnel_command(settings, "tb3", 18089, 8089)
    assert argv[-1] == "root@10.0.0.3"
    assert "127.0.0.1:18089:127.0.0.1:8089" in argv and "/keys/lab" in argv
    assert "StrictHostKeyChecking=no" in argv
    with pytest.raises(LabError, match="template"):
        tunnel_command({"ansible_host": "{{ x }}"}, "tb3", 1, 2)


def test_with_web_the_master_serves_its_ui_on_its_loopback(tmp_path: Path) -> None:
    made = lab(tmp_path)
    made.config = made.config.model_copy(update={"web": True})
    master = made.swarm_spec(spec(), "/cells/001-x").master_args()
    assert master[:2] == ["--master", "--autostart"] and "--headless" not in master
    assert master[master.index("--web-host") + 1] == "127.0.0.1"


def test_a_missing_inventory_is_named(tmp_path: Path) -> None:
    config = load_config("quick", overrides={"backend": "ansible", "inventory": "nope.yml"})
    with pytest.raises(LabError, match=r"nope\.yml does not exist"):
        AnsibleLab(config, tmp_path, Silent())
