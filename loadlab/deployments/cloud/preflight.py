"""Checks before anything is created: the tools and collections, the SSH key, and the cloud's
answer to the credentials, the region and the sizes. Each failure is one LabError naming the
fix, raised while nothing exists yet.

AWS is checked through boto3 (loadlab.deployments.cloud.aws), against the real API or an emulator. Azure
gets the checks that need no network (SDK installed, a credential source present); what only
Azure can answer (quota, sizes in a location) surfaces when provisioning, and the guard then
removes what was created.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.deployments.cloud.plan import PLAYBOOKS, CloudPlan

COLLECTIONS = {
    "aws": ["amazon/aws", "community/aws"],
    "azure": ["azure/azcollection"],
}
AZURE_CREDENTIALS_HINT = "run `az login`, or export AZURE_SUBSCRIPTION_ID, AZURE_CLIENT_ID, AZURE_SECRET and AZURE_TENANT"


def check_collections(cloud: str) -> None:
    root = PLAYBOOKS / "collections" / "ansible_collections"
    missing = [c.replace("/", ".") for c in COLLECTIONS[cloud] if not (root / c).is_dir()]
    if missing:
        raise LabError(
            f"the Ansible collection(s) {', '.join(missing)} are not installed in {root.parent}",
            hint="run infra/testbed/prepare.sh --collections-only",
        )


def check_azure(plan: CloudPlan) -> dict[str, Any]:
    try:
        import azure.mgmt.compute  # noqa: F401
    except ImportError:
        requirements = sorted(
            (PLAYBOOKS / "collections/ansible_collections/azure/azcollection").glob(
                "requirements*.txt"
            )
        )
        raise LabError(
            "the Azure SDK is not installed: azure.azcollection's modules need it",
            hint="pip install -r "
            + (str(requirements[0]) if requirements else "the azcollection's requirements.txt"),
        ) from None
    service_principal = all(
        os.environ.get(v)
        for v in ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT")
    )
    cli_login = (Path(os.environ.get("AZURE_CONFIG_DIR", "~/.azure")).expanduser()).joinpath(
        "azureProfile.json"
    )
    if not (service_principal or cli_login.exists()):
        raise LabError("no Azure credentials found", hint=AZURE_CREDENTIALS_HINT)
    return {
        "account": os.environ.get("AZURE_SUBSCRIPTION_ID", "from az login"),
        "image": plan.image,
    }


def preflight(plan: CloudPlan) -> dict[str, Any]:
    """Everything that can be checked before provisioning; returns what the cloud answered
    (account, image)."""
    check_collections(plan.cloud)
    plan.provision_vars()  # the SSH key is readable
    if plan.cloud == "aws":
        from loadlab.deployments.cloud import aws

        return aws.preflight(plan)
    return check_azure(plan)
