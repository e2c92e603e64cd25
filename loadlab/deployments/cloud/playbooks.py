"""ansible-playbook, ansible-inventory and ansible with a lab's extra vars; what they print
goes to the user line by line and to the lab's log, and a failure becomes one LabError that
names the cause (credentials, quota, capacity, an unknown size) and its fix."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.deployments.cloud.plan import PLAYBOOKS, CloudPlan

Echo = Callable[[str], None]
RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
FATAL = re.compile(r"^fatal: \[[^\]]+\]: (?:FAILED|UNREACHABLE)! => (\{.*\})\s*$", re.MULTILINE)


@dataclass
class PlaybookResult:
    name: str
    returncode: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def recap_line(self) -> str:
        line = next((line for line in self.output.splitlines() if RECAP.match(line)), "")
        return " ".join(line.split()) or "(no recap)"

    @property
    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap.values())

    def first_failure(self) -> str:
        """The `msg` of the first failed task, else the output's last line."""
        for match in FATAL.finditer(self.output):
            try:
                payload = json.loads(match[1])
            except ValueError:
                continue
            msg = payload.get("msg") or payload.get("module_stderr") or ""
            if msg:
                return " ".join(str(msg).split())[:600]
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1][:600] if lines else "no output"


def tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    raise LabError(
        f"{name} not found beside {sys.executable}",
        hint="pip install -e '.[dev]' (ansible-core) and run infra/testbed/prepare.sh --collections-only",
    )


def ansible_env() -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }


def _stream(
    command: list[str], echo: Echo | None, log: Path | None, *, shielded: bool
) -> tuple[int, str]:
    """Run `command` from playbooks/, echoing each line. `shielded`: in its own session, so a
    Ctrl-C at the terminal does not reach it (the cleanup must finish)."""
    lines: list[str] = []
    handle = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("a")
        handle.write(f"$ {' '.join(command)}\n")
    process = subprocess.Popen(
        command,
        cwd=PLAYBOOKS,
        env=ansible_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=shielded,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if handle:
                handle.write(line)
            if echo:
                echo(line.rstrip("\n"))
        returncode = process.wait()
    except BaseException:
        # interrupted (Ctrl-C reached it too, or SIGTERM reached only us): let ansible stop
        # its tasks, then make sure it is gone before anyone cleans up behind it
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise
    finally:
        if handle:
            handle.close()
    return returncode, "".join(lines)


def run_playbook(
    playbook: str,
    extra_vars: dict[str, Any],
    *,
    inventory: Path | None = None,
    echo: Echo | None = None,
    log_dir: Path | None = None,
    shielded: bool = False,
    extra_args: list[str] | None = None,
) -> PlaybookResult:
    with tempfile.TemporaryDirectory(prefix="loadlab-cloud-") as tmp:
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        command = [tool("ansible-playbook"), playbook, "-e", f"@{vars_file}"]
        if inventory is not None:
            command += ["-i", str(inventory)]
        command += extra_args or []
        started = time.monotonic()
        log = log_dir / f"{Path(playbook).stem}.log" if log_dir else None
        returncode, output = _stream(command, echo, log, shielded=shielded)
    recap = {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
        for m in RECAP.finditer(output)
    }
    return PlaybookResult(playbook, returncode, output, time.monotonic() - started, recap)


def list_inventory(inventory: Path) -> dict[str, list[str]]:
    """Group -> hosts, as ansible-inventory --list sees the cloud now."""
    done = subprocess.run(
        [tool("ansible-inventory"), "-i", str(inventory), "--list"],
        cwd=PLAYBOOKS, env=ansible_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise LabError(
            f"ansible-inventory -i {inventory} failed: {done.stderr.strip()[-400:]}",
            hint="the inventory plugin needs the same credentials as the playbooks",
        )
    data = json.loads(done.stdout)
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
        returncode, _ = _stream(command, echo, log, shielded=False)
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
