"""Scenario files: every shipped one validates and says which claims it tests; a bad one is
refused with an error naming the key; sizes shrink a scenario, flags override both."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loadlab.core.errors import LabError
from loadlab.core.results import LoadLevel
from loadlab.core.scenario import (
    SCENARIOS_DIR,
    claims_plan,
    load_scenario,
    load_scenarios,
    parse_scenario,
    pick_levels,
    scenario_config,
    scenario_names,
)
from loadlab.report.claims import load_claims

REQUIRED = {
    "synthetic-io",
    "manjusaka-2024",
    "techempower",
    "shop-realistic",
    "pg-sleep",
    "trace-replay",
}

GOOD = """
name = "mine"
version = 2
description = "one line"
claims = ["bilouro-pg-sleep"]

[run]
variants = ["flask-sync", "fastapi-async"]
workloads = ["pg-sleep"]
loads = [{ model = "closed", users = 16 }, { model = "closed", users = 64 }]
"""


def _bad(text: str) -> str:
    with pytest.raises(LabError) as error:
        parse_scenario(text, "scenario file mine.toml")
    return str(error.value)


def test_every_shipped_scenario_validates() -> None:
    assert set(scenario_names()) >= REQUIRED
    claim_ids = {c.id for c in load_claims()}
    for scenario in load_scenarios():
        assert scenario.version >= 1 and scenario.description
        assert set(scenario.claims) <= claim_ids
        assert scenario.claimed_workloads(), scenario.name


def test_the_scenarios_run_what_their_regime_needs() -> None:
    techempower = load_scenario("techempower").run
    assert {"json", "db", "fortunes", "updates-20"} <= set(techempower.workloads)
    assert {f"queries-{n}" for n in (1, 5, 10, 15, 20)} <= set(techempower.workloads)
    assert [lv.users for lv in techempower.loads] == [16, 32, 64, 128, 256, 512]
    manjusaka = load_scenario("manjusaka-2024").run
    assert manjusaka.scale == 1.0 and manjusaka.workloads == ["lookup"]
    assert set(manjusaka.variants) == {"flask-gevent", "fastapi-async"}
    assert all(lv.model == "closed" and lv.think_time_ms == 0 for lv in manjusaka.loads)
    shop = load_scenario("shop-realistic").run
    assert {lv.model for lv in shop.loads} == {"closed", "open"}
    assert all(lv.think_time_ms > 0 for lv in shop.loads if lv.model == "closed")
    # the "7x" against Flask out of the box, with more threads, and on gevent (best against best)
    assert set(load_scenario("synthetic-io").run.variants) == {
        "flask-sync", "flask-sync#t64", "flask-sync#t256", "flask-gevent", "fastapi-async"
    }  # fmt: skip


def test_a_good_file_parses() -> None:
    scenario = parse_scenario(GOOD, "mine.toml")
    assert scenario.label == "mine@2"
    assert scenario.run.workloads == ["pg-sleep"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("version = 2", "version = 2\ncolour = 'red'"), "colour: unknown key"),
        (("workloads =", "repeat = 3\nworkloads ="), "run.repeat: unknown key"),
        (("version = 2", "version = 0"), "version: Input should be greater than or equal to 1"),
        (("[run]", "[run]\nrepeats = 0"), "run.repeats: Input should be greater than or equal"),
        (("[run]", "[run]\nduration_s = -1"), "run.duration_s: Input should be greater than 0"),
        (("users = 16 }", "users = 0 }"), "run.loads.0.users"),
        (('"bilouro-pg-sleep"', '"made-up"'), "unknown claim(s) made-up"),
        (('"pg-sleep"]', '"queries-0"]'), "queries-N: N must be an integer from 1 to 500"),
        (('"pg-sleep"]', '"json"]'), "claim bilouro-pg-sleep is measured on pg-sleep"),
        (('["flask-sync", ', '["flask-gevent", '), "run.variants lacks flask-sync"),
        (('"one line"', '"two\\nlines"'), "description must be one line"),
        (('claims = ["bilouro-pg-sleep"]', "claims = []"), "claims: List should have at least 1"),
    ],
)
def test_a_bad_file_is_refused_with_the_key_named(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    message = _bad(GOOD.replace(old, new, 1))
    assert message.startswith("scenario file mine.toml is not a valid scenario:")
    assert expected in message


def test_broken_toml_and_a_renamed_file_are_errors(tmp_path: Path) -> None:
    assert "is not valid TOML" in _bad("name = ")
    (tmp_path / "other.toml").write_text(GOOD)
    with pytest.raises(LabError, match="differs from the file name"):
        load_scenario("other", tmp_path)


def test_an_unknown_scenario_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(LabError) as error:
        load_scenario("nope")
    first_line = str(error.value).splitlines()[0]  # a `fix:` line may follow
    assert "unknown scenario 'nope'" in first_line
    assert all(name in first_line for name in REQUIRED)


def test_tiny_keeps_the_claimed_workloads_at_one_small_level() -> None:
    config = scenario_config("techempower", "tiny")
    assert config.workloads == ["json", "db"]
    assert [lv.label for lv in config.loads] == ["closed-8u"]
    assert (config.scale, config.duration_s, config.warmup_s) == (0.002, 1.5, 0.5)
    assert config.repeats == 1 and not config.verify
    assert config.scenario == "techempower@1"
    shop = scenario_config("shop-realistic", "tiny")
    assert shop.loads[0].think_time_ms == 500


def test_full_is_the_scenario_as_written() -> None:
    config = scenario_config("synthetic-io", "full")
    written = load_scenario("synthetic-io").run
    assert config.loads == written.loads and config.workloads == written.workloads
    assert config.repeats == written.repeats


def test_flags_override_scenario_and_size() -> None:
    config = scenario_config(
        "pg-sleep",
        "tiny",
        {"duration_s": 1.5, "loads": [{"model": "closed", "users": 3}], "repeats": None},
    )
    assert config.duration_s == 1.5 and config.loads[0].users == 3
    assert config.repeats == 1  # None means "not given on the command line"
    assert config.pool_size == 4  # from the scenario file


def test_an_impossible_override_names_the_scenario() -> None:
    with pytest.raises(LabError, match=r"(?s)scenario pg-sleep at size tiny.*repeats"):
        scenario_config("pg-sleep", "tiny", {"repeats": 0})
    with pytest.raises(LabError, match="unknown size 'huge'"):
        scenario_config("pg-sleep", "huge")


def test_pick_levels_keeps_the_lightest_and_the_heaviest() -> None:
    levels = [LoadLevel(users=u) for u in (16, 32, 64, 128, 256, 512)]
    assert [lv.users for lv in pick_levels(levels, 1)] == [16]
    assert [lv.users for lv in pick_levels(levels, 2)] == [16, 512]
    assert [lv.users for lv in pick_levels(levels, 3)] == [16, 64, 512]
    assert pick_levels(levels, None) == levels and pick_levels(levels, 9) == levels


def test_claims_plan_runs_each_scenario_once(tmp_path: Path) -> None:
    for name in ("pg-sleep", "synthetic-io"):
        shutil.copy(SCENARIOS_DIR / f"{name}.toml", tmp_path)
    plan = claims_plan("tiny", directory=tmp_path)
    assert [s.name for s, _ in plan] == ["pg-sleep", "synthetic-io"]
    assert all(cfg.scale == 0.002 for _, cfg in plan)
