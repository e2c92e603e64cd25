"""Workloads by name: one module each, every request of a workload is one HTTP call."""

from __future__ import annotations

import importlib
import pkgutil

from loadtests.workloads.base import Workload


def workload_names() -> list[str]:
    names = []
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            names.append(info.name.replace("_", "-"))
    return sorted(names)


def get_workload(name: str) -> Workload:
    if name not in workload_names():
        raise ValueError(
            f"unknown workload {name!r}; known workloads: {', '.join(workload_names())}"
        )
    module = importlib.import_module(f"loadtests.workloads.{name.replace('-', '_')}")
    workload: Workload = module.WORKLOAD
    return workload
