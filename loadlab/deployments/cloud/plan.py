"""What a cloud lab creates: per role, how many machines of which size, in which region.

The defaults are the playbooks' own (playbooks/group_vars/all/cloud.yml), so `loadlab cloud`
and `ansible-playbook provision-*.yml` by hand create the same lab; the command line overrides
them and hands every value to the playbooks as extra vars.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT
from loadlab.core.results import new_run_id
from loadlab.deployments.ansible.playbook import PLAYBOOKS

CLOUD_VARS = PLAYBOOKS / "group_vars" / "all" / "cloud.yml"
ROLES = ("db", "app", "locust_master", "locust_workers")
# site.yml and a run's playbooks need one of each; workers may be none (the master can run them)
MIN_COUNTS = {"db": 1, "app": 1, "locust_master": 1, "locust_workers": 0}
Cloud = Literal["aws", "azure"]
CLOUDS: tuple[Cloud, ...] = ("aws", "azure")
# valid as an AWS Name tag, security group and key name, and as an Azure resource group
LAB_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
DEFAULT_SSH_KEY = Path("~/.ssh/id_ed25519.pub")


def playbook_defaults() -> dict[str, Any]:
    """The plain values of group_vars/all/cloud.yml (templated ones are the playbooks' job)."""
    data = yaml.safe_load(CLOUD_VARS.read_text()) or {}
    return {k: v for k, v in data.items() if not (isinstance(v, str) and "{{" in v)}


def parse_assignments(values: list[str] | None, what: str, cast: Any = str) -> dict[str, Any]:
    """["db=2", "app=1"] -> {"db": 2, "app": 1}, every key a role."""
    parsed: dict[str, Any] = {}
    for value in values or []:
        role, sep, raw = value.partition("=")
        role = role.strip()
        if not sep or role not in ROLES or not raw.strip():
            raise LabError(
                f"{what} {value!r} is not ROLE=VALUE with ROLE one of {', '.join(ROLES)}",
                hint=f"e.g. {what} locust_workers=" + ("3" if cast is int else "m6a.xlarge"),
            )
        try:
            parsed[role] = cast(raw.strip())
        except ValueError:
            raise LabError(f"{what} {value!r}: {raw!r} is not a number", hint="e.g. db=1") from None
    return parsed


class CloudPlan(BaseModel):
    """One lab in one region: everything provision-*.yml needs, and what to tell the user."""

    model_config = ConfigDict(extra="forbid")

    cloud: Cloud
    lab: str = Field(description="tag loadlab_lab and the name of the lab's network and group")
    region: str = Field(description="AWS region or Azure location")
    run_id: str = Field(description="tag loadlab_run on every resource")
    counts: dict[str, int]
    sizes: dict[str, str] = Field(description="instance type (AWS) or VM size (Azure) per role")
    ssh_source: str = Field(description="CIDR allowed to SSH in")
    ssh_public_key: Path
    placement_group: bool = True
    resource_group: str = ""
    network: dict[str, str] = Field(default_factory=dict)
    image: str = ""
    endpoint_url: str = Field(default="", description="AWS_ENDPOINT_URL: an emulator, not AWS")

    @model_validator(mode="after")
    def _check(self) -> CloudPlan:
        if not LAB_NAME.match(self.lab):
            raise ValueError(
                f"lab name {self.lab!r} must be 2-32 lowercase letters, digits or hyphens, "
                "starting with a letter"
            )
        unknown = set(self.counts) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown role(s) {', '.join(sorted(unknown))}")
        for role, least in MIN_COUNTS.items():
            if self.counts.get(role, 0) < least:
                raise ValueError(f"{role} needs at least {least} machine(s)")
        missing = [r for r, n in self.counts.items() if n and not self.sizes.get(r)]
        if missing:
            raise ValueError(f"no size for role(s) {', '.join(missing)}")
        return self

    # ------------------------------------------------------------------ what it creates
    @property
    def machines(self) -> int:
        return sum(self.counts.values())

    @property
    def ssh_private_key(self) -> Path:
        return self.ssh_public_key.with_suffix("")

    def describe(self) -> list[str]:
        where = "AWS region" if self.cloud == "aws" else "Azure location"
        lines = [
            f"lab {self.lab!r}, run {self.run_id}: {self.machines} machines in {where} {self.region}"
            + (f" (endpoint {self.endpoint_url})" if self.endpoint_url else "")
        ]
        width = max(len(r) for r in ROLES)
        for role in ROLES:
            if self.counts.get(role):
                lines.append(f"  {role:<{width}}  {self.counts[role]} x {self.sizes[role]}")
        if self.cloud == "aws":
            extras = [
                f"VPC {self.network.get('vpc', '?')} with subnet {self.network.get('subnet', '?')}",
                "internet gateway and route table",
                f"security group (SSH from {self.ssh_source}, all traffic inside the VPC)",
                f"key pair {self.lab!r}",
            ]
            extras.append(
                "cluster placement group" if self.placement_group else "no placement group"
            )
        else:
            extras = [
                f"resource group {self.resource_group!r}",
                f"virtual network {self.network.get('vnet', '?')}",
                f"network security group (SSH from {self.ssh_source})",
                "proximity placement group, a public IP and a NIC per VM",
            ]
        lines += [f"  + {extra}" for extra in extras]
        lines.append(f"  image: {self.image}")
        lines.append(f"  every resource tagged loadlab_lab={self.lab}, loadlab_run={self.run_id}")
        return lines

    # ------------------------------------------------------------------ the playbooks' vars
    def destroy_vars(self) -> dict[str, Any]:
        """What destroy-*.yml needs: the lab (its tag) and where."""
        common = {"loadlab_cloud_lab": self.lab}
        if self.cloud == "aws":
            return {
                **common,
                "loadlab_aws_region": self.region,
                "loadlab_aws_placement_group": self.placement_group,
                "loadlab_aws_subnet_cidr": self.network.get("subnet"),
            }
        return {
            **common,
            "loadlab_azure_location": self.region,
            "loadlab_azure_resource_group": self.resource_group,
        }

    def provision_vars(self) -> dict[str, Any]:
        key = self.ssh_public_key.expanduser()
        try:
            public_key = key.read_text().strip()
        except OSError:
            raise LabError(
                f"no SSH public key at {key}: the machines would admit no one",
                hint="create one with `ssh-keygen -t ed25519`, or pass --ssh-key PATH.pub",
            ) from None
        base = {
            **self.destroy_vars(),
            "loadlab_cloud_run_id": self.run_id,
            "loadlab_cloud_counts": dict(self.counts),
            "loadlab_cloud_ssh_source": self.ssh_source,
            "loadlab_cloud_ssh_public_key": public_key,
        }
        if self.cloud == "aws":
            return {**base, "loadlab_aws_instance_types": dict(self.sizes)}
        return {**base, "loadlab_azure_vm_sizes": dict(self.sizes)}

    def ssh_vars(self, known_hosts: Path) -> dict[str, Any]:
        """site.yml and a run's playbooks: the plan's key, and new machines' host keys trusted on first
        use into the lab's own known_hosts file."""
        return {
            "ansible_ssh_private_key_file": str(self.ssh_private_key.expanduser()),
            "ansible_ssh_extra_args": (
                f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={known_hosts}"
            ),
        }

    def render_inventory(self, directory: Path) -> Path:
        """The repository's dynamic inventory, pointed at this plan's region and lab."""
        if self.cloud == "aws":
            source = PLAYBOOKS / "inventories" / "aws_ec2.yml"
            data = yaml.safe_load(source.read_text())
            data["regions"] = [self.region]
            data["filters"] = {**data.get("filters", {}), "tag:loadlab_lab": self.lab}
            target = directory / "aws_ec2.yml"  # the plugin wants the name to end so
        else:
            source = PLAYBOOKS / "inventories" / "azure_rm.yml"
            data = yaml.safe_load(source.read_text())
            data["include_vm_resource_groups"] = [self.resource_group]
            target = directory / "azure_rm.yml"
        directory.mkdir(parents=True, exist_ok=True)
        header = f"# written by `loadlab cloud` from {source.relative_to(REPO_ROOT)}\n"
        target.write_text(header + yaml.safe_dump(data, sort_keys=False))
        return target


def build_plan(
    cloud: str,
    *,
    lab: str | None = None,
    region: str | None = None,
    counts: dict[str, int] | None = None,
    sizes: dict[str, str] | None = None,
    ssh_key: Path | None = None,
    ssh_source: str | None = None,
    placement_group: bool | None = None,
    run_id: str | None = None,
) -> CloudPlan:
    """The playbooks' defaults, overridden by what the command line gave."""
    if cloud not in CLOUDS:
        raise LabError(f"unknown cloud {cloud!r}", hint="pass --cloud aws or --cloud azure")
    d = playbook_defaults()
    lab = lab or d.get("loadlab_cloud_lab", "loadlab")
    fields: dict[str, Any] = {
        "cloud": cloud,
        "lab": lab,
        "run_id": run_id or new_run_id(),
        "counts": {**d.get("loadlab_cloud_counts", {}), **(counts or {})},
        "ssh_source": ssh_source or d.get("loadlab_cloud_ssh_source", "0.0.0.0/0"),
        "ssh_public_key": ssh_key or DEFAULT_SSH_KEY,
    }
    if cloud == "aws":
        fields.update(
            region=region or d.get("loadlab_aws_region", "eu-west-1"),
            sizes={**d.get("loadlab_aws_instance_types", {}), **(sizes or {})},
            placement_group=(
                d.get("loadlab_aws_placement_group", True)
                if placement_group is None
                else placement_group
            ),
            network={"vpc": d["loadlab_aws_vpc_cidr"], "subnet": d["loadlab_aws_subnet_cidr"]},
            image=f"{d['loadlab_aws_ami_name']} owned by {d['loadlab_aws_ami_owner']}, newest",
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL", ""),
        )
    else:
        image = d.get("loadlab_azure_image", {})
        fields.update(
            region=region or d.get("loadlab_azure_location", "westeurope"),
            sizes={**d.get("loadlab_azure_vm_sizes", {}), **(sizes or {})},
            resource_group=lab,
            network={"vnet": d.get("loadlab_azure_address_space", "?")},
            image=":".join(
                str(image.get(k, "?")) for k in ("publisher", "offer", "sku", "version")
            ),
        )
    try:
        return CloudPlan.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in error.errors())
        raise LabError(
            f"the cloud lab cannot be planned: {problems}",
            hint="see `loadlab cloud up --help` (--lab, --count ROLE=N, --type ROLE=SIZE)",
        ) from None
