"""The ansible backend: the same matrix on separate machines, driven by `playbooks/bench.yml`.

`loadlab run --backend ansible -i INVENTORY` calls `run_ansible`, which runs the playbook with
the run's configuration as extra vars and returns the results folder (LOADLAB_ANSIBLE_ARGS
adds arguments to ansible-playbook, e.g. `--limit` or `--ask-vault-pass`). The playbook calls back
into this module for what is easier in Python than in YAML, as `python -m
loadlab.deployments.ansible COMMAND`:

on the control machine
  plan            create results/<run-id>/, config.json and a first manifest.json; print the
                  cells in their randomised order, each with its Locust environment
  collect-cell    merge the nodes' resource samples, compute the pg_stat_statements delta
  finish          complete manifest.json (topology, data, Postgres, variants) and summarise

on the nodes (the lab's code is deployed there by the common role)
  node-facts      machine, Python and package versions
  pg-facts        Postgres version and the benchmark settings in force
  pgstats         a pg_stat_statements snapshot
  seed-check      does the database hold the recorded seed (same checksum)?
  telemetry       the resource sampler for this node's components
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT

PLAYBOOKS = REPO_ROOT / "playbooks"
BENCH = PLAYBOOKS / "bench.yml"
MACHINE = "machine"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _print_json(payload: Any) -> None:
    json.dump(payload, sys.stdout, default=str)
    sys.stdout.write("\n")


# ----------------------------------------------------------------------------- the CLI's entry
def ansible_playbook() -> str:
    candidate = Path(sys.executable).parent / "ansible-playbook"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("ansible-playbook")
    if not found:
        raise LabError(
            "ansible-playbook not found",
            hint="pip install 'ansible-core>=2.16,<2.18' and run infra/testbed/prepare.sh",
        )
    return found


def bench_command(config: Any, results_root: Path, run_id: str, vars_file: Path) -> list[str]:
    if not config.inventory:
        raise LabError(
            "the ansible backend needs an inventory",
            hint="loadlab run --backend ansible -i playbooks/inventories/hosts.yml",
        )
    return [ansible_playbook(), "-i", str(config.inventory), str(BENCH), "-e", f"@{vars_file}"]


def run_ansible(
    config: Any, results_root: Path | None = None, extra_args: list[str] | None = None
) -> Path:
    """Run `config`'s matrix with playbooks/bench.yml; returns results/<run-id>/."""
    from loadlab.core.paths import results_root as default_root
    from loadlab.core.results import new_run_id

    if config.capacity.enabled:
        raise LabError(
            "the ansible backend runs the matrix only, not the capacity search",
            hint="run without --capacity, or search capacity with the local or compose backend",
        )
    if config.profile != "stock":
        # the units are rendered once per run, not per workload as the tuned profile needs
        raise LabError(
            f"the ansible backend runs the stock profile (with the run's own knobs), "
            f"not {config.profile!r}",
            hint="set the knobs in the run's config (knobs: {VARIANT: {KNOB: VALUE}}), or run "
            "the tuned profile with the local or compose backend",
        )
    root = (results_root or default_root()).resolve()
    run_id = new_run_id()
    # e.g. "--limit ... -e loadlab_source_dir=... --ask-vault-pass"
    extra_args = [*shlex.split(os.environ.get("LOADLAB_ANSIBLE_ARGS", "")), *(extra_args or [])]
    with tempfile.TemporaryDirectory(prefix="loadlab-bench-") as tmp:
        vars_file = Path(tmp) / "bench-vars.json"
        vars_file.write_text(
            json.dumps(
                {
                    "bench_config": json.loads(config.model_dump_json(exclude={"inventory"})),
                    "bench_results_root": str(root),
                    "bench_run_id": run_id,
                    "bench_inventory": str(config.inventory),
                }
            )
        )
        command = [*bench_command(config, root, run_id, vars_file), *extra_args]
        env = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg")}
        done = subprocess.run(command, cwd=PLAYBOOKS, env=env, check=False)
    run_dir = root / run_id
    if done.returncode != 0:
        raise LabError(
            f"ansible-playbook bench.yml failed (exit {done.returncode}); finished cells, if any, "
            f"are in {run_dir}",
            hint="see the failed task above; `ansible-playbook -i INVENTORY site.yml` converges the nodes",
        )
    return run_dir


# ----------------------------------------------------------------------------- control machine
def plan(args: argparse.Namespace) -> None:
    """Create the run folder and print the cells in their randomised, recorded order."""
    from loadlab import __version__
    from loadlab.core.config import load_config
    from loadlab.core.matrix import new_order_seed
    from loadlab.core.matrix import plan as plan_cells
    from loadlab.core.results import Manifest, write_json_atomic
    from loadlab.deployments.swarm import swarm_environment
    from loadlab.measurement import environment

    overrides = json.loads(args.config or "{}")
    overrides.pop("inventory", None)
    overrides["backend"] = "ansible"
    overrides["scale"] = args.scale
    overrides["locust_workers"] = args.locust_workers
    config = load_config(preset=None, overrides=overrides)
    if config.order_seed is None:
        config = config.model_copy(update={"order_seed": new_order_seed()})
    run_dir = Path(args.results_root) / args.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "cells").mkdir(exist_ok=True)
    write_json_atomic(run_dir / "config.json", json.loads(config.model_dump_json()))
    sha, dirty = environment.git_state()
    inventory = f" -i {shlex.quote(args.inventory)}" if args.inventory else ""
    manifest = Manifest(
        run_id=args.run_id,
        loadlab_version=__version__,
        git_sha=sha,
        git_dirty=dirty,
        backend="ansible",
        preset=config.preset,
        started=_now(),
        command=f"loadlab run --backend ansible{inventory} --config results/{args.run_id}/config.json",
        config=json.loads(config.model_dump_json()),
    )
    cells = plan_cells(
        config.variants,
        config.workloads,
        config.loads,
        config.repeats,
        seed=int(config.order_seed or 0),
        duration_s=config.duration_s,
        warmup_s=config.warmup_s,
    )
    manifest.order = {
        "seed": config.order_seed,
        "design": "randomised complete blocks: each repeat shuffles every cell once",
        "sequence": [c.cell_id for c in cells],
    }
    write_json_atomic(run_dir / "manifest.json", manifest)
    planned = []
    for spec in cells:
        node_dir = f"{args.node_cells_dir}/{spec.cell_id}"
        env = swarm_environment(
            workload=spec.workload,
            load=spec.load,
            users_seeded=args.users_seeded,
            warmup_s=spec.warmup_s,
            duration_s=spec.duration_s,
            measurement_out=Path(node_dir) / "measurement.json",
        )
        total_s = float(env["LOADLAB_DURATION_S"])
        env.update(
            {
                "LOADLAB_CELL_DIR": node_dir,
                "LOADLAB_EXPECT_WORKERS": str(args.locust_workers),
                "LOADLAB_SPAWN_RATE": str(max(spec.load.users, 1)),
                # the master stops itself after LOADLAB_DURATION_S; this is a backstop
                "LOADLAB_RUN_TIME": f"{int(total_s + 30)}s",
                "LOADLAB_TARGET_URL": args.target_url,
            }
        )
        planned.append(
            {
                "cell_id": spec.cell_id,
                "variant": spec.variant,
                "spec": json.loads(spec.model_dump_json()),
                "env": env,
                "timeout_s": int(total_s + 120),
            }
        )
    _print_json(
        {
            "run_id": args.run_id,
            "run_dir": str(run_dir),
            "verify": config.verify,
            "app_workers": config.app_workers,
            "pool_size": config.pool_size,
            "cells": planned,
        }
    )


def merge_resources(cell_dir: Path, app_host: str) -> None:
    """One resources.csv from every node's samples: each node's own `machine` row is renamed
    `machine@HOST`, except the app node's, which stays `machine` (the system under test)."""
    from loadlab.measurement.telemetry import FIELDS

    node_files = sorted((cell_dir / "nodes").glob("*/resources.csv"))
    rows: list[list[str]] = []
    for path in node_files:
        host = path.parent.name
        with path.open() as handle:
            for row in csv.DictReader(handle):
                if row["component"] == MACHINE and host != app_host:
                    row["component"] = f"{MACHINE}@{host}"
                rows.append([row[f] for f in FIELDS])
    rows.sort(key=lambda r: float(r[0]))
    tmp = cell_dir / ".resources.csv.tmp"
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        writer.writerows(rows)
    os.replace(tmp, cell_dir / "resources.csv")


def collect_cell(args: argparse.Namespace) -> None:
    from loadlab.core.results import write_json_atomic
    from loadlab.measurement import pgstats

    cell_dir = Path(args.cell_dir)
    merge_resources(cell_dir, args.app_host)
    before_path, after_path = Path(args.pg_before), Path(args.pg_after)
    if before_path.exists() and after_path.exists():

        def load(path: Path) -> dict[int, dict[str, Any]]:
            return {int(k): v for k, v in json.loads(path.read_text()).items()}

        write_json_atomic(
            cell_dir / "pg_stat_statements.json", pgstats.delta(load(before_path), load(after_path))
        )
        before_path.unlink()
        after_path.unlink()
    # Locust's CSVs and logs sit at the cell's top level, as the local backend leaves them.
    master = cell_dir / "nodes" / args.master_host
    for path in sorted(master.glob("*")) if master.is_dir() else []:
        if path.name != "resources.csv":
            os.replace(path, cell_dir / path.name)
    for path in sorted((cell_dir / "nodes").glob("*/locust-worker-*.log")):
        os.replace(path, cell_dir / path.name)


def unit_knobs(variant: str, knobs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The knob overrides the app role rendered `variant`'s unit with (its app_knobs): the
    "*" entry for the knobs the variant has, then the variant's own entry."""
    from loadlab.core.registry import get_variant

    own = get_variant(variant).knobs
    chosen = {k: v for k, v in (knobs.get("*") or {}).items() if k in own}
    chosen.update(knobs.get(variant) or {})
    return chosen


def finish(args: argparse.Namespace) -> None:
    """Complete manifest.json from the facts bench.yml gathered, then summarise the run."""
    from loadlab.core import integrity
    from loadlab.core.registry import get_variant
    from loadlab.core.results import Manifest, write_json_atomic
    from loadlab.measurement.analysis import summarize

    run_dir = Path(args.run_dir)
    facts = json.loads(Path(args.facts).read_text())
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    nodes: dict[str, Any] = facts["nodes"]
    app_host = facts["groups"]["app"][0]
    app_node = nodes.get(app_host, {})
    manifest.machine = dict(app_node.get("machine", {}))
    manifest.python = app_node.get("python", "")
    manifest.packages = dict(app_node.get("packages", {}))
    manifest.postgres = facts.get("postgres", {})
    manifest.data = facts.get("data", {})
    app = facts["app"]
    for variant in manifest.config.get("variants", []):
        spec = get_variant(variant)
        overrides = unit_knobs(variant, app.get("knobs") or {})
        # as the app role renders the unit: "cpus" is app_workers, app_pool_size every
        # variant's pool, the run's knobs over both
        given = {"pool_size": int(app["pool_size"])} if "pool_size" in spec.knobs else {}
        manifest.variants[variant] = spec.record(
            host=app["bind_host"], port=int(app["port"]),
            knobs=spec.settings({**given, **overrides}, cpus=int(app["workers"])),
            profile="custom" if overrides else "stock",
        )  # fmt: skip
    roles: dict[str, list[str]] = {}
    for group, members in facts["groups"].items():
        for host in members:
            roles.setdefault(host, []).append(group)
    manifest.topology = {
        "backend": "ansible",
        "inventory": facts.get("inventory"),
        "hosts": {
            host: {
                "roles": roles.get(host, []),
                "address": node.get("address"),
                "cpu_model": node.get("machine", {}).get("cpu_model"),
                "cpu_count": node.get("machine", {}).get("cpu_count"),
                "memory_bytes": node.get("machine", {}).get("memory_bytes"),
                "kernel": node.get("machine", {}).get("kernel"),
                "os": node.get("machine", {}).get("os"),
                "virtualization": node.get("virtualization"),
                "locust_workers": node.get("locust_workers", 0),
            }
            for host, node in sorted(nodes.items())
        },
        "app_url": app.get("url"),
        "app_workers": int(app["workers"]),
        "locust_workers": sum(int(n.get("locust_workers", 0)) for n in nodes.values()),
        "database": facts["groups"]["db"][0],
    }
    if facts.get("testbed"):
        manifest.caveats.append(
            "the nodes are containers of the local test bed (infra/testbed) on one machine: they "
            "share its cores, so the figures prove the pipeline, not the frameworks' speed"
        )
    if not manifest.config.get("verify", True) or not facts.get("verified", False):
        manifest.caveats.append(
            "the ansible backend does not run the pre-measurement verification; run "
            "`loadlab run` locally to verify the variants"
        )
    manifest.finished = _now()
    manifest.interrupted = bool(facts.get("failed", False))
    write_json_atomic(run_dir / "manifest.json", manifest)
    summary = summarize(run_dir)
    # the fetched cells are final now (summarize wrote any missing latency.hdr): seal them
    manifest.checksums = {
        cell.spec.cell_id: integrity.cell_checksums(run_dir / "cells" / cell.spec.cell_id)
        for cell in summary.cells
    }
    write_json_atomic(run_dir / "manifest.json", manifest)
    _print_json(
        {"run_dir": str(run_dir), "cells": len(summary.cells), "complete": summary.complete}
    )


# ----------------------------------------------------------------------------- on the nodes
def node_facts(_: argparse.Namespace) -> None:
    from loadlab.measurement import environment

    _print_json(
        {
            "machine": environment.machine(),
            "python": environment.python(),
            "packages": environment.packages(),
        }
    )


PG_SETTINGS = [
    "max_connections", "shared_buffers", "effective_cache_size", "work_mem",
    "maintenance_work_mem", "max_wal_size", "checkpoint_timeout", "random_page_cost",
    "effective_io_concurrency", "synchronous_commit", "fsync", "jit", "track_io_timing",
    "shared_preload_libraries", "pg_stat_statements.track", "pg_stat_statements.max",
    "password_encryption", "listen_addresses",
]  # fmt: skip


def pg_facts(args: argparse.Namespace) -> None:
    import psycopg

    with psycopg.connect(args.dsn) as conn:
        version = conn.execute("SELECT version()").fetchone()
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
            (PG_SETTINGS,),
        ).fetchall()
    _print_json({"version": version[0] if version else "", "settings": dict(sorted(rows))})


def pgstats_snapshot(args: argparse.Namespace) -> None:
    from loadlab.measurement import pgstats

    _print_json({str(k): v for k, v in pgstats.snapshot(args.dsn).items()})


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
    done = subprocess.run(
        ["systemctl", "show", "--property", "MainPID", "--value", unit],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        return int(done.stdout.strip() or 0)
    except ValueError:
        return 0


def telemetry(args: argparse.Namespace) -> None:
    """Sample this node's components until SIGTERM (bench.yml runs this as a transient unit)."""
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


# ----------------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadlab.deployments.ansible")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("plan")
    p.add_argument("--config", help="the run configuration as JSON (RunConfig keys)")
    p.add_argument("--results-root", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--inventory", default="")
    p.add_argument("--scale", type=float, required=True)
    p.add_argument("--users-seeded", type=int, required=True)
    p.add_argument("--locust-workers", type=int, required=True, help="worker processes in all")
    p.add_argument("--target-url", required=True)
    p.add_argument("--node-cells-dir", required=True)
    p.set_defaults(func=plan)

    p = commands.add_parser("collect-cell")
    p.add_argument("--cell-dir", required=True)
    p.add_argument("--app-host", required=True)
    p.add_argument("--master-host", required=True)
    p.add_argument("--pg-before", required=True)
    p.add_argument("--pg-after", required=True)
    p.set_defaults(func=collect_cell)

    p = commands.add_parser("finish")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--facts", required=True)
    p.set_defaults(func=finish)

    p = commands.add_parser("node-facts")
    p.set_defaults(func=node_facts)

    p = commands.add_parser("pg-facts")
    p.add_argument("--dsn", required=True)
    p.set_defaults(func=pg_facts)

    p = commands.add_parser("pgstats")
    p.add_argument("--dsn", required=True)
    p.set_defaults(func=pgstats_snapshot)

    p = commands.add_parser("seed-check")
    p.add_argument("--dsn", required=True)
    p.add_argument("--scale", type=float, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--state", required=True)
    p.set_defaults(func=seed_check)

    p = commands.add_parser("telemetry")
    p.add_argument("--out", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--unit", action="append", default=[], help="COMPONENT=UNIT (its MainPID)")
    p.add_argument("--match", action="append", default=[], help="COMPONENT=CMDLINE-SUBSTRING")
    p.set_defaults(func=telemetry)

    args = parser.parse_args(argv)
    try:
        args.func(args)
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
