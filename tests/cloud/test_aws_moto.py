"""The AWS playbooks and `loadlab cloud`, run for real against moto's emulated EC2 on loopback
(tests/cloud/conftest.py says what is emulated and how; placement groups are switched off
because moto does not implement them).

- provision-aws.yml creates the lab, tagged; a second run changes nothing; the dynamic
  inventory groups the instances as site.yml expects; `loadlab cloud down` finds the lab by
  its tag with no local state and runs destroy-aws.yml, which leaves an untagged instance
  alone; a second destroy changes nothing.
- A `loadlab cloud run` interrupted after the instances exist destroys them.
- A quota refusal part-way through provisioning removes what was created, with one error
  naming the fix; missing or wrong credentials, an unknown region or instance type stop
  before anything is created.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.conftest import REPO, PlaybookRun, run_playbook, tool
from tests.cloud.conftest import REGION, Moto, RefusingProxy, aws_env

pytestmark = [pytest.mark.cloud, pytest.mark.timeout(1200)]

LAB = "loadlab"  # inventories/aws_ec2.yml filters on it
ROLES = {"db": 1, "app": 1, "locust_master": 1, "locust_workers": 2}
LIVE = ["pending", "running", "shutting-down", "stopping", "stopped"]
NOISE = ("TASK", "ok:", "changed:", "skipping:", "included:", "PLAY", "[WARNING]", "the implicit")


def say(text: str) -> None:
    print(text, file=sys.stderr)


def loadlab(
    *args: str, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("loadlab"), *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def error_and_fix(stderr: str) -> tuple[str, str]:
    """The CLI's one `error:` and one `fix:` (rich may wrap them over several lines)."""
    assert "Traceback" not in stderr, stderr
    assert stderr.count("error: ") == 1 and stderr.count("  fix: ") == 1, stderr
    error, fix = stderr.split("error: ", 1)[1].split("  fix: ", 1)
    return " ".join(error.split()), " ".join(fix.split())


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def lab_resources(aws: Moto, lab: str = LAB) -> dict[str, list[dict[str, Any]]]:
    """Everything tagged loadlab_lab=<lab> that still exists (instances: not terminated)."""
    ec2 = aws.client()
    tag = [{"Name": "tag:loadlab_lab", "Values": [lab]}]
    live = [{"Name": "instance-state-name", "Values": LIVE}]
    return {
        "instances": [
            i
            for r in ec2.describe_instances(Filters=tag + live)["Reservations"]
            for i in r["Instances"]
        ],
        "vpcs": ec2.describe_vpcs(Filters=tag)["Vpcs"],
        "subnets": ec2.describe_subnets(Filters=tag)["Subnets"],
        "internet_gateways": ec2.describe_internet_gateways(Filters=tag)["InternetGateways"],
        "route_tables": ec2.describe_route_tables(Filters=tag)["RouteTables"],
        "security_groups": ec2.describe_security_groups(Filters=tag)["SecurityGroups"],
        "key_pairs": ec2.describe_key_pairs(Filters=tag)["KeyPairs"],
        "volumes": ec2.describe_volumes(Filters=tag)["Volumes"],
    }


def assert_nothing_of_the_lab(aws: Moto) -> None:
    left = {kind: items for kind, items in lab_resources(aws).items() if items}
    assert not left, f"left behind: {json.dumps(left, default=str)[:2000]}"
    assert not aws.client().describe_key_pairs()["KeyPairs"]


def instances_of_run(aws: Moto, run_id: str) -> list[dict[str, Any]]:
    tag = [{"Name": "tag:loadlab_run", "Values": [run_id]}]
    return [
        i
        for r in aws.client().describe_instances(Filters=tag)["Reservations"]
        for i in r["Instances"]
    ]


def run_id_of(output: str) -> str:
    found = re.search(r"loadlab_run=(\S+)", output)
    assert found, output
    return found[1]


def recap(run: PlaybookRun) -> dict[str, int]:
    assert "localhost" in run.recap, run.tail()
    return run.recap["localhost"]


# ----------------------------------------------------------------------------- the playbooks
def test_provision_twice_inventory_down_by_tag_and_destroy_again(
    aws: Moto, collections: Path, ssh_public_key: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    env = aws_env(aws.url, tmp_path)
    ec2 = aws.client()
    image = ec2.describe_images(Owners=["136693071363"])["Images"][0]["ImageId"]
    bystander = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")
    bystander_id = bystander["Instances"][0]["InstanceId"]
    default_vpcs = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    run_id = "moto-e2e"
    extra = tmp_path / "vars.json"
    extra.write_text(
        json.dumps(
            {
                "loadlab_aws_placement_group": False,  # moto: CreatePlacementGroup not implemented
                "loadlab_cloud_run_id": run_id,
                "loadlab_cloud_ssh_public_key": ssh_public_key.read_text().strip(),
            }
        )
    )

    first = run_playbook("provision-aws.yml", "-e", f"@{extra}", env=env, timeout=900)
    say(f"\nfirst provision ({first.seconds:.0f}s):\n{first.recap_lines}")
    assert first.returncode == 0, first.tail()
    assert recap(first)["changed"] > 0 and recap(first)["failed"] == 0

    found = lab_resources(aws)
    for kind in ("vpcs", "subnets", "internet_gateways", "route_tables", "security_groups"):
        assert len(found[kind]) == 1, (kind, found[kind])
    assert [k["KeyName"] for k in found["key_pairs"]] == [LAB]
    for kind, items in found.items():
        for item in items:
            assert tags(item).get("loadlab_lab") == LAB, (kind, item)
            assert tags(item).get("loadlab_run") == run_id, (kind, item)
    by_role: dict[str, list[dict[str, Any]]] = {}
    for instance in found["instances"]:
        by_role.setdefault(tags(instance)["loadlab_role"], []).append(instance)
    assert {role: len(items) for role, items in by_role.items()} == ROLES
    assert by_role["locust_master"][0]["InstanceType"] == "m6a.xlarge"
    assert {i["InstanceType"] for i in by_role["db"] + by_role["app"]} == {"m6a.2xlarge"}
    vpc = found["vpcs"][0]["VpcId"]
    assert all(i["VpcId"] == vpc and i.get("PublicIpAddress") for i in found["instances"])
    assert len(found["volumes"]) == sum(ROLES.values())  # the root volumes carry the tags too

    second = run_playbook("provision-aws.yml", "-e", f"@{extra}", env=env, timeout=900)
    say(f"second provision ({second.seconds:.0f}s):\n{second.recap_lines}")
    assert second.returncode == 0, second.tail()
    assert recap(second)["changed"] == 0, second.tail(80)

    graph = subprocess.run(
        [tool("ansible-inventory"), "-i", "inventories/aws_ec2.yml", "--graph"],
        cwd=REPO / "playbooks", env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    say(f"ansible-inventory -i inventories/aws_ec2.yml --graph:\n{graph.stdout}")
    assert graph.returncode == 0, graph.stderr
    listed = subprocess.run(
        [tool("ansible-inventory"), "-i", "inventories/aws_ec2.yml", "--list"],
        cwd=REPO / "playbooks", env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    inventory = json.loads(listed.stdout)
    for role, count in ROLES.items():
        assert len(inventory[role]["hosts"]) == count, (role, inventory[role])
        assert f"@{role}:" in graph.stdout
    assert len(inventory["loadlab"]["hosts"]) == sum(ROLES.values())
    hostvars = inventory["_meta"]["hostvars"]
    assert not any(bystander_id in host for host in hostvars)
    for host, values in hostvars.items():
        assert values["ansible_user"] == "admin", host
        assert values["loadlab_private_ip"].startswith("10.78.1."), host
        assert values["ansible_host"], host

    # no local state (the lab was made by hand): `down` finds it by its tag
    down = loadlab("cloud", "down", "--cloud", "aws", "--no-placement-group", "--yes", env=env)
    say(f"loadlab cloud down (no local state):\n{down.stdout[-3000:]}")
    assert down.returncode == 0, down.stdout[-3000:] + down.stderr
    assert "no local state for this lab" in down.stdout
    assert down.stdout.count("instance i-") == sum(ROLES.values()), down.stdout
    assert re.search(r"destroy-aws.yml: localhost : ok=\d+ changed=[1-9]", down.stdout)
    assert f"nothing tagged loadlab_lab={LAB} left in {REGION}" in down.stdout
    assert_nothing_of_the_lab(aws)
    survivor = ec2.describe_instances(InstanceIds=[bystander_id])["Reservations"][0]
    assert survivor["Instances"][0]["State"]["Name"] == "running"
    assert {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]} == default_vpcs

    again = run_playbook("destroy-aws.yml", "-e", f"@{extra}", env=env, timeout=900)
    say(f"second destroy ({again.seconds:.0f}s):\n{again.recap_lines}")
    assert again.returncode == 0, again.tail()
    assert recap(again)["changed"] == 0, again.tail(80)
    say(f"the playbooks' story took {time.monotonic() - started:.0f}s")


# ----------------------------------------------------------------------------- the guard
def test_interrupted_run_destroys_the_instances_it_created(
    aws: Moto, collections: Path, ssh_public_key: Path, tmp_path: Path
) -> None:
    env = aws_env(aws.url, tmp_path, LOADLAB_CLOUD_INTERRUPT_AFTER="provision")
    started = time.monotonic()
    done = loadlab(
        "cloud", "run", "--cloud", "aws", "--no-placement-group", "--ssh-key",
        str(ssh_public_key), "--preset", "quick", "--yes", env=env,
    )  # fmt: skip
    output = done.stdout + done.stderr
    say(f"\ninterrupted run ({time.monotonic() - started:.0f}s), exit {done.returncode}:")
    say(
        "\n".join(
            line for line in output.splitlines() if line.strip() and not line.startswith(NOISE)
        )
    )
    assert done.returncode == 130, output[-3000:]
    # it said what it would create before creating it
    assert output.index("will create:") < output.index("provision-aws.yml: localhost")
    assert "locust_workers  2 x m6a.2xlarge" in output and "eu-west-1" in output
    run_id = run_id_of(output)
    created = instances_of_run(aws, run_id)
    assert len(created) == sum(ROLES.values()), created  # they existed ...
    assert {i["State"]["Name"] for i in created} == {"terminated"}  # ... and are gone
    assert "the run was interrupted: destroying lab" in output
    assert f"nothing tagged loadlab_lab={LAB} left in {REGION}" in output
    assert_nothing_of_the_lab(aws)
    state = json.loads(
        (tmp_path / "loadlab-home" / "cloud" / f"aws-{REGION}-{LAB}" / "state.json").read_text()
    )
    assert state["phase"] == "destroyed", state


def test_quota_refusal_removes_what_was_created(
    aws: Moto, refusing_proxy: RefusingProxy, collections: Path, ssh_public_key: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    env = aws_env(refusing_proxy.url, tmp_path)
    done = loadlab(
        "cloud", "up", "--cloud", "aws", "--no-placement-group", "--no-converge", "--ssh-key",
        str(ssh_public_key), "--yes", env=env,
    )  # fmt: skip
    say(f"\nquota refusal, exit {done.returncode}:\n{done.stderr}")
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr
    # db's and app's RunInstances passed; locust_master's and locust_workers' were refused
    # (a loop goes on after a failed item)
    assert refusing_proxy.run_instances == 4 and refusing_proxy.refused == 2
    error, fix = error_and_fix(done.stderr)
    assert "quota" in error and "VcpuLimitExceeded" in error, error
    assert f"destroyed lab '{LAB}'" in error and "nothing tagged" in error, error
    assert "Service Quotas" in fix, fix
    created = instances_of_run(aws, run_id_of(done.stdout))
    assert len(created) == 2 and {i["State"]["Name"] for i in created} == {"terminated"}
    assert_nothing_of_the_lab(aws)


@pytest.mark.parametrize(
    "case", ["missing credentials", "wrong credentials", "unknown region", "unknown instance type"]
)
def test_preflight_stops_before_anything_is_created(
    case: str, aws: Moto, collections: Path, ssh_public_key: Path, tmp_path: Path
) -> None:
    env = aws_env(aws.url, tmp_path)
    args = ["--ssh-key", str(ssh_public_key), "--no-placement-group", "--yes"]
    expect, fix = "", ""
    if case == "missing credentials":
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
        expect, fix = "no AWS credentials found", "AWS_PROFILE"
    elif case == "wrong credentials":
        env["AWS_ACCESS_KEY_ID"] = "AKIAWRONGWRONGWRONG1"  # secret-scan: allow (a fake key)
        aws.require_auth(True)
        expect, fix = (
            "AWS rejected the credentials (InvalidClientTokenId",
            "aws sts get-caller-identity",
        )
    elif case == "unknown region":
        args += ["--region", "eu-nowhere-1"]
        expect, fix = "unknown AWS region 'eu-nowhere-1'", "--region"
    else:
        args += ["--type", "app=m6a.gigantic"]
        expect, fix = "unknown AWS instance type", "--type ROLE=TYPE"
    done = loadlab("cloud", "up", "--cloud", "aws", *args, env=env, timeout=300)
    aws.require_auth(False)
    say(f"\n{case}: exit {done.returncode}\n{done.stderr}")
    assert done.returncode == 2, done.stdout + done.stderr
    error, hint = error_and_fix(done.stderr)
    assert expect in error, error
    assert fix in hint, hint
    assert "provision-aws.yml" not in done.stdout  # no playbook ran
    assert_nothing_of_the_lab(aws)
    assert len(aws.client().describe_vpcs()["Vpcs"]) == 1  # the default VPC only
