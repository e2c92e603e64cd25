"""What the playbooks run on the nodes, as `python -m loadlab.deployments.ansible COMMAND`
(the lab's code is deployed there by the common role). Each command prints JSON or writes it
to `--out`, for the control machine to read back."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from loadlab.core.pg_settings import REPORT_QUERY, REPORTED, ROLE_SETTINGS
from loadlab.core.results import write_json_atomic

# What a unit's fault watch compares before and after a cell (`systemctl show`).
UNIT_PROPERTIES = [
    "ActiveState", "SubState", "Result", "MainPID", "InvocationID", "NRestarts",
    "ExecMainCode", "ExecMainStatus",
]  # fmt: skip


def _print_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, default=str)
    sys.stdout.write("\n")


def node_facts(_: argparse.Namespace) -> None:
    from loadlab.measurement import environment

    _print_json(
        {
            "machine": environment.machine(),
            "python": environment.python(),
            "packages": environment.packages(),
        }
    )


def pg_facts(args: argparse.Namespace) -> None:
    import psycopg

    with psycopg.connect(args.dsn) as conn:
        version = conn.execute("SELECT version()").fetchone()
        # the role's settings, as SHOW renders them (the manifest's form on every backend)
        names = list(dict.fromkeys([*ROLE_SETTINGS, *REPORTED]))
        rows = conn.execute(REPORT_QUERY, [names]).fetchall()
    _print_json({"version": version[0] if version else "", "settings": dict(sorted(rows))})


def pg_state(args: argparse.Namespace) -> None:
    """A pg_stat_statements snapshot and the postmaster's start time (a restart changes it)."""
    import psycopg

    from loadlab.measurement import pgstats

    with psycopg.connect(args.dsn) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()
    state = {
        "postmaster_start": row[0] if row else None,
        "statements": {str(k): v for k, v in pgstats.snapshot(args.dsn).items()},
    }
    write_json_atomic(Path(args.out), state)


def unit_properties(unit: str, properties: list[str]) -> dict[str, str]:
    """`systemctl show` of these properties, as {property: value} ({} for an unknown unit)."""
    done = subprocess.run(
        ["systemctl", "show", "--property", ",".join(properties), unit],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return dict(line.partition("=")[::2] for line in done.stdout.splitlines() if "=" in line)


def unit_state(args: argparse.Namespace) -> None:
    """The named units' state (UNIT_PROPERTIES), as {unit: {property: value}}."""
    states = {unit: unit_properties(unit, UNIT_PROPERTIES) for unit in args.unit}
    write_json_atomic(Path(args.out), states)


def seed_check(args: argparse.Namespace) -> None:
    """Print {"current": bool, "reason": str}: current when the state file records this scale,
    seed and schema, and the database's data checksum equals the recorded one."""
    state_path = Path(args.state)
    try:
        recorded = json.loads(state_path.read_text())
    except (OSError, ValueError):
        _print_json({"current": False, "reason": f"nothing recorded in {state_path}"})
        return
    from services import seed as seeding

    wanted = {
        "scale": args.scale,
        "seed": args.seed,
        "schema_fingerprint": seeding.schema_fingerprint(),
    }
    different = [k for k, v in wanted.items() if recorded.get(k) != v]
    if different:
        _print_json(
            {"current": False, "reason": f"recorded seed differs in {', '.join(different)}"}
        )
        return
    try:
        checksum = seeding.data_checksum(args.dsn)
    except Exception as error:  # no tables yet, a dropped database, ...
        _print_json({"current": False, "reason": f"cannot checksum the data: {error}"})
        return
    if checksum != recorded.get("checksum"):
        _print_json(
            {"current": False, "reason": "the data's checksum differs from the recorded one"}
        )
        return
    _print_json(
        {"current": True, "reason": f"data checksum {checksum[:12]} matches the recorded seed"}
    )


def systemd_main_pid(unit: str) -> int:
    pid = unit_properties(unit, ["MainPID"]).get("MainPID", "")
    return int(pid) if pid.isdigit() else 0


def telemetry(args: argparse.Namespace) -> None:
    """Sample this node's components until SIGTERM (cell.yml runs this as a transient unit)."""
    from loadlab.measurement import telemetry as sampler

    argv = ["--out", args.out, "--interval", str(args.interval)]
    for spec in args.unit:
        name, _, unit = spec.partition("=")
        pid = systemd_main_pid(unit)
        if pid:
            argv += ["--component", f"{name}={pid}"]
    for spec in args.match:
        argv += ["--match", spec]
    sampler.main(argv)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadlab.deployments.ansible")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("node-facts", help="machine, Python and package versions")
    p.set_defaults(func=node_facts)

    p = commands.add_parser("pg-facts", help="Postgres version and the settings in force")
    p.add_argument("--dsn", required=True)
    p.set_defaults(func=pg_facts)

    p = commands.add_parser("pg-state", help="pg_stat_statements and the postmaster's start")
    p.add_argument("--dsn", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=pg_state)

    p = commands.add_parser("unit-state", help="systemd units' state, for the fault watch")
    p.add_argument("--unit", action="append", default=[])
    p.add_argument("--out", required=True)
    p.set_defaults(func=unit_state)

    p = commands.add_parser("seed-check", help="does the database hold the recorded seed?")
    p.add_argument("--dsn", required=True)
    p.add_argument("--scale", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--state", required=True)
    p.set_defaults(func=seed_check)

    p = commands.add_parser("telemetry", help="the resource sampler for this node")
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--unit", action="append", default=[], help="COMPONENT=UNIT (its MainPID)")
    p.add_argument("--match", action="append", default=[], help="COMPONENT=CMDLINE-SUBSTRING")
    p.set_defaults(func=telemetry)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    args.func(args)
