"""The Azure playbooks without Azure: no emulator is reachable here, so every azure.azcollection
task of provision-azure.yml and destroy-azure.yml is rendered for a sample configuration (the
playbooks' own defaults plus the values `loadlab cloud` passes, every loop item) and its
arguments validated against the module's real argument spec, as AnsibleModule would on the
control machine: unknown options, wrong types, bad choices, missing required options and
violated mutually-exclusive/required-if rules all fail here.

The spec is the one the module builds at run time (azure_rm_common merges its common auth and
tag options into each module's own), captured by running the module's main() up to the point
where it would construct AnsibleModule.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadlab.deployments.cloud.plan import build_plan
from tests.ansible.conftest import PLAYBOOKS

AZURE_PLAYBOOKS = ["provision-azure.yml", "destroy-azure.yml"]
OMIT = "__omit_place_holder__loadlab_test"
SAMPLE_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForRenderingOnly0000000000000000000 sample"
)


class _Captured(Exception):
    def __init__(self, kwargs: dict[str, Any]) -> None:
        super().__init__("captured")
        self.kwargs = kwargs


def _capture(**kwargs: Any) -> None:
    raise _Captured(kwargs)


def module_spec(collections: Path, fqcn: str) -> dict[str, Any]:
    """AnsibleModule's keyword arguments as the module would pass them."""
    if str(collections) not in sys.path:
        sys.path.insert(0, str(collections))
    namespace, collection, name = fqcn.split(".")
    common = importlib.import_module(
        f"ansible_collections.{namespace}.{collection}.plugins.module_utils.azure_rm_common"
    )
    module = importlib.import_module(
        f"ansible_collections.{namespace}.{collection}.plugins.modules.{name}"
    )
    from ansible.module_utils import basic

    original, original_args = common.AnsibleModule, basic._ANSIBLE_ARGS
    common.AnsibleModule = _capture
    # some modules read their parameters before building the spec (_load_params)
    basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": {}}).encode()
    try:
        module.main()
    except _Captured as captured:
        return captured.kwargs
    finally:
        common.AnsibleModule, basic._ANSIBLE_ARGS = original, original_args
    raise AssertionError(f"{fqcn}: main() never built an AnsibleModule")


def sample_vars() -> dict[str, Any]:
    """group_vars/all/cloud.yml, overridden by what `loadlab cloud up --cloud azure` passes."""
    variables = yaml.safe_load((PLAYBOOKS / "group_vars" / "all" / "cloud.yml").read_text())
    plan = build_plan("azure", run_id="sample-run", ssh_source="203.0.113.7/32")
    provision = plan.destroy_vars() | {
        "loadlab_cloud_run_id": plan.run_id,
        "loadlab_cloud_counts": plan.counts,
        "loadlab_cloud_ssh_source": plan.ssh_source,
        "loadlab_cloud_ssh_public_key": SAMPLE_KEY,
        "loadlab_azure_vm_sizes": plan.sizes,
    }
    return {**variables, **provision, "omit": OMIT, "playbook_dir": str(PLAYBOOKS)}


def strip_omitted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_omitted(v) for k, v in value.items() if v != OMIT}
    if isinstance(value, list):
        return [strip_omitted(v) for v in value if v != OMIT]
    return value


def rendered_tasks(playbook: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(task name, module, rendered args) for every azure task and every loop item."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar

    plays = yaml.safe_load((PLAYBOOKS / playbook).read_text())
    # what a registered result, that a later task loops over, holds
    registered = {"__azure_groups": {"resourcegroups": [{"name": "loadlab"}]}}
    rendered = []
    for play in plays:
        variables = {**sample_vars(), **play.get("vars", {}), **registered}
        for task in play["tasks"]:
            module = next(k for k in task if k.startswith("azure.azcollection."))
            templar = Templar(loader=DataLoader(), variables=variables)
            if "when" in task and not templar.template("{{ " + str(task["when"]) + " }}"):
                continue
            loop_var = task.get("loop_control", {}).get("loop_var", "item")
            items = templar.template(task["loop"]) if "loop" in task else [None]
            assert isinstance(items, list) and items, f"{playbook}: {task['name']}: loop {items!r}"
            for item in items:
                templar.available_variables = {**variables, loop_var: item}
                args = strip_omitted(templar.template(task[module] or {}))
                rendered.append(
                    (f"{task['name']} [{item}]" if item else task["name"], module, args)
                )
    return rendered


@pytest.mark.parametrize("playbook", AZURE_PLAYBOOKS)
def test_every_azure_module_argument_renders_and_fits_the_argument_spec(
    playbook: str, collections: Path
) -> None:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    tasks = rendered_tasks(playbook)
    assert tasks, playbook
    problems = []
    for name, module, args in tasks:
        assert not any("{{" in str(v) for v in args.values()), (name, args)  # fully rendered
        spec = module_spec(collections, module)
        validator = ArgumentSpecValidator(
            spec["argument_spec"],
            mutually_exclusive=spec.get("mutually_exclusive"),
            required_together=spec.get("required_together"),
            required_one_of=spec.get("required_one_of"),
            required_if=spec.get("required_if"),
            required_by=spec.get("required_by"),
        )
        result = validator.validate(args)
        if result.error_messages:
            problems.append(f"{name} ({module}): {'; '.join(result.error_messages)}")
    assert not problems, "\n".join(problems)


def test_provision_renders_the_planned_vms_with_tags(collections: Path) -> None:
    tasks = rendered_tasks("provision-azure.yml")
    vms = [args for name, module, args in tasks if module.endswith("azure_rm_virtualmachine")]
    plan = build_plan("azure", run_id="sample-run")
    assert len(vms) == plan.machines
    for args in vms:
        role = args["tags"]["loadlab_role"]
        assert args["vm_size"] == plan.sizes[role]
        assert (
            args["tags"]["loadlab_lab"] == plan.lab and args["tags"]["loadlab_run"] == "sample-run"
        )
        assert args["ssh_public_keys"][0]["key_data"] == SAMPLE_KEY
    tagged = [m for _, m, args in tasks if "tags" in args]
    untagged = {m for _, m, args in tasks if "tags" not in args}
    assert untagged == {"azure.azcollection.azure_rm_subnet"}, untagged  # subnets take no tags
    assert tagged


def test_a_bad_argument_is_caught(collections: Path) -> None:
    """The check is not vacuous: a wrong choice and an unknown option fail it."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    spec = module_spec(collections, "azure.azcollection.azure_rm_publicipaddress")
    validator = ArgumentSpecValidator(spec["argument_spec"], required_if=spec.get("required_if"))
    result = validator.validate(
        {"resource_group": "rg", "name": "ip", "allocation_method": "Sometimes", "colour": "red"}
    )
    messages = " ".join(result.error_messages)
    assert "allocation_method" in messages and "colour" in messages, messages
