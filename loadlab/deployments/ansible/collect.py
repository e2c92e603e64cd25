"""A cell's outputs as the nodes left them (fetched into `cells/<id>/nodes/<host>/`), turned
into the layout every backend leaves: one resources.csv, Locust's files at the top, the
pg_stat_statements delta, and faults.json when a unit died or the database restarted."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from loadlab.core.results import write_json_atomic
from loadlab.measurement import pgstats
from loadlab.measurement.faults import FAULTS_FILE, Fault
from loadlab.measurement.telemetry import FIELDS

MACHINE = "machine"
# the files each node writes into its cell folder (cell.yml), besides resources.csv
PG_BEFORE, PG_AFTER = "pg-before.json", "pg-after.json"
APP_BEFORE, APP_AFTER = "app-before.json", "app-after.json"
WORKERS_AFTER = "workers-after.json"
NODE_STATE = (PG_BEFORE, PG_AFTER, APP_BEFORE, APP_AFTER, WORKERS_AFTER)


def merge_resources(cell_dir: Path, app_host: str) -> None:
    """One resources.csv from every node's samples: each node's own `machine` row is renamed
    `machine@HOST`, except the app node's, which stays `machine` (the system under test)."""
    rows: list[list[str]] = []
    for path in sorted((cell_dir / "nodes").glob("*/resources.csv")):
        host = path.parent.name
        with path.open() as handle:
            for row in csv.DictReader(handle):
                if row["component"] == MACHINE and host != app_host:
                    row["component"] = f"{MACHINE}@{host}"
                rows.append([row.get(f) or "" for f in FIELDS])
    rows.sort(key=lambda r: float(r[0]))
    tmp = cell_dir / ".resources.csv.tmp"
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        writer.writerows(rows)
    os.replace(tmp, cell_dir / "resources.csv")


def _read(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


PgStates = tuple[dict[str, Any], dict[str, Any]]


def pg_states(cell_dir: Path, db_host: str) -> PgStates:
    """The db node's state before and after the cell (large: statement snapshots)."""
    node = cell_dir / "nodes" / db_host
    return _read(node / PG_BEFORE), _read(node / PG_AFTER)


def statements(cell_dir: Path, db_host: str, states: PgStates) -> None:
    """pg_stat_statements.json: the delta between the db node's snapshots."""
    before, after = states
    if not before or not after:
        return

    def snapshot(state: dict[str, Any]) -> dict[int, dict[str, Any]]:
        return {int(k): v for k, v in (state.get("statements") or {}).items()}

    write_json_atomic(
        cell_dir / "pg_stat_statements.json", pgstats.delta(snapshot(before), snapshot(after))
    )
    for name in (PG_BEFORE, PG_AFTER):  # large, and their delta is kept
        (cell_dir / "nodes" / db_host / name).unlink()


def faults(
    cell_dir: Path,
    *,
    app_host: str,
    db_host: str,
    elapsed_s: float,
    states: PgStates | None = None,
) -> list[Fault]:
    """What the units' and the postmaster's state before and after the cell say went wrong
    (`states`: the db node's, when already read). The nodes are read once the swarm has
    ended, so each fault is dated at the cell's end."""
    nodes = cell_dir / "nodes"
    found: list[Fault] = []
    at = round(elapsed_s, 1)
    app_before, app_after = (
        _read(nodes / app_host / APP_BEFORE),
        _read(nodes / app_host / APP_AFTER),
    )
    for unit, before in app_before.items():
        after = app_after.get(unit, {})
        moved = [
            key
            for key in ("MainPID", "InvocationID", "NRestarts")
            if before.get(key) != after.get(key)
        ]
        if after.get("ActiveState") != "active" or moved:
            found.append(
                Fault(
                    kind="app process died",
                    detail=f"{unit} on {app_host} was {after.get('ActiveState', 'unknown')} "
                    f"({after.get('Result', '?')}, exit status {after.get('ExecMainStatus', '?')}) "
                    f"after the cell"
                    + (f"; its {', '.join(moved)} changed" if moved else "")
                    + "; the next cell starts it again",
                    at_s=at,
                )
            )
    for path in sorted(nodes.glob(f"*/{WORKERS_AFTER}")):
        for unit, state in _read(path).items():
            # a worker leaves with 0 when the master ends the test; anything else is a loss
            failed = state.get("Result") not in (None, "", "success") or state.get(
                "ExecMainStatus", "0"
            ) not in ("", "0")
            if failed:
                found.append(
                    Fault(
                        kind="load generator worker lost",
                        detail=f"{unit} on {path.parent.name} ended with {state.get('Result')} "
                        f"(exit status {state.get('ExecMainStatus')}); the other workers carried on",
                        at_s=at,
                    )
                )
    before, after = states if states is not None else pg_states(cell_dir, db_host)
    started, now = before.get("postmaster_start"), after.get("postmaster_start")
    if started and now and started != now:
        found.append(
            Fault(
                kind="database restarted",
                detail=f"the postmaster on {db_host} started at {started} went away during the "
                f"cell (started again at {now})",
                at_s=at,
            )
        )
    if found:
        write_json_atomic(cell_dir / FAULTS_FILE, [f.model_dump() for f in found])
    return found


def lift_master_files(cell_dir: Path, master_host: str) -> None:
    """Locust's CSVs, logs and measurement.json at the cell's top level, as every backend leaves them."""
    master = cell_dir / "nodes" / master_host
    own = {"resources.csv", *NODE_STATE}
    for path in sorted(master.glob("*")) if master.is_dir() else []:
        if path.name not in own:
            os.replace(path, cell_dir / path.name)
    for path in sorted((cell_dir / "nodes").glob("*/locust-worker-*.log")):
        os.replace(path, cell_dir / path.name)


def collect(
    cell_dir: Path, *, app_host: str, db_host: str, master_host: str, elapsed_s: float
) -> list[Fault]:
    merge_resources(cell_dir, app_host)
    states = pg_states(cell_dir, db_host)
    found = faults(cell_dir, app_host=app_host, db_host=db_host, elapsed_s=elapsed_s, states=states)
    statements(cell_dir, db_host, states)
    lift_master_files(cell_dir, master_host)
    return found
