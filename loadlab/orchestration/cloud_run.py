"""The guided path: up (plan, checks, provision, converge), run (up, bench, fetch, report,
down) and down (by tag, with or without local state). No Typer here: the CLI passes a `Ui`.

Test hooks (for the emulated-cloud tests; never set them otherwise):
  LOADLAB_CLOUD_FAIL_AFTER=provision|converge|bench        raise a LabError after that step
  LOADLAB_CLOUD_INTERRUPT_AFTER=provision|converge|bench   send this process SIGINT there
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.deployments.ansible.playbook import run_playbook
from loadlab.deployments.cloud.guard import CleanupGuard
from loadlab.deployments.cloud.plan import ROLES, CloudPlan
from loadlab.deployments.cloud.playbooks import failure, list_inventory, wait_for_ssh
from loadlab.deployments.cloud.state import CloudState, load_state, state_dir

FAIL_AFTER = "LOADLAB_CLOUD_FAIL_AFTER"
INTERRUPT_AFTER = "LOADLAB_CLOUD_INTERRUPT_AFTER"


@dataclass
class Ui:
    say: Callable[[str], None]
    confirm: Callable[[str], bool]
    stream: Callable[[str], None] | None = None


class Declined(Exception):
    """The user answered no: nothing was created."""


def _inject(step: str) -> None:
    if os.environ.get(FAIL_AFTER) == step:
        raise LabError(
            f"failure injected after {step} ({FAIL_AFTER}={step})",
            hint=f"unset {FAIL_AFTER}: it exists for the tests",
        )
    if os.environ.get(INTERRUPT_AFTER) == step:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the signal arrives first


def down_command(plan: CloudPlan) -> str:
    command = f"loadlab cloud down --cloud {plan.cloud} --region {plan.region} --lab {plan.lab}"
    if plan.cloud == "aws" and not plan.placement_group:
        command += " --no-placement-group"
    return command


# ----------------------------------------------------------------------------- the steps
def prepare(plan: CloudPlan, ui: Ui, *, yes: bool) -> CloudState:
    """Say what will be created, check what can be checked, ask; nothing exists before."""
    from loadlab.deployments.cloud.preflight import preflight

    existing = load_state(plan.cloud, plan.region, plan.lab)
    if existing and existing.live:
        plan = plan.model_copy(update={"run_id": existing.plan.run_id})
        ui.say(
            f"lab {plan.lab!r} in {plan.region} is up already as run {plan.run_id} "
            f"({existing.phase}): provisioning again changes nothing that matches the plan"
        )
    ui.say("will create:")
    for line in plan.describe():
        ui.say(line)
    found = preflight(plan)
    ui.say(
        f"checked: credentials (account {found['account']}), region, sizes, image {found['image']}"
    )
    if not yes and not ui.confirm(f"Create these {plan.cloud.upper()} resources?"):
        raise Declined("nothing was created")
    if existing and existing.live:
        existing.plan = plan
        return existing
    return CloudState(plan=plan, phase="provisioning")


def provision(state: CloudState, ui: Ui) -> Path:
    plan = state.plan
    state.advance("provisioning")
    playbook = f"provision-{plan.cloud}.yml"
    result = run_playbook(playbook, plan.provision_vars(), echo=ui.stream, log_dir=state.log_dir())
    ui.say(f"{playbook}: {result.recap_line} ({result.seconds:.0f}s)")
    if result.returncode != 0:
        raise failure(result, plan, state.log_dir(), "provisioning")
    inventory = plan.render_inventory(state.dir)
    groups = list_inventory(inventory)
    wrong = {
        role: len(groups.get(role, []))
        for role in ROLES
        if len(groups.get(role, [])) != plan.counts.get(role, 0)
    }
    if wrong:
        raise LabError(
            f"the inventory {inventory} does not list the planned machines: "
            + ", ".join(f"{r} {n} of {plan.counts.get(r, 0)}" for r, n in wrong.items()),
            hint="the machines may still be starting; run `loadlab cloud up` again",
        )
    for role in ROLES:
        ui.say(f"  {role}: {', '.join(groups.get(role, [])) or '-'}")
    state.advance("provisioned")
    _inject("provision")
    return inventory


def ssh_vars_file(state: CloudState) -> Path:
    path = state.dir / "ssh-vars.json"
    path.write_text(json.dumps(state.plan.ssh_vars(state.dir / "known_hosts")))
    return path


def converge(state: CloudState, inventory: Path, ui: Ui) -> None:
    plan = state.plan
    ssh = plan.ssh_vars(state.dir / "known_hosts")
    ui.say("waiting for SSH on every machine")
    wait_for_ssh(inventory, ssh, ui.stream, state.log_dir())
    result = run_playbook(
        "site.yml", ssh, inventory=inventory, echo=ui.stream, log_dir=state.log_dir()
    )
    ui.say(f"site.yml: {result.recap_line} ({result.seconds:.0f}s)")
    if result.returncode != 0:
        raise failure(result, plan, state.log_dir(), "converging the nodes (site.yml)")
    state.advance("converged")
    _inject("converge")


def destroy(plan: CloudPlan, ui: Ui, log_dir: Path) -> str:
    """destroy-*.yml, then (AWS) a look for anything still tagged: returns a summary."""
    playbook = f"destroy-{plan.cloud}.yml"
    result = run_playbook(
        playbook, plan.destroy_vars(), echo=ui.stream, log_dir=log_dir, shielded=True
    )
    ui.say(f"{playbook}: {result.recap_line} ({result.seconds:.0f}s)")
    if result.returncode != 0:
        raise failure(result, plan, log_dir, "destroying the lab")
    done = f"{playbook} changed {result.changed}"
    if plan.cloud != "aws":
        return done
    from loadlab.deployments.cloud import aws

    left = aws.leftovers(plan)
    if left.found:
        raise LabError(
            f"still tagged loadlab_lab={plan.lab} in {plan.region} after {playbook}: "
            + "; ".join(left.found),
            hint=f"run `{down_command(plan)}` again; delete by hand what it cannot",
        )
    unchecked = f" (not checked: {'; '.join(left.unchecked)})" if left.unchecked else ""
    return f"{done}; nothing tagged loadlab_lab={plan.lab} left in {plan.region}{unchecked}"


def guard(state: CloudState, ui: Ui, *, keep: bool) -> CleanupGuard:
    def cleanup() -> str:
        state.advance("destroying")
        summary = destroy(state.plan, ui, state.log_dir())
        state.advance("destroyed")
        return summary

    return CleanupGuard(
        cleanup,
        keep=keep,
        say=ui.say,
        what=f"lab {state.plan.lab!r} in {state.plan.region} (run {state.plan.run_id})",
        down_command=down_command(state.plan),
        on_kept=lambda: state.advance("kept"),
    )


# ----------------------------------------------------------------------------- the commands
def up(
    plan: CloudPlan, ui: Ui, *, yes: bool, keep: bool, converge_nodes: bool = True
) -> CloudState:
    """Provision (and converge) a lab that stays up; a failure on the way destroys it."""
    state = prepare(plan, ui, yes=yes)
    with guard(state, ui, keep=keep):
        inventory = provision(state, ui)
        if converge_nodes:
            converge(state, inventory, ui)
    ui.say(f"lab up: inventory {inventory}")
    ui.say(
        f"  LOADLAB_ANSIBLE_ARGS='-e @{ssh_vars_file(state)}' loadlab run --backend ansible "
        f"-i {inventory} --preset quick  runs a matrix on it"
    )
    ui.say(f"  {down_command(state.plan)}  destroys it")
    return state


def run(
    plan: CloudPlan,
    bench_config: Any,
    ui: Ui,
    *,
    yes: bool,
    keep: bool,
    results: Path | None = None,
    reports: Path = Path("reports"),
) -> CloudState:
    """provision -> site.yml -> the run (the runner's ansible lab; results fetched into
    results/<run-id>/) -> report -> destroy. Anything failing or interrupted after
    provisioning started destroys the lab, unless `keep`."""
    state = prepare(plan, ui, yes=yes)
    with guard(state, ui, keep=keep):
        inventory = provision(state, ui)
        converge(state, inventory, ui)
        from loadlab.core.paths import results_root
        from loadlab.orchestration.runner import execute

        config = bench_config.model_copy(
            update={
                "backend": "ansible",
                "inventory": str(inventory),
                "ansible_vars": [*bench_config.ansible_vars, str(ssh_vars_file(state))],
            }
        )
        run_dir = execute(config, results or results_root())
        state.results = str(run_dir)
        state.advance("benched")
        _inject("bench")
        from loadlab.report import build_report

        state.report = str(build_report([run_dir], out_root=reports))
        state.save()
        ui.say(f"results: {run_dir}")
        ui.say(f"report: {state.report}")
    if keep:
        ui.say(f"kept the lab (--keep): `{down_command(state.plan)}` destroys it")
        return state.advance("kept")
    state.advance("destroying")
    ui.say(destroy(state.plan, ui, state.log_dir()))
    return state.advance("destroyed")


def down(plan: CloudPlan, ui: Ui, *, yes: bool, placement_group: bool | None = None) -> str:
    """Destroy everything tagged with the lab in the region; local state is optional.
    `placement_group` None: as the local state says, else the playbooks' default."""
    state = load_state(plan.cloud, plan.region, plan.lab)
    if state and state.live:
        ui.say(f"local state: run {state.plan.run_id}, {state.phase}")
        if placement_group is None:
            plan = plan.model_copy(update={"placement_group": state.plan.placement_group})
    else:
        ui.say("no local state for this lab: looking for it by its tag")
    if plan.cloud == "aws":
        from loadlab.deployments.cloud import aws

        left = aws.leftovers(plan)
        if left.found:
            ui.say(f"found, tagged loadlab_lab={plan.lab} in {plan.region}:")
            for item in left.found:
                ui.say(f"  {item}")
        else:
            ui.say(f"nothing tagged loadlab_lab={plan.lab} in {plan.region}")
        for item in left.unchecked:
            ui.say(f"  not checked: {item}")
        ask = bool(left.found)
    else:
        ui.say(f"destroy-azure.yml deletes every resource group tagged loadlab_lab={plan.lab}")
        ask = True
    if ask and not yes and not ui.confirm("Destroy these resources?"):
        raise Declined("nothing was destroyed")
    log_dir = (
        state.log_dir()
        if state
        else state_dir(plan.cloud, plan.region, plan.lab) / "logs" / f"down-{plan.run_id}"
    )
    if state:
        state.advance("destroying")
    summary = destroy(plan, ui, log_dir)
    if state:
        state.advance("destroyed")
    return summary
