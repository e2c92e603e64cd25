"""The swarm's LOADLAB_* variables are one model (labcontract.env.SwarmEnv): the orchestrator
writes it, every Locust process reads it, and docs/contracts.md is generated from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from labcontract import docs
from labcontract.env import SwarmEnv, variables
from loadlab.core.results import LoadLevel
from loadlab.deployments.swarm import swarm_environment

REPO = Path(__file__).resolve().parents[2]


def _environment(**overrides: object) -> dict[str, str]:
    args: dict = {
        "workload": "db-read",
        "load": LoadLevel(model="open", users=8, rate=250.0),
        "users_seeded": 2_000,
        "warmup_s": 5.0,
        "duration_s": 30.0,
        "measurement_out": Path("/tmp/cell/measurement.json"),
        "window_s": 10.0,
    }
    return swarm_environment(**(args | overrides))


def test_what_the_orchestrator_writes_the_locust_side_reads_back() -> None:
    env = _environment(swarm={"workers": 2, "reason": "sized"})
    read = SwarmEnv.from_env(env)

    assert read.workload == "db-read"
    assert read.users_seeded == 2_000
    assert read.arrival_rate == 250.0 and read.open_model
    assert read.swarm_users == 8
    assert read.warmup_s == 5.0
    assert read.duration_s == 35.0  # warm-up and measured window
    assert read.measurement_out == "/tmp/cell/measurement.json"
    assert read.window_s == 10.0
    assert read.swarm == {"workers": 2, "reason": "sized"}
    assert read.to_env() == env


def test_swarm_environment_sets_the_variables_it_always_set() -> None:
    env = _environment(load=LoadLevel(users=64, think_time_ms=100))

    assert set(env) == {
        "LOADLAB_WORKLOAD", "LOADLAB_USERS_SEEDED", "LOADLAB_ARRIVAL_RATE",
        "LOADLAB_SWARM_USERS", "LOADLAB_THINK_MS", "LOADLAB_WARMUP_S", "LOADLAB_DURATION_S",
        "LOADLAB_MEASUREMENT_OUT", "LOADLAB_WINDOW_S",
    }  # fmt: skip
    assert all(isinstance(value, str) for value in env.values())
    assert float(env["LOADLAB_ARRIVAL_RATE"]) == 0, "closed model"
    assert env["LOADLAB_SWARM_USERS"] == "64", "the master's unit template passes it to -u"
    assert float(env["LOADLAB_THINK_MS"]) == 100


def test_unset_and_blank_variables_take_the_defaults() -> None:
    assert SwarmEnv.from_env({}) == SwarmEnv()
    blank = SwarmEnv.from_env({"LOADLAB_WARMUP_S": " ", "LOADLAB_SWARM_USERS": ""})
    assert blank.warmup_s == 0.0 and blank.swarm_users is None
    assert SwarmEnv().workload == "db-read" and SwarmEnv().users_seeded == 1_000_000
    # a None field is not set at all: a user's own LOADLAB_TRACE is not masked by ""
    assert "LOADLAB_TRACE" not in SwarmEnv().to_env()
    assert "LOADLAB_SWARM" not in SwarmEnv().to_env()


def test_counts_may_be_written_as_numbers() -> None:
    assert SwarmEnv.from_env({"LOADLAB_USERS_SEEDED": "1e6"}).users_seeded == 1_000_000
    assert SwarmEnv.from_env({"LOADLAB_USERS_SEEDED": "2000.0"}).users_seeded == 2_000


@pytest.mark.parametrize(
    ("name", "value"),
    [("LOADLAB_ARRIVAL_RATE", "-1"), ("LOADLAB_WARMUP_S", "soon"), ("LOADLAB_USERS_SEEDED", "0")],
)
def test_a_bad_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name):
        SwarmEnv.from_env({name: value})


def test_every_variable_the_locust_side_names_is_in_the_model() -> None:
    named = set()
    for path in (REPO / "loadtests").rglob("*.py"):
        named |= set(re.findall(r"LOADLAB_[A-Z0-9_]+", path.read_text()))
    assert named - set(variables()) == set()
    assert all(name.startswith("LOADLAB_") for name in variables())


def test_nothing_in_loadtests_reads_the_environment_itself() -> None:
    for path in (REPO / "loadtests").rglob("*.py"):
        assert "os.environ" not in path.read_text(), f"{path}: read SwarmEnv.from_env()"


def test_docs_contracts_md_is_generated_from_the_model() -> None:
    text = docs.CONTRACTS_MD.read_text()
    assert docs.rewritten(text) == text, "run python -m labcontract.docs --write"
    for name in variables():
        assert f"`{name}`" in text
    assert docs.main(["--check"]) == 0


def test_the_check_fails_when_the_docs_and_the_model_disagree(tmp_path: Path) -> None:
    text = docs.CONTRACTS_MD.read_text()
    stale = text.replace("`LOADLAB_WINDOW_S`", "`LOADLAB_WINDOW`")
    assert docs.rewritten(stale) != stale
    assert docs.rewritten(stale) == text
    with pytest.raises(ValueError, match="no"):
        docs.rewritten("no generated block here")
