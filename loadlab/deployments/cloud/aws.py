"""AWS through boto3 on the control machine: the checks before anything is created, and what
the lab has left in a region (found by its tag, so no local state is needed).

boto3 reads credentials, the profile and AWS_ENDPOINT_URL (an emulator such as moto) from the
environment, as the playbooks' modules do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from loadlab.core.errors import LabError
from loadlab.deployments.cloud.plan import CloudPlan

CREDENTIALS_HINT = (
    "export AWS_PROFILE=<profile> (after `aws configure` or `aws sso login`), or "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)
_BAD_CREDENTIALS = {
    "InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "ExpiredToken",
    "ExpiredTokenException", "UnrecognizedClientException", "InvalidAccessKeyId",
}  # fmt: skip


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise LabError(
            "boto3 is not installed: the AWS modules and checks need it",
            hint="pip install boto3 botocore (or pip install -e '.[dev]')",
        ) from None
    return boto3


def _code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def session(region: str) -> Any:
    return _boto3().Session(region_name=region)


def _client(plan: CloudPlan, service: str, region: str | None = None) -> Any:
    from botocore.config import Config

    config = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10)
    return session(plan.region).client(service, region_name=region or plan.region, config=config)


def _call(what: str, function: Any, **kwargs: Any) -> Any:
    """One API call; the errors anyone meets first become LabErrors."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    try:
        return function(**kwargs)
    except (NoCredentialsError, PartialCredentialsError) as error:
        raise LabError(f"no usable AWS credentials: {error}", hint=CREDENTIALS_HINT) from None
    except EndpointConnectionError as error:
        raise LabError(
            f"cannot reach AWS while {what}: {error}",
            hint="check the network (and AWS_ENDPOINT_URL, when you point at an emulator)",
        ) from None
    except ClientError as error:
        code = _code(error)
        if code in _BAD_CREDENTIALS:
            raise LabError(
                f"AWS rejected the credentials ({code}: "
                f"{error.response.get('Error', {}).get('Message', '')})",
                hint=f"check or refresh them: {CREDENTIALS_HINT}; `aws sts get-caller-identity` "
                "shows which ones are used",
            ) from None
        if code in {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"}:
            raise LabError(
                f"the AWS credentials may not do this ({code}) while {what}",
                hint="use a role or user allowed ec2:* in the region (or at least Describe*, "
                "Create*, RunInstances, TerminateInstances, Delete*)",
            ) from None
        raise
    except BotoCoreError as error:
        raise LabError(f"AWS failed while {what}: {error}", hint=CREDENTIALS_HINT) from None


def preflight(plan: CloudPlan) -> dict[str, Any]:
    """Credentials, region, instance types and image, before anything is created. Returns
    what it found (account, image) for the plan's printout."""
    from botocore.exceptions import ClientError

    boto3 = _boto3()
    if boto3.Session(region_name=plan.region).get_credentials() is None:
        raise LabError("no AWS credentials found", hint=CREDENTIALS_HINT)
    identity = _call(
        "checking the credentials", _client(plan, "sts", "us-east-1").get_caller_identity
    )

    # the region: asked of a region that surely exists, about all regions
    regions = _call(
        "listing the regions", _client(plan, "ec2", "us-east-1").describe_regions, AllRegions=True
    )["Regions"]
    status = {r["RegionName"]: r.get("OptInStatus", "opt-in-not-required") for r in regions}
    if plan.region not in status:
        close = difflib.get_close_matches(plan.region, list(status), n=3, cutoff=0.5)
        raise LabError(
            f"unknown AWS region {plan.region!r}"
            + (f" (did you mean {', '.join(close)}?)" if close else ""),
            hint="pass --region with one of `aws ec2 describe-regions --query "
            "'Regions[].RegionName'`, e.g. eu-west-1, us-east-1",
        )
    if status[plan.region] == "not-opted-in":
        raise LabError(
            f"the AWS account has not enabled region {plan.region}",
            hint="enable it under Account > AWS Regions, or pass another --region",
        )

    ec2 = _client(plan, "ec2")
    wanted = sorted({plan.sizes[r] for r, n in plan.counts.items() if n})
    try:
        _call("checking the instance types", ec2.describe_instance_types, InstanceTypes=wanted)
    except ClientError as error:
        if _code(error) not in {"InvalidInstanceType", "InvalidParameterValue"}:
            raise
        raise LabError(
            f"unknown AWS instance type: {error.response['Error'].get('Message', wanted)}",
            hint="pass --type ROLE=TYPE with a type that exists, e.g. m6a.2xlarge or m6i.xlarge",
        ) from None
    offered = _call(
        "checking the instance types offered in the region",
        ec2.describe_instance_type_offerings,
        LocationType="region",
        Filters=[{"Name": "instance-type", "Values": wanted}],
    )["InstanceTypeOfferings"]
    missing = sorted(set(wanted) - {o["InstanceType"] for o in offered})
    if missing:
        raise LabError(
            f"instance type(s) {', '.join(missing)} not offered in {plan.region}",
            hint=f"pass --type ROLE=TYPE with a type `aws ec2 describe-instance-type-offerings "
            f"--region {plan.region}` lists, or another --region",
        )

    from loadlab.deployments.cloud.plan import playbook_defaults

    defaults = playbook_defaults()
    images = _call(
        "looking up the Debian image",
        ec2.describe_images,
        Owners=[str(defaults["loadlab_aws_ami_owner"])],
        Filters=[
            {"Name": "name", "Values": [defaults["loadlab_aws_ami_name"]]},
            {"Name": "architecture", "Values": ["x86_64"]},
        ],
    )["Images"]
    if not images:
        raise LabError(
            f"no image {defaults['loadlab_aws_ami_name']} owned by "
            f"{defaults['loadlab_aws_ami_owner']} in {plan.region}",
            hint="set loadlab_aws_ami_owner/loadlab_aws_ami_name in "
            "playbooks/group_vars/all/cloud.yml, or pass another --region",
        )
    newest = max(images, key=lambda i: i.get("CreationDate", ""))
    return {"account": identity.get("Account"), "image": f"{newest['ImageId']} {newest['Name']}"}


@dataclass
class Leftovers:
    found: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)


def leftovers(plan: CloudPlan) -> Leftovers:
    """Every resource in the plan's region tagged loadlab_lab=<lab>, as 'kind id (run)'; the
    placement group by its name (it carries no tag)."""
    from botocore.exceptions import ClientError

    ec2 = _client(plan, "ec2")
    tag = [{"Name": "tag:loadlab_lab", "Values": [plan.lab]}]

    def run_of(resource: dict[str, Any]) -> str:
        tags = {t["Key"]: t["Value"] for t in resource.get("Tags", [])}
        return tags.get("loadlab_run", "?")

    left = Leftovers()
    what = "listing the lab's resources"
    reservations = _call(
        what,
        ec2.describe_instances,
        Filters=[
            *tag,
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "shutting-down", "stopping", "stopped"],
            },
        ],
    )["Reservations"]
    for reservation in reservations:
        for i in reservation["Instances"]:
            left.found.append(
                f"instance {i['InstanceId']} {i['InstanceType']} {i['State']['Name']} "
                f"(run {run_of(i)})"
            )
    kinds = [
        ("volume", ec2.describe_volumes, "Volumes", "VolumeId"),
        ("key pair", ec2.describe_key_pairs, "KeyPairs", "KeyName"),
        ("security group", ec2.describe_security_groups, "SecurityGroups", "GroupId"),
        ("route table", ec2.describe_route_tables, "RouteTables", "RouteTableId"),
        ("subnet", ec2.describe_subnets, "Subnets", "SubnetId"),
        ("internet gateway", ec2.describe_internet_gateways, "InternetGateways", "InternetGatewayId"),
        ("VPC", ec2.describe_vpcs, "Vpcs", "VpcId"),
    ]  # fmt: skip
    for kind, describe, key, ident in kinds:
        for resource in _call(what, describe, Filters=tag)[key]:
            left.found.append(f"{kind} {resource[ident]} (run {run_of(resource)})")
    if plan.placement_group:
        try:
            groups = ec2.describe_placement_groups(GroupNames=[plan.lab])["PlacementGroups"]
            left.found += [f"placement group {g['GroupName']}" for g in groups]
        except ClientError as error:
            if "Unknown" not in _code(error) and "NotFound" not in _code(error):
                left.unchecked.append(f"placement group {plan.lab}: {_code(error) or error}")
        except Exception as error:  # an emulator without placement groups
            left.unchecked.append(f"placement group {plan.lab}: {error}")
    return left
