"""Each backend declares what it supports; a run that needs more is refused, naming both."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlab.core.capabilities import BACKENDS, NEEDS, Capabilities, supporting
from loadlab.core.config import load_config
from loadlab.core.errors import LabError
from loadlab.core.progress import Silent
from loadlab.orchestration.runner import Run


@pytest.mark.parametrize(
    ("backend", "overrides", "named"),
    [
        ("compose", {"network": {"db_rtt_ms": [1]}}, "emulated database link"),
        ("ansible", {"network": {"db_rtt_ms": [1]}}, "emulated database link"),
        ("ansible", {"locust_workers": 2}, "loadlab_locust_workers_per_host"),
        ("ansible", {"cpusets": {"app": "0", "db": "0", "load": "0"}}, "pinned cores"),
    ],
)
def test_a_run_the_backend_cannot_do_is_refused_naming_both(
    backend: str, overrides: dict[str, object], named: str
) -> None:
    with pytest.raises(LabError, match=rf"{backend} backend does not support.*{named}"):
        load_config("quick", overrides={"backend": backend, "inventory": "h.yml", **overrides})


def test_the_soak_preset_runs_where_windows_are_recorded() -> None:
    for backend in supporting("soak_windows"):
        config = load_config("soak", overrides={"backend": backend, "inventory": "h.yml"})
        assert config.soak.enabled
    for backend in set(BACKENDS) - set(supporting("soak_windows")):
        with pytest.raises(LabError, match=f"{backend} backend does not support soak"):
            load_config("soak", overrides={"backend": backend, "inventory": "h.yml"})


def test_every_need_names_a_declared_capability() -> None:
    declared = set(Capabilities.model_fields)
    assert {need.capability for need in NEEDS} <= declared - {"verify"}
    assert supporting("db_rtt") == ["local"]


def test_the_ansible_backend_needs_an_inventory(tmp_path: Path) -> None:
    config = load_config("quick", overrides={"backend": "ansible"})
    with pytest.raises(LabError, match="needs an inventory"):
        Run(config, tmp_path, Silent())
    missing = config.model_copy(update={"inventory": str(tmp_path / "nope.yml")})
    with pytest.raises(LabError, match=r"nope\.yml does not exist"):
        Run(missing, tmp_path, Silent())
    assert list(tmp_path.iterdir()) == []  # no run folder for a run that cannot start
