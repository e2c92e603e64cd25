"""`loadlab cloud plan|up|run|down`: the Typer side of loadlab.orchestration.cloud_run."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from loadlab.core.errors import LabError

cloud_app = typer.Typer(
    help="Labs on AWS or Azure: say what will be created, provision, converge, bench, report and "
    "destroy; a failed or interrupted run destroys what it created.",
    no_args_is_help=True,
)

CloudOpt = Annotated[str, typer.Option("--cloud", help="aws or azure")]
RegionOpt = Annotated[
    str | None, typer.Option(help="AWS region / Azure location (default: group_vars cloud.yml)")
]
LabOpt = Annotated[
    str | None, typer.Option(help="the lab's name: its loadlab_lab tag (default: loadlab)")
]
CountOpt = Annotated[
    list[str] | None,
    typer.Option("--count", help="ROLE=N machines, e.g. locust_workers=3 (repeatable)"),
]
TypeOpt = Annotated[
    list[str] | None,
    typer.Option("--type", help="ROLE=SIZE, e.g. app=m6a.4xlarge (repeatable)"),
]
SshKeyOpt = Annotated[
    Path | None, typer.Option(help="public key put on the machines (default ~/.ssh/id_ed25519.pub)")
]
SshSourceOpt = Annotated[
    str | None, typer.Option(help="who may SSH in, as CIDR: your address/32 (default 0.0.0.0/0)")
]
PlacementOpt = Annotated[
    bool | None,
    typer.Option(
        "--placement-group/--no-placement-group",
        help="AWS: a cluster placement group (default on; emulators such as moto lack it)",
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="do not ask before creating/destroying")]
KeepOpt = Annotated[
    bool, typer.Option(help="keep the machines when the run fails, is interrupted or ends")
]


def _fail(error: BaseException, code: int = 2) -> None:
    from loadlab.cli.app import _fail as fail  # the one error printer of the CLI

    fail(error, code)


def _ui() -> Any:
    from loadlab.cli.console import console
    from loadlab.orchestration.cloud_run import Ui

    def say(text: str) -> None:
        console.print(text, markup=False, highlight=False)

    def stream(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def confirm(question: str) -> bool:
        if not sys.stdin.isatty():
            raise LabError(
                "cannot ask before creating or destroying: stdin is not a terminal",
                hint="pass --yes to go ahead without asking",
            )
        return typer.confirm(question, default=False)

    return Ui(say=say, confirm=confirm, stream=stream)


def _plan(
    cloud: str,
    region: str | None,
    lab: str | None,
    count: list[str] | None = None,
    size: list[str] | None = None,
    ssh_key: Path | None = None,
    ssh_source: str | None = None,
    placement_group: bool | None = None,
) -> Any:
    from loadlab.deployments.cloud.plan import build_plan, parse_assignments

    return build_plan(
        cloud,
        lab=lab,
        region=region,
        counts=parse_assignments(count, "--count", int),
        sizes=parse_assignments(size, "--type"),
        ssh_key=ssh_key,
        ssh_source=ssh_source,
        placement_group=placement_group,
    )


def _guarded(work: Callable[[], Any]) -> Any:
    """LabError: one error line and its fix, exit 2. Declined: exit 1. Interrupted (the lab
    already destroyed or kept by the guard): exit 130."""
    from loadlab.cli.console import console
    from loadlab.orchestration.cloud_run import Declined

    try:
        return work()
    except LabError as error:
        _fail(error)
    except Declined as declined:
        console.print(f"declined: {declined}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        console.print("interrupted: see above for what happened to the lab")
        raise typer.Exit(130) from None


@cloud_app.command("plan")
def plan_command(
    cloud: CloudOpt,
    region: RegionOpt = None,
    lab: LabOpt = None,
    count: CountOpt = None,
    size: TypeOpt = None,
    ssh_key: SshKeyOpt = None,
    ssh_source: SshSourceOpt = None,
    placement_group: PlacementOpt = None,
) -> None:
    """Print what `up` would create and check credentials, region and sizes; create nothing."""
    from loadlab.deployments.cloud.preflight import preflight

    def work() -> None:
        plan = _plan(cloud, region, lab, count, size, ssh_key, ssh_source, placement_group)
        ui = _ui()
        for line in plan.describe():
            ui.say(line)
        found = preflight(plan)
        ui.say(f"checked: account {found['account']}, image {found['image']}; nothing created")

    _guarded(work)


@cloud_app.command("up")
def up_command(
    cloud: CloudOpt,
    region: RegionOpt = None,
    lab: LabOpt = None,
    count: CountOpt = None,
    size: TypeOpt = None,
    ssh_key: SshKeyOpt = None,
    ssh_source: SshSourceOpt = None,
    placement_group: PlacementOpt = None,
    converge: Annotated[
        bool, typer.Option("--converge/--no-converge", help="also run site.yml on the machines")
    ] = True,
    yes: YesOpt = False,
    keep: KeepOpt = False,
) -> None:
    """Provision the lab (and converge it with site.yml); it stays up until `down`."""
    from loadlab.orchestration.cloud_run import up

    def work() -> None:
        plan = _plan(cloud, region, lab, count, size, ssh_key, ssh_source, placement_group)
        up(plan, _ui(), yes=yes, keep=keep, converge_nodes=converge)

    _guarded(work)


@cloud_app.command("run")
def run_command(
    cloud: CloudOpt,
    region: RegionOpt = None,
    lab: LabOpt = None,
    count: CountOpt = None,
    size: TypeOpt = None,
    ssh_key: SshKeyOpt = None,
    ssh_source: SshSourceOpt = None,
    placement_group: PlacementOpt = None,
    preset: Annotated[str, typer.Option(help="quick, standard, full or soak")] = "standard",
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="a TOML, YAML or JSON run config")
    ] = None,
    variants: Annotated[str | None, typer.Option(help="comma-separated variant names")] = None,
    workloads: Annotated[str | None, typer.Option(help="comma-separated workload names")] = None,
    results: Annotated[Path | None, typer.Option(help="results root (default ./results)")] = None,
    reports: Annotated[Path, typer.Option(help="reports root")] = Path("reports"),
    yes: YesOpt = False,
    keep: KeepOpt = False,
) -> None:
    """provision -> site.yml -> bench -> fetch results -> report -> destroy, in one go."""
    from loadlab.core.config import load_config
    from loadlab.orchestration.cloud_run import run

    def split(value: str | None) -> list[str] | None:
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    def work() -> None:
        bench = load_config(
            None if config and preset == "standard" else preset,
            config,
            {"backend": "ansible", "variants": split(variants), "workloads": split(workloads)},
        )
        plan = _plan(cloud, region, lab, count, size, ssh_key, ssh_source, placement_group)
        run(plan, bench, _ui(), yes=yes, keep=keep, results=results, reports=reports)

    _guarded(work)


@cloud_app.command("down")
def down_command(
    cloud: CloudOpt,
    region: RegionOpt = None,
    lab: LabOpt = None,
    placement_group: PlacementOpt = None,
    yes: YesOpt = False,
) -> None:
    """Destroy everything tagged with the lab in the region (found by tag; no state needed)."""
    from loadlab.orchestration.cloud_run import down

    def work() -> None:
        plan = _plan(cloud, region, lab, placement_group=placement_group)
        ui = _ui()
        ui.say(down(plan, ui, yes=yes, placement_group=placement_group))

    _guarded(work)
