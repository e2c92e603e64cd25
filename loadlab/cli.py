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
trace_app = typer.Typer(
    help="Request logs to replay (the trace-replay workload).", no_args_is_help=True
)
app.add_typer(trace_app, name="trace")


def _say_error(message: str) -> None:
    from rich.markup import escape

    from loadlab.console import err_console

    # escaped: a message quoting a config value or a path may hold [brackets]
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)


def _fail(error: BaseException, code: int = 2) -> None:
    _say_error(str(error))
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


def _db_rtt(spec: str | None) -> dict[str, list[float]] | None:
    if spec is None:
        return None
    from loadlab.config import NetworkEmulation

    try:
        return {"db_rtt_ms": NetworkEmulation.parse_rtts(spec)}
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--db-rtt") from None


@app.command()
def run(
    preset: Annotated[str, typer.Option(help="quick, standard, full or soak")] = "quick",
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="a TOML, YAML or JSON run config")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="run a scenario (`loadlab scenarios` lists them)")
    ] = None,
    size: Annotated[
        str, typer.Option(help="with --scenario: tiny, small or full (as written)")
    ] = "full",
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
    db_rtt: Annotated[
        str | None,
        typer.Option(
            help="emulated app-to-database round trip (root): 1ms, 0.5ms, 2 (= ms); "
            "a list sweeps, e.g. 0,0.5,1,2,5"
        ),
    ] = None,
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
        "network": _db_rtt(db_rtt),
        "order_seed": order_seed,
        "capacity": {
            k: v for k, v in {"enabled": capacity, "slo_p99_ms": slo_ms}.items() if v is not None
        }
        or None,
    }
    try:
        if scenario is not None:
            from loadlab.scenario import scenario_config

            if config is not None:
                raise LabError("--scenario and --config both name a run; give one of them")
            cfg = scenario_config(scenario, size, overrides)
        else:
            cfg = load_config(None if config and preset == "quick" else preset, config, overrides)
        if cfg.network is not None:  # before a results folder exists for a run that cannot start
            from loadlab.netem import require_privileges

            require_privileges()
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
    from loadlab.paths import results_root, usable_results_root
    from loadlab.runner import Run

    root = usable_results_root(results or results_root())
    with interrupts_as_keyboard_interrupt():
        try:
            with RichProgress() as progress:
                try:
                    current = Run(cfg, root, progress)
                except FileExistsError as exc:  # a run id collision: never write into it
                    raise LabError(
                        f"the run folder {exc.filename} already exists; it was left untouched",
                        hint="run again: every run draws a new id",
                    ) from None
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
    from loadlab import integrity
    from loadlab.analysis import summarize as build
    from loadlab.console import print_summary
    from loadlab.results import read_manifest

    if not (run_dir / "manifest.json").exists():
        _fail(LabError(f"{run_dir} has no manifest.json", hint="pass a folder under results/"))
    try:
        integrity.check(run_dir, read_manifest(run_dir))  # never summarise altered cell files
    except LabError as error:
        _fail(error)
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
    from loadlab.ports import ensure_port_free
    from loadlab.processes import interrupts_as_keyboard_interrupt
    from loadlab.registry import UnknownVariantError, get_variant

    try:
        spec = get_variant(variant)
        # before Postgres starts (and maybe seeds for minutes) only to find the port taken
        ensure_port_free(
            port,
            what=f"variant {variant}",
            hint=f"pass another --port, or stop whatever holds {port} "
            f"(`ss -ltnp 'sport = :{port}'` shows it)",
        )
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
    except UnknownVariantError as error:
        _fail(LabError(str(error), hint="`loadlab variants` lists them with their command lines"))
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
    from loadtests.workloads import get_workload, parameterised, workload_names

    for name in workload_names():
        console.print(
            f"[bold]{name}[/] ({get_workload(name).regime}): {get_workload(name).description}"
        )
    for family, meaning in parameterised().items():
        console.print(f"[bold]{family}-N[/]: N = {meaning}")


@app.command()
def scenarios() -> None:
    """List the scenarios: name, version, the claims they test, what they run."""
    from loadlab.console import console
    from loadlab.scenario import load_scenarios

    try:
        found = load_scenarios()
    except LabError as error:
        _fail(error)
        return
    for s in found:
        console.print(f"[bold]{s.name}[/] v{s.version} ({', '.join(s.claims)}): {s.description}")


@app.command()
def claims(
    size: Annotated[
        str, typer.Option(help="tiny (CI, seconds), small (a laptop) or full")
    ] = "small",
    scenarios: Annotated[
        str | None, typer.Option(help="comma-separated scenario names (default: all)")
    ] = None,
    runs: Annotated[
        list[Path] | None,
        typer.Option("--from", help="report on these finished scenario runs instead of running"),
    ] = None,
    results: Annotated[Path | None, typer.Option(help="results root (default ./results)")] = None,
    out: Annotated[Path, typer.Option(help="reports root")] = Path("reports"),
    name: Annotated[str | None, typer.Option(help="report folder name under reports/")] = None,
) -> None:
    """Run the scenarios and build one report that sets each published claim beside the ratio
    measured here, with a computed verdict."""
    from loadlab.console import console
    from loadlab.report.claims_report import build_claims_report
    from loadlab.scenario import claims_plan

    try:
        run_dirs = list(runs or [])
        if not run_dirs:
            for scenario, cfg in claims_plan(size, _csv(scenarios)):
                console.print(f"[bold]scenario {scenario.label}[/] at size {size}")
                run_dirs.append(_execute(cfg, results))
        console.print(f"report: {build_claims_report(run_dirs, out_root=out, name=name)}")
    except LabError as error:
        _fail(error)


@trace_app.command("generate")
def trace_generate(
    out: Annotated[Path | None, typer.Option(help="default: the lab's shipped shop trace")] = None,
    seed: Annotated[int, typer.Option(help="RNG seed")] = 20240601,
    duration: Annotated[float, typer.Option(help="seconds of traffic")] = 120.0,
    visits: Annotated[float, typer.Option(help="shopper visits starting per second")] = 4.0,
) -> None:
    """Write the shop model's request log (CSV) deterministically: same settings, same file."""
    from loadlab.console import console
    from loadlab.tracegen import write_shop_trace

    settings = {"seed": seed, "duration_s": duration, "visits_per_s": visits}
    path, count = write_shop_trace(out, **settings) if out else write_shop_trace(**settings)
    console.print(f"{count} requests written to {path}")


@trace_app.command("show")
def trace_show(
    path: Path,
    fmt: Annotated[
        str, typer.Option("--format", help="auto, csv, jsonl, gunicorn or nginx")
    ] = "auto",
) -> None:
    """Parse a trace (CSV, JSONL, gunicorn or nginx access log) and say what a replay sends."""
    from collections import Counter

    from loadlab.console import console
    from loadtests.replay import stats_name
    from loadtests.trace import FORMATS, TraceError, read_trace

    if fmt not in FORMATS:
        _fail(LabError(f"unknown trace format {fmt!r}; known: {', '.join(FORMATS)}"))
    try:
        trace = read_trace(path, fmt)  # type: ignore[arg-type]
    except TraceError as error:
        _fail(LabError(str(error)))
        return
    console.print(
        f"{len(trace.requests)} requests over {trace.span:.1f}s ({trace.rate:.1f} req/s at 1x); "
        f"{trace.skipped} line(s) skipped"
    )
    counts = Counter(f"{r.method} {stats_name(r.path)}" for r in trace.requests)
    for request, count in counts.most_common(10):
        console.print(f"  {count:>7}  {request}", highlight=False, markup=False)


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
        _say_error(str(error))
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:
        # A bug or a failure no command anticipated: still one line, not a traceback, unless
        # asked for. Nothing under results/ is touched on the way out.
        import os

        if os.environ.get("LOADLAB_DEBUG"):
            raise
        summary = (str(error).strip().splitlines() or [""])[0]
        _say_error(
            f"unexpected {type(error).__name__}: {summary}\n"
            "  fix: rerun with LOADLAB_DEBUG=1 for the traceback, and report it if it is a bug"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
