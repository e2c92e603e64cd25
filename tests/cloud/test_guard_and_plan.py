"""loadlab.deployments.cloud without a cloud: the cleanup guard's decisions (fail, interrupt, SIGTERM,
--keep, a failing cleanup), the plan built from the playbooks' defaults, and how a failed
playbook's output becomes one error with its fix."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import yaml

from loadlab.core.errors import LabError
from loadlab.deployments.ansible.playbook import PlaybookResult
from loadlab.deployments.cloud.guard import CleanupGuard, Interrupted
from loadlab.deployments.cloud.plan import CLOUD_VARS, build_plan, parse_assignments
from loadlab.deployments.cloud.playbooks import failure


class Recorder:
    def __init__(self, fails: bool = False) -> None:
        self.destroyed = 0
        self.said: list[str] = []
        self.kept = 0
        self.fails = fails

    def destroy(self) -> str:
        self.destroyed += 1
        if self.fails:
            raise LabError("destroy-aws.yml failed")
        return "nothing left"

    def guard(self, keep: bool = False) -> CleanupGuard:
        return CleanupGuard(
            self.destroy, keep=keep, say=self.said.append, what="lab 'x' in r",
            down_command="loadlab cloud down --cloud aws", on_kept=self.keep,
        )  # fmt: skip

    def keep(self) -> None:
        self.kept += 1


def test_success_destroys_nothing() -> None:
    r = Recorder()
    with r.guard():
        pass
    assert r.destroyed == 0


def test_a_failure_destroys_and_says_so_in_the_error() -> None:
    r = Recorder()
    with pytest.raises(LabError) as raised, r.guard():
        raise LabError("quota refused", hint="ask for more")
    assert r.destroyed == 1
    assert "quota refused" in str(raised.value) and "destroyed lab 'x' in r: nothing left" in str(
        raised.value
    )
    assert raised.value.hint == "ask for more"


def test_an_unexpected_error_destroys_too() -> None:
    r = Recorder()
    with pytest.raises(ZeroDivisionError), r.guard():
        _ = 1 / 0
    assert r.destroyed == 1


def test_sigterm_destroys_and_raises_interrupted() -> None:
    r = Recorder()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as raised, r.guard():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this returns
    assert raised.value.signal_name == "SIGTERM"
    assert r.destroyed == 1
    assert any("interrupted (SIGTERM)" in line for line in r.said)
    assert signal.getsignal(signal.SIGTERM) == before


def test_ctrl_c_during_the_cleanup_does_not_stop_it() -> None:
    r = Recorder()

    def impatient() -> str:
        os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C while destroying
        r.destroyed += 1
        return "nothing left"

    guard = CleanupGuard(
        impatient, keep=False, say=r.said.append, what="lab", down_command="down"
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt), guard:
        raise KeyboardInterrupt
    assert r.destroyed == 1
    assert any("ignored: still destroying" in line for line in r.said)


def test_keep_keeps() -> None:
    r = Recorder()
    with pytest.raises(LabError) as raised, r.guard(keep=True):
        raise LabError("converge failed")
    assert r.destroyed == 0 and r.kept == 1
    assert "kept lab 'x' in r (--keep)" in str(raised.value)


def test_a_failing_cleanup_says_how_to_finish_it() -> None:
    r = Recorder(fails=True)
    with pytest.raises(LabError) as raised, r.guard():
        raise LabError("bench failed")
    assert "bench failed; then the cleanup failed too" in str(raised.value)
    assert "loadlab cloud down --cloud aws" in raised.value.hint


def test_the_plan_is_the_playbooks_defaults() -> None:
    defaults = yaml.safe_load(CLOUD_VARS.read_text())
    plan = build_plan("aws", run_id="r1")
    assert plan.counts == defaults["loadlab_cloud_counts"]
    assert plan.sizes == defaults["loadlab_aws_instance_types"]
    assert plan.region == defaults["loadlab_aws_region"]
    assert plan.lab == defaults["loadlab_cloud_lab"]
    text = "\n".join(plan.describe())
    for role, count in plan.counts.items():
        assert f"{role}" in text and f"{count} x {plan.sizes[role]}" in text
    assert plan.region in text and "loadlab_run=r1" in text
    azure = build_plan("azure", run_id="r1")
    assert azure.sizes == defaults["loadlab_azure_vm_sizes"]
    assert azure.region == defaults["loadlab_azure_location"]


def test_the_command_line_overrides_and_is_checked() -> None:
    plan = build_plan(
        "aws", region="us-east-2", lab="bench-2",
        counts=parse_assignments(["locust_workers=4"], "--count", int),
        sizes=parse_assignments(["app=c7a.4xlarge"], "--type"), placement_group=False,
    )  # fmt: skip
    assert plan.counts["locust_workers"] == 4 and plan.sizes["app"] == "c7a.4xlarge"
    vars_ = plan.destroy_vars()
    assert vars_["loadlab_cloud_lab"] == "bench-2" and vars_["loadlab_aws_region"] == "us-east-2"
    assert vars_["loadlab_aws_placement_group"] is False
    with pytest.raises(LabError, match="db needs at least 1"):
        build_plan("aws", counts={"db": 0})
    with pytest.raises(LabError, match="lab name"):
        build_plan("aws", lab="Bad_Name")
    with pytest.raises(LabError, match="ROLE=VALUE"):
        parse_assignments(["web=2"], "--count", int)
    with pytest.raises(LabError, match="not a number"):
        parse_assignments(["db=two"], "--count", int)
    with pytest.raises(LabError, match="unknown cloud"):
        build_plan("gcp")


def test_the_inventory_follows_the_plan(tmp_path: Path) -> None:
    plan = build_plan("aws", region="us-east-2", lab="bench-2")
    data = yaml.safe_load(plan.render_inventory(tmp_path).read_text())
    assert data["plugin"] == "amazon.aws.aws_ec2" and data["regions"] == ["us-east-2"]
    assert data["filters"]["tag:loadlab_lab"] == "bench-2"
    assert set(data["groups"]) >= {"db", "app", "locust_master", "locust_workers", "loadlab"}
    azure = yaml.safe_load(
        build_plan("azure", lab="bench-2").render_inventory(tmp_path).read_text()
    )
    assert azure["include_vm_resource_groups"] == ["bench-2"]


def test_a_missing_ssh_key_is_named(tmp_path: Path) -> None:
    plan = build_plan("aws", ssh_key=tmp_path / "none.pub")
    with pytest.raises(LabError, match="no SSH public key") as raised:
        plan.provision_vars()
    assert "ssh-keygen" in raised.value.hint


def _failed(output: str) -> PlaybookResult:
    return PlaybookResult("provision-aws.yml", 2, output, 1.0)


def test_cloud_refusals_become_one_error_with_the_fix() -> None:
    plan = build_plan("aws", run_id="r1")
    cases = {
        "An error occurred (VcpuLimitExceeded) when calling the RunInstances": "Service Quotas",
        "An error occurred (InsufficientInstanceCapacity) when calling": "another --type",
        "An error occurred (UnauthorizedOperation) when calling": "credentials",
        "An error occurred (VpcLimitExceeded) when calling the CreateVpc": "unused VPCs",
    }
    for output, fix in cases.items():
        error = failure(
            _failed(f'fatal: [localhost]: FAILED! => {{"msg": "{output}"}}'), plan, None, "x"
        )
        assert fix in error.hint, (output, error.hint)
    generic = failure(
        _failed('fatal: [localhost]: FAILED! => {"changed": false, "msg": "something odd"}'),
        plan, Path("/tmp/logs"), "provisioning",
    )  # fmt: skip
    assert "something odd" in str(generic) and "/tmp/logs" in generic.hint
