"""The `loadlab` command line. Commands parse, call one function that does the work, print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from loadlab.errors import LabError

app = typer.Typer(
    help="A load-test lab: Flask against FastAPI on a real PostgreSQL, measured by distributed Locust.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The lab's private PostgreSQL cluster.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _fail(error: BaseException, code: int = 2) -> None:
    from loadlab.console import err_console

    err_console.print(f"[bold red]error:[/] {error}", highlight=False)
    raise typer.Exit(code)


def _csv(value: str | None, cast: Any = str) -> list[Any] | None:
    if value is None:
        return None
    try:
        return [cast(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a comma-separated list of numbers") from None


def _cpusets(spec: str | None) -> dict[str, str] | None:
    if spec is None:
        return None
    parts = dict(item.split("=", 1) for item in spec.split(";") if "=" in item)
    missing = {"app", "db", "load"} - set(parts)
    if missing:
        raise typer.BadParameter(
            f"--pin needs app=, db= and load= CPU lists (missing {', '.join(sorted(missing))}); "
            "example: --pin 'app=0;db=1;load=1'"
        )
    return parts


@app.command()
def run(
    preset: Annotated[str, typer.Option(help="quick, standard or full")] = "quick",
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="a TOML, YAML or JSON run config")
    ] = None,
    backend: Annotated[str | None, typer.Option(help="local (default), compose or ansible")] = None,
    inventory: Annotated[
        str | None, typer.Option("--inventory", "-i", help="ansible backend: inventory")
    ] = None,
    variants: Annotated[str | None, typer.Option(help="comma-separated variant names")] = None,
    workloads: Annotated[str | None, typer.Option(help="comma-separated workload names")] = None,
    users: Annotated[
        str | None, typer.Option(help="closed model: user counts, e.g. 16,32,64")
    ] = None,
    rates: Annotated[
        str | None, typer.Option(help="open model: arrival rates in req/s, e.g. 200,400")
    ] = None,
    think_ms: Annotated[float | None, typer.Option(help="closed model think time (ms)")] = None,
    repeats: Annotated[int | None, typer.Option(min=1)] = None,
    duration: Annotated[float | None, typer.Option(help="measured seconds per cell")] = None,
    warmup: Annotated[
        float | None, typer.Option(help="warm-up seconds per cell (not measured)")
    ] = None,
    scale: Annotated[float | None, typer.Option(help="data scale: 1.0 = 1,000,000 users")] = None,
    locust_workers: Annotated[int | None, typer.Option(min=1)] = None,
    app_workers: Annotated[int | None, typer.Option(min=1)] = None,
    pool_size: Annotated[int | None, typer.Option(min=1)] = None,
    capacity: Annotated[bool | None, typer.Option("--capacity/--no-capacity")] = None,
    slo_ms: Annotated[float | None, typer.Option(help="capacity search: p99 SLO in ms")] = None,
    verify: Annotated[bool | None, typer.Option("--verify/--no-verify")] = None,
    pin: Annotated[str | None, typer.Option(help="CPU sets, e.g. 'app=0;db=1;load=1'")] = None,
    order_seed: Annotated[
        int | None, typer.Option(help="seed of the randomised cell order")
    ] = None,
    results: Annotated[Path | None, typer.Option(help="results root (default ./results)")] = None,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="build the report at the end")
    ] = True,
) -> None:
    """Run a benchmark matrix and print its summary (and build its report)."""
    from loadlab.config import load_config

    loads: list[dict[str, Any]] | None = None
    if users is not None or rates is not None:
        loads = [
            {"model": "closed", "users": u, "think_time_ms": think_ms or 0}
            for u in _csv(users, int) or []
        ]
        loads += [{"model": "open", "users": 128, "rate": r} for r in _csv(rates, float) or []]
    overrides: dict[str, Any] = {
        "backend": backend,
        "inventory": inventory,
        "variants": _csv(variants),
        "workloads": _csv(workloads),
        "loads": loads,
        "repeats": repeats,
        "duration_s": duration,
        "warmup_s": warmup,
        "scale": scale,
        "locust_workers": locust_workers,
        "app_workers": app_workers,
        "pool_size": pool_size,
        "verify": verify,
        "cpusets": _cpusets(pin),
        "order_seed": order_seed,
        "capacity": {
            k: v for k, v in {"enabled": capacity, "slo_p99_ms": slo_ms}.items() if v is not None
        }
        or None,
    }
    try:
        cfg = load_config(None if config and preset == "quick" else preset, config, overrides)
        run_dir = _execute(cfg, results)
    except LabError as error:
        _fail(error)
        return
    _finish(run_dir, report)


def _execute(cfg: Any, results: Path | None) -> Path:
    from loadlab.console import RichProgress, console
    from loadlab.processes import interrupts_as_keyboard_interrupt

    if cfg.backend == "ansible":
        from loadlab.backends.ansible import run_ansible

        return Path(run_ansible(cfg, results))
    from loadlab.paths import results_root
    from loadlab.runner import Run

    with interrupts_as_keyboard_interrupt():
        try:
            with RichProgress() as progress:
                current = Run(cfg, results or results_root(), progress)
                return current.execute()
        except KeyboardInterrupt:
            console.print(
                f"[yellow]interrupted:[/] every process stopped; the finished cells are kept in "
                f"{current.dir if 'current' in locals() else 'results/'}"
            )
            raise typer.Exit(130) from None


def _finish(run_dir: Path, report: bool) -> None:
    from loadlab.console import console, print_summary
    from loadlab.results import read_summary

    print_summary(read_summary(run_dir))
    console.print(f"results: {run_dir}")
    if report:
        try:
            from loadlab.report import build_report
        except ImportError:
            return
        console.print(f"report: {build_report([run_dir])}")


@app.command()
def summarize(run_dir: Path) -> None:
    """(Re)build summary.json from a results folder's raw cell files, and print it."""
    from loadlab.analysis import summarize as build
    from loadlab.console import print_summary

    if not (run_dir / "manifest.json").exists():
        _fail(LabError(f"{run_dir} has no manifest.json", hint="pass a folder under results/"))
    print_summary(build(run_dir))


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="one or more results folders")],
    name: Annotated[str | None, typer.Option(help="report folder name under reports/")] = None,
    out: Annotated[Path, typer.Option(help="reports root")] = Path("reports"),
) -> None:
    """Build reports/<name>/index.html and report.md from one or more runs."""
    from loadlab.console import console
    from loadlab.report import build_report

    for run_dir in run_dirs:
        if not (run_dir / "summary.json").exists():
            _fail(
                LabError(
                    f"{run_dir} has no summary.json",
                    hint=f"run `loadlab summarize {run_dir}` first",
                )
            )
    console.print(f"report: {build_report(list(run_dirs), out_root=out, name=name)}")


@app.command()
def reproduce(
    report_dir: Annotated[
        Path, typer.Argument(help="a published report folder, e.g. reports/<name>")
    ],
) -> None:
    """Re-run a report's matrix here and build a report setting the re-run beside the original."""
    from loadlab.console import console
    from loadlab.report import reproduce as rerun

    try:
        console.print(f"report: {rerun(report_dir)}")
    except LabError as error:
        _fail(error)


@app.command()
def serve(
    variant: str,
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[int | None, typer.Option(min=1)] = None,
    pool_size: Annotated[int, typer.Option(min=1)] = 10,
    scale: Annotated[float, typer.Option(help="data scale to seed if the cluster is empty")] = 1.0,
) -> None:
    """Serve one variant on 127.0.0.1:PORT against the lab's Postgres, until Ctrl-C."""
    import os
    import time

    from loadlab.appserver import AppServer
    from loadlab.backends.local import cluster_for
    from loadlab.console import console
    from loadlab.dataset import ensure_seeded
    from loadlab.paths import lab_home
    from loadlab.processes import interrupts_as_keyboard_interrupt
    from loadlab.registry import get_variant

    try:
        spec = get_variant(variant)
        cluster = cluster_for()
        with interrupts_as_keyboard_interrupt(), cluster.running():
            ensure_seeded(cluster, scale, 20240601)
            server = AppServer(
                spec, cluster.dsn(), lab_home() / "logs", workers or len(os.sched_getaffinity(0)),
                pool_size, port=port,
            )  # fmt: skip
            with server:
                console.print(f"{variant} serving on {server.url} (Ctrl-C stops it)")
                console.print(" ".join(server.argv()))
                while server.process and server.process.alive():
                    time.sleep(0.5)
    except (LabError, ValueError) as error:
        _fail(error)
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
def variants() -> None:
    """List the variants in the registry with their command lines."""
    from loadlab.console import console
    from loadlab.registry import load_registry

    for variant in load_registry().values():
        console.print(f"[bold]{variant.name}[/]: {variant.description}")
        console.print("  " + " ".join(variant.command), highlight=False)


@app.command()
def workloads() -> None:
    """List the workloads the locustfile can run."""
    from loadlab.console import console
    from loadtests.workloads import get_workload, workload_names

    for name in workload_names():
        console.print(
            f"[bold]{name}[/] ({get_workload(name).regime}): {get_workload(name).description}"
        )


@db_app.command("up")
def db_up(
    scale: Annotated[float | None, typer.Option(help="also seed at this scale")] = None,
) -> None:
    """Start the private cluster (and seed it when --scale is given); it stays up."""
    from loadlab.backends.local import cluster_for
    from loadlab.console import console

    try:
        cluster = cluster_for()
        started = cluster.start()
        console.print(f"PostgreSQL {'started' if started else 'already running'}: {cluster.dsn()}")
        if scale is not None:
            _seed_cluster(cluster, scale, force=False)
    except LabError as error:
        _fail(error)


@db_app.command("down")
def db_down(
    purge: Annotated[bool, typer.Option(help="also delete the data directory")] = False,
) -> None:
    """Stop the private cluster."""
    from loadlab.backends.local import cluster_for
    from loadlab.console import console

    cluster = cluster_for()
    if purge:
        cluster.purge()
        console.print(f"stopped and removed {cluster.home}")
    else:
        cluster.stop()
        console.print("stopped")


@db_app.command("seed")
def db_seed(
    scale: Annotated[float, typer.Option(help="1.0 = 1,000,000 users")] = 1.0,
    seed: Annotated[int, typer.Option(help="RNG seed of the data")] = 20240601,
    dsn: Annotated[
        str | None, typer.Option(help="seed this server instead of the private cluster")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="reseed even if the cluster already holds this data")
    ] = False,
) -> None:
    """Create the schema and load the deterministic data set (COPY, indexes, ANALYZE)."""
    from loadlab.console import console

    try:
        if dsn:
            import json

            from loadlab.dataset import seed_external

            info = seed_external(dsn, scale, seed)
            console.print(json.dumps(info, indent=1))
            return
        from loadlab.backends.local import cluster_for

        cluster = cluster_for()
        with cluster.running():
            _seed_cluster(cluster, scale, force=force, seed=seed)
    except LabError as error:
        _fail(error)


def _seed_cluster(cluster: Any, scale: float, force: bool, seed: int = 20240601) -> None:
    from loadlab.console import RichProgress, console
    from loadlab.dataset import ensure_seeded

    with RichProgress() as progress:
        progress.phase(f"seeding at scale {scale:g}")
        info = ensure_seeded(cluster, scale, seed, progress.seed, force=force)
    verb = "reused" if info["reused"] else f"seeded in {info['seed_seconds']}s"
    console.print(f"data {verb}: {info['rows']} checksum {info['checksum']}")


@db_app.command("status")
def db_status() -> None:
    """Is the private cluster running, and what does it hold?"""
    from loadlab.backends.local import cluster_for
    from loadlab.console import console

    cluster = cluster_for()
    pid = cluster.running_pid()
    console.print(
        f"data directory: {cluster.data_dir} ({'initialised' if cluster.initialized else 'empty'})"
    )
    console.print(f"running: {'yes, pid ' + str(pid) if pid else 'no'}")
    console.print(f"seeded: {cluster.seed_info or 'no'}")


def main() -> None:
    try:
        app()
    except LabError as error:
        from loadlab.console import err_console

        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
