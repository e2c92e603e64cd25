"""What the lab's own load generation costs: the same app driven by a bare one-process
Locust and by the lab's cell path, alternately, on a real PostgreSQL.

    .venv/bin/python benchmarks/loadgen_overhead.py --variant fastapi-async --workload db \\
        --users 64 --rounds 3 --duration 10

Each round runs (a) `locust -f benchmarks/bare_locustfile.py --headless` (FastHttpUser, no
plugins, one process) and then (b) one cell exactly as the local backend runs it
(`LocalLab.run_cell`: the Swarm of master and workers with loadtests/locustfile.py, the
resource sampler, pg_stat_statements, auto sizing of the workers), against one app server
started once. Both run warm-up + duration seconds with the same users.

Throughput is compared on one basis, Locust's own count over the whole run (the
`Aggregated` line of the summary each Locust prints as it quits, successful requests only;
spawning included on both sides); the lab's own figure (measurement.json: the measured window after warm-up) is
printed beside it. The ratio lab/bare says what the lab's measuring costs the app on this
machine. It is a benchmark: it prints figures and asserts nothing.

PostgreSQL is the lab's private cluster under LOADLAB_HOME (or --home), seeded at --scale
when it is not already; a cluster it finds running is left running.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BARE_LOCUSTFILE = Path(__file__).resolve().parent / "bare_locustfile.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="fastapi-async")
    parser.add_argument("--workload", default="db", help="a workload of one GET (db, json, ...)")
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds a run")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds a run")
    parser.add_argument("--scale", type=float, default=1.0, help="data scale (0.002 for a smoke)")
    parser.add_argument(
        "--locust-workers", default="auto", help='the lab side: "auto" (default) or a number'
    )
    parser.add_argument(
        "--pin-load", default=None, help="CPU list for both load generators, e.g. 1 (default: none)"
    )
    parser.add_argument("--home", type=Path, default=None, help="LOADLAB_HOME (the cluster)")
    parser.add_argument("--out", type=Path, default=None, help="where runs leave their files")
    return parser.parse_args(argv)


def single_get_path(workload_name: str) -> str:
    """The one path a single-request workload GETs (the bare locustfile sends only that)."""
    import random

    from loadtests.workloads import get_workload
    from loadtests.workloads.base import Draw

    workload = get_workload(workload_name)
    sent: list[tuple[str, str]] = []

    class Client:
        def get(self, path: str, **_kw: Any) -> None:
            sent.append(("GET", path))

        def post(self, path: str, **_kw: Any) -> None:
            sent.append(("POST", path))

        def request(self, method: str, path: str, **_kw: Any) -> None:
            sent.append((method, path))

    draw = Draw(random.Random(1), 1000)
    for _ in range(20):
        workload.pick(draw.rng).send(Client(), draw, {})
    if len(workload.requests) != 1 or len(set(sent)) != 1 or sent[0][0] != "GET":
        raise SystemExit(
            f"workload {workload_name} is not one fixed GET (it sends {sorted(set(sent))[:3]}); "
            "the bare locustfile needs one, e.g. db or json"
        )
    return sent[0][1]


def locust_summary(log: Path) -> dict[str, float]:
    """Locust's own final figures, the `Aggregated` line of the summary it prints when it
    quits: requests, failures, and successful requests per second over its whole run. (The
    *_stats.csv files are only rewritten every second, so their last state may be a second
    old; the summary is not.)"""
    rows = [
        line
        for line in log.read_text(errors="replace").splitlines()
        if line.strip().startswith("Aggregated") and line.count("|") == 2
    ]
    if not rows:
        raise SystemExit(f"no Locust summary in {log}")
    counts, _times, rates = rows[-1].split("|")
    fields = counts.split()
    requests, failures = int(fields[1]), int(fields[2].split("(")[0])
    rps = float(rates.split()[0])
    return {
        "requests": requests,
        "failures": failures,
        "rps": rps * (requests - failures) / requests if requests else 0.0,
    }


def run_bare(url: str, path: str, args: argparse.Namespace, run_dir: Path) -> dict[str, float]:
    from loadlab.core.config import CpuSets
    from loadlab.core.paths import venv_bin
    from loadlab.deployments.processes import ManagedProcess

    run_dir.mkdir(parents=True, exist_ok=True)
    total = args.warmup + args.duration
    proc = ManagedProcess(
        "bare-locust",
        [
            venv_bin("locust"),
            "-f",
            str(BARE_LOCUSTFILE),
            "--headless",
            "-u",
            str(args.users),
            "-r",
            str(args.users),
            "-t",
            f"{total:g}s",
            "--host",
            url,
            "--csv",
            str(run_dir / "bare"),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ],
        log_path=run_dir / "bare-locust.log",
        env={**os.environ, "BARE_PATH": path},
        cwd=REPO,
        cpuset=CpuSets.parse(args.pin_load) if args.pin_load else None,
    ).start()
    try:
        proc.wait(timeout=total + 60)
    finally:
        proc.stop(timeout=5)
    return locust_summary(run_dir / "bare-locust.log")


def run_lab(lab: Any, served: Any, args: argparse.Namespace, index: int, cells: Path) -> dict:
    from loadlab.core.progress import Silent
    from loadlab.core.results import CellSpec, LoadLevel, write_json_atomic
    from loadlab.measurement.analysis import component_usage

    spec = CellSpec(
        cell_id=f"{index:03d}-{args.variant}-{args.workload}-closed-{args.users}u",
        order=index,
        variant=args.variant,
        workload=args.workload,
        load=LoadLevel(model="closed", users=args.users),
        repeat=index,
        duration_s=args.duration,
        warmup_s=args.warmup,
    )
    cell_dir = cells / spec.cell_id
    write_json_atomic(cell_dir / "cell.json", spec)
    lab.run_cell(spec, served, cell_dir, Silent())
    measurement = json.loads((cell_dir / "measurement.json").read_text())
    measured_s = float(measurement.get("measured_s") or 0.0)
    good = int(measurement["requests"]) - int(measurement["errors"])
    usage = component_usage(
        cell_dir / "resources.csv",
        float(measurement.get("measure_from_wall") or 0.0),
        float(measurement.get("stop_wall") or float("inf")),
    )
    worker = usage.get("locust-worker")
    return {
        **locust_summary(cell_dir / "locust-master.log"),
        "measured_rps": good / measured_s if measured_s else 0.0,
        "workers": (measurement.get("swarm") or {}).get("workers")
        or measurement.get("workers_expected"),
        "attempts": 1 + len((measurement.get("swarm") or {}).get("earlier_attempts") or []),
        "busiest_worker_cpu": worker.busiest_process_cpu_mean_percent if worker else None,
        "loadgen_cpu": sum(u.cpu_mean_percent for c, u in usage.items() if c.startswith("locust")),
        "app_cpu": usage["app"].cpu_mean_percent if "app" in usage else None,
    }


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def spread(values: list[float]) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return (
        f"{mean:.3f} ± {sd:.3f} (sd; min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.home is not None:
        args.home.mkdir(parents=True, exist_ok=True)
        os.environ["LOADLAB_HOME"] = str(args.home.resolve())
    from loadlab.core.config import CpuSets, RunConfig
    from loadlab.core.results import LoadLevel
    from loadlab.deployments.dataset import ensure_seeded
    from loadlab.deployments.local import LocalLab, cluster_for
    from loadlab.deployments.processes import interrupts_as_keyboard_interrupt, stop_all

    path = single_get_path(args.workload)
    config = RunConfig(
        variants=[args.variant],
        workloads=[args.workload],
        loads=[LoadLevel(model="closed", users=args.users)],
        duration_s=args.duration,
        warmup_s=args.warmup,
        scale=args.scale,
        locust_workers=args.locust_workers,
        verify=False,
    )
    out = args.out or Path(tempfile.mkdtemp(prefix="loadgen-overhead-"))
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"{args.variant} · {args.workload} ({path}) · {args.users} users · "
        f"{args.rounds} rounds of {args.warmup:g}+{args.duration:g} s · lab workers "
        f"{args.locust_workers} · load pinned to {args.pin_load or 'nothing'} · files in {out}",
        flush=True,
    )
    rows: list[tuple[dict[str, float], dict[str, Any]]] = []
    cluster = cluster_for(config)
    try:
        with interrupts_as_keyboard_interrupt(), cluster.running():
            data = ensure_seeded(cluster, config.scale, config.data_seed)
            lab = LocalLab(config, cluster, data, out / "logs")
            if args.pin_load:
                from loadlab.deployments.swarm import SwarmSizing

                lab.load_cpus = CpuSets.parse(args.pin_load)
                lab.sizing = SwarmSizing.from_config(
                    config.locust_workers, config.validity.loadgen_cpu_percent, lab.load_cpus
                )
            with lab.serve(args.variant) as served:
                # one unrecorded bare run first: the app, its pool and Postgres' cache warm up
                primer = argparse.Namespace(**{**vars(args), "duration": 0.0})
                run_bare(served.url, path, primer, out / "prime")
                print(
                    f"{'round':>5}  {'bare':>9}  {'lab':>9}  {'lab/bare':>8}  "
                    f"{'lab measured':>12}  {'workers':>7}  {'worker CPU':>10}  "
                    f"{'locust CPU':>10}  {'app CPU':>7}",
                    flush=True,
                )
                for index in range(1, args.rounds + 1):
                    bare = run_bare(served.url, path, args, out / "bare" / f"round-{index}")
                    labbed = run_lab(lab, served, args, index, out / "cells")
                    rows.append((bare, labbed))
                    print(
                        f"{index:>5}  {bare['rps']:>9.1f}  {labbed['rps']:>9.1f}  "
                        f"{labbed['rps'] / bare['rps']:>8.3f}  {labbed['measured_rps']:>12.1f}  "
                        f"{labbed['workers']!s:>7}  {percent(labbed['busiest_worker_cpu']):>10}  "
                        f"{percent(labbed['loadgen_cpu']):>10}  {percent(labbed['app_cpu']):>7}",
                        flush=True,
                    )
    finally:
        stop_all()
    ratios = [labbed["rps"] / bare["rps"] for bare, labbed in rows if bare["rps"]]
    measured = [labbed["measured_rps"] / bare["rps"] for bare, labbed in rows if bare["rps"]]
    print(f"bare req/s:  {spread([b['rps'] for b, _ in rows])}")
    print(f"lab req/s:   {spread([lab['rps'] for _, lab in rows])}")
    print(f"ratio lab/bare (Locust's count, same basis): {spread(ratios)}")
    print(f"ratio lab measured/bare (lab's figure after warm-up): {spread(measured)}")


if __name__ == "__main__":
    main()
