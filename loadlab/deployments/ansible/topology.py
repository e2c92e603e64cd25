"""What the manifest records of an Ansible lab, from the facts lab.yml gathered."""

from __future__ import annotations

from typing import Any

TESTBED_CAVEAT = (
    "the nodes are containers of the local test bed (infra/testbed) on one machine: they "
    "share its cores, so the figures prove the pipeline, not the frameworks' speed"
)


def roles_by_host(groups: dict[str, list[str]]) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {}
    for group, members in groups.items():
        for host in members:
            roles.setdefault(host, []).append(group)
    return roles


def topology(facts: dict[str, Any]) -> dict[str, Any]:
    nodes: dict[str, Any] = facts["nodes"]
    roles = roles_by_host(facts["groups"])
    app = facts["app"]
    return {
        "backend": "ansible",
        "inventory": facts.get("inventory"),
        "hosts": {
            host: {
                "roles": roles.get(host, []),
                "address": node.get("address"),
                "cpu_model": node.get("machine", {}).get("cpu_model"),
                "cpu_count": node.get("machine", {}).get("cpu_count"),
                "memory_bytes": node.get("machine", {}).get("memory_bytes"),
                "kernel": node.get("machine", {}).get("kernel"),
                "os": node.get("machine", {}).get("os"),
                "virtualization": node.get("virtualization"),
                "locust_workers": node.get("locust_workers", 0),
            }
            for host, node in sorted(nodes.items())
        },
        "app_url": app.get("url"),
        "app_workers": int(app["workers"]),
        "locust_workers": len(facts["worker_units"]),
        "database": facts["groups"]["db"][0],
    }


def app_node(facts: dict[str, Any]) -> dict[str, Any]:
    """The system under test's machine: the manifest's `machine`, `python` and `packages`."""
    return dict(facts["nodes"].get(facts["app"]["host"], {}))
