"""Workloads by name: one module each, every request of a workload is one HTTP call.

A module may also offer a family of workloads with one numeric parameter by defining
`build(value)` and `PARAMETER` (what the number means): `queries-5` is the `queries` module
built with 5. The parameter lives in the name, so each value is its own row in the results
and the name alone (`LOADLAB_WORKLOAD`) tells every Locust process what to send.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from types import ModuleType

from loadtests.workloads.base import Workload

_PARAMETERISED = re.compile(r"^(?P<family>[a-z][a-z0-9-]*?)-(?P<value>[0-9]+(?:\.[0-9]+)?)$")


def workload_names() -> list[str]:
    names = []
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            names.append(info.name.replace("_", "-"))
    return sorted(names)


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"loadtests.workloads.{name.replace('-', '_')}")


def parameterised() -> dict[str, str]:
    """Family name -> what its number means, for the families that take one."""
    found = {}
    for name in workload_names():
        module = _module(name)
        if hasattr(module, "build"):
            found[name] = str(getattr(module, "PARAMETER", "a number"))
    return found


class UnknownWorkload(ValueError):
    """No module and no family of that name (as opposed to a family's number out of range)."""


def known_text() -> str:
    return ", ".join(workload_names() + [f"{family}-N" for family in parameterised()])


def get_workload(name: str) -> Workload:
    known = workload_names()
    if name in known:
        workload: Workload = _module(name).WORKLOAD
        return workload
    match = _PARAMETERISED.match(name)
    if match and match["family"] in known:
        module = _module(match["family"])
        if hasattr(module, "build"):
            built: Workload = module.build(match["value"])
            return built
    raise UnknownWorkload(f"unknown workload {name!r}; known workloads: {known_text()}")


def workloads_problem(names: list[str]) -> str | None:
    """Why some of `names` are not workloads (one line), or None when all are."""
    unknown, problems = [], []
    for name in names:
        try:
            get_workload(name)
        except UnknownWorkload:
            unknown.append(name)
        except ValueError as exc:
            problems.append(str(exc))
    if unknown:
        problems.append(f"unknown workload(s) {', '.join(unknown)}; known: {known_text()}")
    return "; ".join(problems) or None


def is_workload(name: str) -> bool:
    return workloads_problem([name]) is None
