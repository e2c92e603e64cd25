"""The cloud's side of Ansible: the inventory as the cloud sees it, waiting for SSH on new
machines, and a failed playbook as one LabError that names the cause (credentials, quota,
capacity, an unknown size) and its fix. Running the playbooks themselves is
loadlab.deployments.ansible.playbook's job."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.deployments.ansible.playbook import (
    Echo,
    PlaybookResult,
    ansible_inventory,
    stream,
    tool,
)
from loadlab.deployments.cloud.plan import CloudPlan


def list_inventory(inventory: Path) -> dict[str, list[str]]:
    """Group -> hosts, as ansible-inventory --list sees the cloud now."""
    data = ansible_inventory(
        inventory, "--list", hint="the inventory plugin needs the same credentials as the playbooks"
    )
    return {
        name: list(group.get("hosts", []))
        for name, group in data.items()
        if name != "_meta" and isinstance(group, dict)
    }


def wait_for_ssh(
    inventory: Path, extra_vars: dict[str, Any], echo: Echo | None, log_dir: Path | None
) -> None:
    """New machines boot for a minute or two before sshd answers."""
    with tempfile.TemporaryDirectory(prefix="loadlab-cloud-") as tmp:
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        command = [
            tool("ansible"), "loadlab", "-i", str(inventory), "-e", f"@{vars_file}",
            "-m", "ansible.builtin.wait_for_connection", "-a", "timeout=600",
        ]  # fmt: skip
        log = log_dir / "wait-for-ssh.log" if log_dir else None
        returncode, _ = stream(command, echo, log, shielded=False)
    if returncode != 0:
        raise LabError(
            "the machines did not answer SSH within 10 minutes",
            hint="check --ssh-source (your address as CIDR) and --ssh-key; the log is in "
            f"{log_dir}",
        )


# ----------------------------------------------------------------------------- failures
# (pattern in the output, what happened, how to fix it); {region} and {cloud} are filled in
_KNOWN_FAILURES: list[tuple[str, str, str]] = [
    (
        r"VcpuLimitExceeded|InstanceLimitExceeded|MaxSpotInstanceCountExceeded",
        "{cloud} refused the instances: the account's vCPU/instance quota in {region} is too low",
        "request a higher 'Running On-Demand Standard instances' quota in Service Quotas for "
        "{region} (it takes hours to days), or lower --count / choose a smaller --type",
    ),
    (
        r"VpcLimitExceeded|AddressLimitExceeded|RulesPerSecurityGroupLimitExceeded|"
        r"InternetGatewayLimitExceeded|SecurityGroupLimitExceeded",
        "{cloud} refused a network resource: a networking quota in {region} is used up",
        "delete unused VPCs, gateways or security groups in {region}, or request a higher "
        "quota in Service Quotas",
    ),
    (
        r"QuotaExceeded|OperationNotAllowed.*quota",
        "{cloud} refused the VMs: the subscription's vCPU quota in {region} is too low",
        "request a higher quota for the VM family in {region} (portal: Subscriptions > "
        "Usage + quotas), or lower --count / choose a smaller --type",
    ),
    (
        r"InsufficientInstanceCapacity|SkuNotAvailable|AllocationFailed|ZonalAllocationFailed",
        "{cloud} has no capacity for the requested size in {region} right now",
        "try again later, choose another --type, or another --region",
    ),
    (
        r"AuthFailure|UnauthorizedOperation|InvalidClientTokenId|SignatureDoesNotMatch|"
        r"ExpiredToken|AuthorizationFailed|InvalidAuthenticationToken",
        "{cloud} refused the credentials or their permissions",
        "check the credentials in your environment (AWS_PROFILE or AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY; az login) and that they may create the lab's resources",
    ),
    (
        r"InvalidInstanceType|Unsupported.*instance|InvalidParameterValue.*instance type",
        "{cloud} rejected an instance type in {region}",
        "choose a type offered in {region} with --type ROLE=TYPE "
        "(`aws ec2 describe-instance-type-offerings --region {region}`)",
    ),
]


def failure(result: PlaybookResult, plan: CloudPlan, log_dir: Path | None, action: str) -> LabError:
    """One LabError for a failed playbook: a known cloud refusal with its fix, else the
    failed task's message and where the log is."""
    cloud = "AWS" if plan.cloud == "aws" else "Azure"
    for pattern, message, hint in _KNOWN_FAILURES:
        found = re.search(pattern, result.output)
        if found:
            text = message.format(cloud=cloud, region=plan.region)
            return LabError(
                f"{text} ({found.group(0)}) while {action}",
                hint=hint.format(cloud=cloud, region=plan.region),
            )
    where = f"; the whole output is in {log_dir}" if log_dir else ""
    return LabError(
        f"{result.name} failed (exit {result.returncode}) while {action}: {result.first_failure()}",
        hint=f"fix the failed task above and run the command again{where}",
    )
