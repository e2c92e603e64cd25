"""The `loadlab` command line. Commands parse, call one function that does the work, print."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from labcontract.dataset import DEFAULT_SEED
from loadlab.cli.cloud import cloud_app
from loadlab.core.errors import LabError

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
app.add_typer(cloud_app, name="cloud")


def _say_error(message: str) -> None:
    from rich.markup import escape

    from loadlab.cli.console import err_console

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


def _knobs(specs: list[str] | None) -> dict[str, dict[str, str]] | None:
    """["flask-sync.threads=64", "pool_size=16"] -> {"flask-sync": {...}, "*": {...}}"""
    if not specs:
        return None
    knobs: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name.strip():
            raise typer.BadParameter(
                f"{spec!r} is not VARIANT.KNOB=VALUE or KNOB=VALUE "
                "(example: --knob flask-sync.threads=64); `loadlab variants` lists the knobs",
                param_hint="--knob",
            )
        variant, _, knob = name.strip().rpartition(".")
        knobs.setdefault(variant or "*", {})[knob] = value.strip()
    return knobs


def _parsed(value: str | None, option: str, parser: str) -> float | None:
    """--precision 3% / --budget 15m, read by loadlab.measurement.precision's parsers."""
    if value is None:
        return None
    from loadlab.measurement import precision

    try:
        return float(getattr(precision, parser)(value))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


def _db_rtt(spec: str | None) -> dict[str, list[float]] | None:
    if spec is None:
        return None
    from loadlab.core.config import NetworkEmulation

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
        str, typer.Option(help="with --scenario: tiny, small, medium or full (as written)")
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
    locust_workers: Annotated[
        str | None,
        typer.Option(help='"auto" (default: sized by measurement) or a number to force'),
    ] = None,
    app_workers: Annotated[int | None, typer.Option(min=1)] = None,
    pool_size: Annotated[int | None, typer.Option(min=1)] = None,
    profile: Annotated[
        str | None,
        typer.Option(help="stock (what the docs give a user) or tuned (`loadlab tune`'s best)"),
    ] = None,
    web: Annotated[
        bool | None,
        typer.Option(
            "--web", help="watch it live: Locust's web UI on loopback (its address is printed)"
        ),
    ] = None,
    knob: Annotated[
        list[str] | None,
        typer.Option(help="VARIANT.KNOB=VALUE or KNOB=VALUE (all variants); repeatable"),
    ] = None,
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
    precision: Annotated[
        str | None,
        typer.Option(
            help="add blocks until every FastAPI-over-Flask ratio's 95% interval is within "
            "this, e.g. 3% (at least 3 blocks; instead of --repeats)"
        ),
    ] = None,
    budget: Annotated[
        str | None, typer.Option(help="with --precision: time the matrix may take, e.g. 15m")
    ] = None,
    calibrate: Annotated[
        str | None,
        typer.Option(help="A/A: also run this variant as a second arm (X#b): the noise floor"),
    ] = None,
    results: Annotated[Path | None, typer.Option(help="results root (default ./results)")] = None,
    report: Annotated[
        bool, typer.Option("--report/--no-report", help="build the report at the end")
    ] = True,
) -> None:
    """Run a benchmark matrix and print its summary (and build its report)."""
    from loadlab.core.config import load_config

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
        "web": web,
        "app_workers": app_workers,
        "pool_size": pool_size,
        "profile": profile,
        "knobs": _knobs(knob),
        "verify": verify,
        "cpusets": _cpusets(pin),
        "network": _db_rtt(db_rtt),
        "order_seed": order_seed,
        "precision": _parsed(precision, "--precision", "parse_fraction"),
        "budget_s": _parsed(budget, "--budget", "parse_duration"),
        "calibrate": calibrate,
        "capacity": {
            k: v for k, v in {"enabled": capacity, "slo_p99_ms": slo_ms}.items() if v is not None
        }
        or None,
    }
    try:
        if scenario is not None:
            from loadlab.core.scenario import scenario_config

            if config is not None:
                raise LabError("--scenario and --config both name a run; give one of them")
            cfg = scenario_config(scenario, size, overrides)
        else:
            cfg = load_config(None if config and preset == "quick" else preset, config, overrides)
        if cfg.network is not None:  # before a results folder exists for a run that cannot start
            from loadlab.deployments.netem import require_privileges

            require_privileges()
        if cfg.profile == "both":
            # one run per profile; a time budget is the whole command's, so each gets half
            profiles = ["stock", "tuned"]
            share = {"budget_s": cfg.budget_s / 2} if cfg.budget_s else {}
            run_dirs = [
                _execute(cfg.model_copy(update={"profile": p, **share}), results) for p in profiles
            ]
        else:
            profiles, run_dirs = [cfg.profile], [_execute(cfg, results)]
    except LabError as error:
        _fail(error)
        return
    _finish(run_dirs, report, labels=profiles if len(run_dirs) > 1 else None)


def _execute(cfg: Any, results: Path | None) -> Path:
    from loadlab.cli.console import RichProgress, console
    from loadlab.deployments.processes import interrupts_as_keyboard_interrupt

    if cfg.backend == "ansible":
        from loadlab.deployments.ansible import run_ansible

        return Path(run_ansible(cfg, results))
    from loadlab.core.paths import results_root, usable_results_root
    from loadlab.orchestration.runner import Run

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


def _finish(run_dirs: list[Path], report: bool, labels: list[str] | None = None) -> None:
    from loadlab.cli.console import console, print_summary
    from loadlab.core.results import read_summary

    for run_dir in run_dirs:
        print_summary(read_summary(run_dir))
        console.print(f"results: {run_dir}")
    if report:
        try:
            from loadlab.report import build_report
        except ImportError:
            return
        # a run's own report stays beside its results; publishing into reports/ is explicit
        # (`loadlab report RUN --name NAME`), so a run leaves the checkout as it found it
        out = run_dirs[0].parent / "reports"
        console.print(f"report: {build_report(run_dirs, out_root=out, labels=labels)}")


@app.command()
def tune(
    variants: Annotated[str | None, typer.Option(help="comma-separated variant names")] = None,
    workloads: Annotated[
        str, typer.Option(help="comma-separated workloads")
    ] = "db,db-read,json,io",
    users: Annotated[int, typer.Option(min=1, help="closed-model users of every trial")] = 128,
    duration: Annotated[float, typer.Option(help="measured seconds per trial")] = 5.0,
    warmup: Annotated[float, typer.Option(help="warm-up seconds per trial")] = 2.0,
    min_gain: Annotated[
        float, typer.Option(help="a knob moves only for a throughput gain above this")
    ] = 0.03,
    db_connections: Annotated[
        int | None, typer.Option(help="budget: workers × pool size at most")
    ] = None,
    scale: Annotated[float | None, typer.Option(help="data scale: 1.0 = 1,000,000 users")] = None,
    confirm_pairs: Annotated[
        int,
        typer.Option(min=0, help="fresh start/winner cell pairs (ABBA) a winner must win; 0 skips"),
    ] = 2,
    confirm_only: Annotated[
        bool,
        typer.Option("--confirm-only", help="search nothing: confirm the tuned profile's winners"),
    ] = False,
    write: Annotated[
        bool, typer.Option("--write/--no-write", help="merge the winners into the tuned profile")
    ] = True,
    results: Annotated[Path | None, typer.Option(help="results root (default ./results)")] = None,
) -> None:
    """Find each variant's best knobs per workload under one budget (coordinate descent),
    confirm each winner against stock on fresh paired cells, and write them to the tuned
    profile that `loadlab run --profile tuned` uses."""
    from loadlab.cli.console import RichProgress, console, print_tuning
    from loadlab.core.config import load_config
    from loadlab.core.paths import results_root, usable_results_root
    from loadlab.core.registry import variant_names
    from loadlab.deployments.processes import interrupts_as_keyboard_interrupt
    from loadlab.orchestration.tune import tune as search
    from loadlab.orchestration.tune import write_profile

    overrides: dict[str, Any] = {
        "variants": _csv(variants) or variant_names(),
        "workloads": _csv(workloads),
        "duration_s": duration,
        "warmup_s": warmup,
        "scale": scale,
        "budget": {"db_connections": db_connections} if db_connections else None,
    }
    try:
        cfg = load_config("quick", None, overrides)
        root = usable_results_root(results or results_root())
        with interrupts_as_keyboard_interrupt(), RichProgress() as progress:
            run_dir, report = search(
                cfg, users, min_gain, root, progress, confirm_pairs, confirm_only
            )
    except LabError as error:
        _fail(error)
        return
    except KeyboardInterrupt:
        console.print("[yellow]interrupted:[/] every process stopped; nothing was written")
        raise typer.Exit(130) from None
    print_tuning(report)
    console.print(f"trials: {run_dir / 'tune.json'}")
    if write:
        console.print(f"tuned profile: {write_profile(report)}")


@app.command()
def summarize(run_dir: Path) -> None:
    """(Re)build summary.json from a results folder's raw cell files, and print it."""
    from loadlab.cli.console import print_summary
    from loadlab.core import integrity
    from loadlab.core.results import read_manifest
    from loadlab.measurement.analysis import summarize as build

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
    label: Annotated[
        list[str] | None,
        typer.Option(help="a name per run, in order (e.g. --label stock --label tuned)"),
    ] = None,
) -> None:
    """Build reports/<name>/index.html and report.md from one or more runs: publishing."""
    from loadlab.cli.console import console
    from loadlab.report import build_report

    for run_dir in run_dirs:
        if not (run_dir / "summary.json").exists():
            _fail(
                LabError(
                    f"{run_dir} has no summary.json",
                    hint=f"run `loadlab summarize {run_dir}` first",
                )
            )
    if label and len(label) != len(run_dirs):
        _fail(
            LabError(
                f"{len(label)} labels for {len(run_dirs)} runs",
                hint="give one --label per run, in the runs' order, or none",
            )
        )
    built = build_report(list(run_dirs), out_root=out, name=name, labels=label or None)
    console.print(f"report: {built}")


@app.command()
def reproduce(
    report_dir: Annotated[
        Path, typer.Argument(help="a published report folder, e.g. reports/<name>")
    ],
    threshold: Annotated[
        str, typer.Option(help="a ratio moving more than this (and beyond its noise) disagrees")
    ] = "5%",
) -> None:
    """Re-run a report's matrix here and build a report setting the re-run beside the original;
    say whether the re-run agrees (`loadlab compare` of the two)."""
    from loadlab.cli.console import console
    from loadlab.orchestration.reproduce import reproduce_checked

    limit = _parsed(threshold, "--threshold", "parse_fraction")
    try:
        done = reproduce_checked(report_dir, threshold=limit or 0.05)
    except LabError as error:
        _fail(error)
        return
    console.print(f"report: {done.report}")
    _print_comparison(done.agreement)


@app.command()
def compare(
    before: Annotated[Path, typer.Argument(help="a results folder or a report folder")],
    after: Annotated[Path, typer.Argument(help="the run to set against it")],
    threshold: Annotated[
        str, typer.Option(help="exit 1 when a ratio moved more than this, e.g. 5%")
    ] = "5%",
    force: Annotated[
        bool, typer.Option(help="compare runs that are not comparable; differences as caveats")
    ] = False,
) -> None:
    """Two runs side by side: a verdict per FastAPI-over-Flask ratio (moved / not moved, by
    both intervals and the A/A noise floor). Exit 1 when a ratio moved, 2 on an error."""
    from loadlab.report.compare import compare_paths

    limit = _parsed(threshold, "--threshold", "parse_fraction")
    try:
        found = compare_paths(before, after, limit or 0.05, force=force)
    except LabError as error:
        _fail(error)
        return
    _print_comparison(found)
    raise typer.Exit(found.exit_code)


def _print_comparison(found: Any) -> None:
    from rich.table import Table

    from loadlab.cli.console import console

    title = f"{found.after.run_id} against {found.before.run_id}"
    table = Table(title=f"{title} (threshold ±{found.threshold:.0%})")
    for column in ("ratio", "before", "after", "verdict", "why"):
        table.add_column(column)
    for r in found.ratios:
        e, f = r.change.before, r.change.after
        table.add_row(
            r.name,
            f"{e.median:.2f}x [{e.ci_low:.2f}–{e.ci_high:.2f}]",
            f"{f.median:.2f}x [{f.ci_low:.2f}–{f.ci_high:.2f}]",
            f"[red]moved {r.direction}[/]" if r.verdict == "moved" else "not moved",
            r.reason,
        )
    console.print(table)
    for line in found.unmatched + [f"caveat: {c}" for c in found.caveats]:
        console.print(line, highlight=False, markup=False)
    console.print(found.conclusion)


@app.command()
def calibrate(
    variant: Annotated[str, typer.Argument(help="the variant measured as two arms")] = (
        "fastapi-async"
    ),
    preset: Annotated[str, typer.Option(help="whose workloads and loads to use")] = "quick",
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="a TOML, YAML or JSON run config")
    ] = None,
    workloads: Annotated[str | None, typer.Option(help="comma-separated workload names")] = None,
    users: Annotated[str | None, typer.Option(help="closed model: user counts, e.g. 64")] = None,
    repeats: Annotated[int | None, typer.Option(min=2, help="blocks (default: at least 3)")] = None,
    duration: Annotated[float | None, typer.Option(help="measured seconds per cell")] = None,
    warmup: Annotated[float | None, typer.Option(help="warm-up seconds per cell")] = None,
    scale: Annotated[float | None, typer.Option(help="data scale: 1.0 = 1,000,000 users")] = None,
    results: Annotated[Path | None, typer.Option(help="results root (default ./results)")] = None,
) -> None:
    """A/A: measure one variant as two arms (VARIANT and VARIANT#b) in the same randomised
    blocks and print the noise floor, the A/A ratio with its interval."""
    from loadlab.cli.console import console
    from loadlab.measurement.calibrate import calibrate as measure
    from loadlab.measurement.calibrate import calibration_config

    overrides: dict[str, Any] = {
        "workloads": _csv(workloads),
        "loads": [{"model": "closed", "users": u} for u in _csv(users, int) or []] or None,
        "repeats": repeats,
        "duration_s": duration,
        "warmup_s": warmup,
        "scale": scale,
    }
    try:
        chosen = None if config and preset == "quick" else preset
        cfg = calibration_config(variant, chosen, config, overrides)
        found = measure(cfg, lambda c: _execute(c, results))
    except LabError as error:
        _fail(error)
        return
    for line in found.lines + [f"caveat: {c}" for c in found.caveats]:
        console.print(line, highlight=False, markup=False)
    console.print(f"results: {found.run_dir}")


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

    from loadlab.cli.console import console
    from loadlab.core.paths import lab_home
    from loadlab.core.registry import UnknownVariantError, get_variant
    from loadlab.deployments.appserver import AppServer
    from loadlab.deployments.dataset import ensure_seeded
    from loadlab.deployments.local import cluster_for
    from loadlab.deployments.ports import ensure_port_free
    from loadlab.deployments.processes import interrupts_as_keyboard_interrupt

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
            ensure_seeded(cluster, scale, DEFAULT_SEED)
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
    """List the variants in the registry with their command lines and knobs."""
    from loadlab.cli.console import console
    from loadlab.core.registry import load_registry

    for variant in load_registry().values():
        console.print(f"[bold]{variant.name}[/]: {variant.description}")
        console.print("  " + " ".join(variant.command), highlight=False)
        for name, setting in variant.knobs.items():
            knob = variant.knob(name)
            tries = f"; tune tries {', '.join(map(str, setting.search))}" if setting.search else ""
            console.print(
                f"  knob {name}: stock {setting.stock}{tries} ({knob.range}): {knob.help}",
                highlight=False,
            )


@app.command()
def workloads() -> None:
    """List the workloads the locustfile can run."""
    from loadlab.cli.console import console
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
    from loadlab.cli.console import console
    from loadlab.core.scenario import load_scenarios

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
        str, typer.Option(help="tiny (CI, seconds), small (a laptop), medium (scale 1.0) or full")
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
    from loadlab.cli.console import console
    from loadlab.core.scenario import claims_plan
    from loadlab.report.claims_report import build_claims_report

    try:
        run_dirs = list(runs or [])
        if not run_dirs:
            for scenario, cfg in claims_plan(size, _csv(scenarios)):
                console.print(f"[bold]scenario {scenario.label}[/] at size {size}")
                run_dirs.append(_execute(cfg, results))
        console.print(f"report: {build_claims_report(run_dirs, out_root=out, name=name)}")
    except LabError as error:
        _fail(error)


@app.command("map")
def regime_map(
    preset: Annotated[
        str, typer.Option(help="wait (time waited x concurrency) or rtt (database RTT x queries)")
    ] = "wait",
    size: Annotated[
        str,
        typer.Option(help="tiny (CI, two minutes), small (a laptop), medium (scale 1.0) or full"),
    ] = "small",
    backend: Annotated[str, typer.Option(help="local (default), compose or ansible")] = "local",
    inventory: Annotated[
        str | None, typer.Option("--inventory", "-i", help="ansible backend: inventory")
    ] = None,
    profile: Annotated[
        str | None, typer.Option(help="stock, or tuned for best against best (`loadlab tune`)")
    ] = None,
    precision: Annotated[
        float | None, typer.Option(help="add repeats until each ratio's 95% half-width is this")
    ] = None,
    budget: Annotated[
        float | None, typer.Option(help="with --precision: seconds each run may take")
    ] = None,
    repeats: Annotated[int | None, typer.Option(min=1, help="instead of the size's")] = None,
    results: Annotated[Path | None, typer.Option(help="results root (default ./results)")] = None,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from", help="rebuild map.json and the report from results/<map-id>"),
    ] = None,
    publish: Annotated[
        str | None, typer.Option(help="also write the report to reports/NAME, e.g. regime-map-DATE")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="also write the report to this folder")] = None,
    reports: Annotated[Path, typer.Option(help="reports root for --publish")] = Path("reports"),
    colour_saturated: Annotated[
        bool,
        typer.Option(
            "--colour-saturated/--mark-saturated",
            help="colour points whose machine was CPU-saturated (default: mark them)",
        ),
    ] = False,
) -> None:
    """The regime map: the FastAPI-over-Flask ratio over a grid of two conditions, with
    contours at 1x, 2x and 7x and the published claims placed where their regime sits.
    Writes results/<map-id>/map.json and results/<map-id>/report/."""
    from loadlab.cli.console import console
    from loadlab.orchestration.regime_map import plan_map, refresh_map, run_map
    from loadlab.report.map_report import build_map_report

    try:
        if from_dir is not None:
            refresh_map(from_dir)
            map_dir = from_dir
        else:
            plan = plan_map(
                preset,
                size,
                backend=backend,
                inventory=inventory,
                profile=profile,
                precision=precision,
                budget_s=budget,
                repeats=repeats,
            )
            console.print(
                f"[bold]regime map {plan.preset}[/] at size {plan.size}: "
                f"{', '.join(plan.x.describe(v) for v in plan.x.values)} x "
                f"{', '.join(plan.y.describe(v) for v in plan.y.values)} "
                f"({', '.join(f.name for f in plan.families)}); {plan.cells} cells"
            )
            again = [f"--preset {plan.preset}", f"--size {plan.size}", f"--backend {backend}"]
            again += [f"--{k} {v}" for k, v in (("profile", profile), ("repeats", repeats)) if v]
            again += [f"--precision {precision:g}"] if precision else []
            again += [f"--budget {budget:g}"] if budget else []
            map_dir = run_map(plan, results, _execute, "loadlab map " + " ".join(again))
        machine_counts = not colour_saturated
        console.print(f"map: {map_dir / 'map.json'}")
        console.print(f"report: {build_map_report(map_dir, machine_counts=machine_counts)}")
        for dest in [reports / publish] if publish else []:
            built = build_map_report(map_dir, dest, publish=True, machine_counts=machine_counts)
            console.print(f"published: {built}")
        if out is not None:
            built = build_map_report(map_dir, out, publish=True, machine_counts=machine_counts)
            console.print(f"published: {built}")
    except LabError as error:
        _fail(error)


@trace_app.command("generate")
def trace_generate(
    out: Annotated[Path | None, typer.Option(help="default: the lab's shipped shop trace")] = None,
    seed: Annotated[int, typer.Option(help="RNG seed")] = DEFAULT_SEED,
    duration: Annotated[float, typer.Option(help="seconds of traffic")] = 120.0,
    visits: Annotated[float, typer.Option(help="shopper visits starting per second")] = 4.0,
) -> None:
    """Write the shop model's request log (CSV) deterministically: same settings, same file."""
    from loadlab.cli.console import console
    from loadlab.orchestration.tracegen import write_shop_trace

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

    from loadlab.cli.console import console
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
    from urllib.parse import quote

    from loadlab.cli.console import console
    from loadlab.deployments.local import cluster_for

    try:
        cluster = cluster_for()
        started = cluster.start()
        # the DSN without its password: a terminal's scrollback is no place for a secret
        from loadlab.deployments.postgres import PASSWORD_FILE

        public = cluster.dsn().replace(quote(cluster.password, safe=""), "PASSWORD")
        console.print(f"PostgreSQL {'started' if started else 'already running'}: {public}")
        console.print(f"password: in {cluster.home / PASSWORD_FILE} (readable by its owner only)")
        if scale is not None:
            _seed_cluster(cluster, scale, force=False)
    except LabError as error:
        _fail(error)


@db_app.command("down")
def db_down(
    purge: Annotated[bool, typer.Option(help="also delete the data directory")] = False,
) -> None:
    """Stop the private cluster."""
    from loadlab.cli.console import console
    from loadlab.deployments.local import cluster_for

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
    seed: Annotated[int, typer.Option(help="RNG seed of the data")] = DEFAULT_SEED,
    dsn: Annotated[
        str | None, typer.Option(help="seed this server instead of the private cluster")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="reseed even if the cluster already holds this data")
    ] = False,
) -> None:
    """Create the schema and load the deterministic data set (COPY, indexes, ANALYZE)."""
    from loadlab.cli.console import console

    try:
        if dsn:
            import json

            from loadlab.deployments.dataset import seed_external

            info = seed_external(dsn, scale, seed)
            console.print(json.dumps(info, indent=1))
            return
        from loadlab.deployments.local import cluster_for

        cluster = cluster_for()
        with cluster.running():
            _seed_cluster(cluster, scale, force=force, seed=seed)
    except LabError as error:
        _fail(error)


def _seed_cluster(cluster: Any, scale: float, force: bool, seed: int = DEFAULT_SEED) -> None:
    from loadlab.cli.console import RichProgress, console
    from loadlab.deployments.dataset import ensure_seeded

    with RichProgress() as progress:
        progress.phase(f"seeding at scale {scale:g}")
        info = ensure_seeded(cluster, scale, seed, progress.seed, force=force)
    verb = "reused" if info["reused"] else f"seeded in {info['seed_seconds']}s"
    console.print(f"data {verb}: {info['rows']} checksum {info['checksum']}")


@db_app.command("status")
def db_status() -> None:
    """Is the private cluster running, and what does it hold?"""
    from loadlab.cli.console import console
    from loadlab.deployments.local import cluster_for

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
