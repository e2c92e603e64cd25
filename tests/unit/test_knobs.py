"""The registry's knobs: declared once, validated by name and range, rendered alike everywhere."""

from __future__ import annotations

import re

import pytest

from loadlab.core.config import load_config
from loadlab.core.errors import LabError
from loadlab.core.profiles import TunedEntry, TunedProfile, knobs_for, over_budget
from loadlab.core.registry import KnobError, get_variant, knob_catalogue, load_registry

PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_every_variant_declares_known_knobs_with_stock_values_in_range() -> None:
    catalogue = knob_catalogue()
    for variant in load_registry().values():
        assert variant.knobs, variant.name
        full = variant.settings(cpus=2)
        for name, value in full.items():
            assert catalogue[name].check(value) == value
        named = {
            n
            for part in [*variant.command, *variant.env.values()]
            for n in PLACEHOLDER.findall(part)
        }
        assert named <= {*variant.knobs, "host", "port"}, variant.name


def test_threads_and_pool_size_are_separate_placeholders() -> None:
    argv = get_variant("flask-sync").render(host="h", port=1, knobs={"threads": 64, "workers": 2})
    assert argv[argv.index("--threads") + 1] == "64"
    env = get_variant("flask-sync").environment(database_url="x", knobs={"pool_size": 7})
    assert env["LOADLAB_POOL_SIZE"] == "7"


def test_stock_workers_are_the_cpus_given_to_the_app() -> None:
    assert get_variant("fastapi-async").stock(cpus=3)["workers"] == 3


@pytest.mark.parametrize(
    ("knobs", "named"),
    [
        ({"threads": 0}, "flask-sync.threads=0 is out of range: threads takes an integer from 1"),
        ({"json": "yaml"}, "json takes one of stdlib, orjson"),
        ({"nope": 1}, "variant flask-sync has no knob 'nope'; its knobs: workers"),
    ],
)
def test_a_bad_knob_is_named_with_its_range(knobs: dict[str, object], named: str) -> None:
    with pytest.raises(KnobError, match=named.replace(".", r"\.").replace("(", r"\(")):
        get_variant("flask-sync").settings(knobs, cpus=2)


def test_config_refuses_unknown_knobs_and_variants() -> None:
    with pytest.raises(LabError, match="asyncpg_reset"):
        load_config("quick", None, {"knobs": {"flask-sync": {"asyncpg_reset": "false"}}})
    with pytest.raises(LabError, match="unknown knob 'turbo'"):
        load_config("quick", None, {"knobs": {"*": {"turbo": 1}}})
    with pytest.raises(LabError, match=r"knobs\.flask-turbo: unknown variant"):
        load_config("quick", None, {"knobs": {"flask-turbo": {"threads": 4}}})


def test_knob_overrides_apply_per_variant_and_to_all(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_config(
        "quick", None, {"knobs": {"*": {"pool_size": 16}, "flask-sync": {"threads": 64}}}
    )
    knobs, profile = knobs_for(config, "flask-sync", "db-read")
    assert knobs == {"pool_size": 16, "threads": 64} and profile == "custom"
    knobs, _ = knobs_for(config, "fastapi-async", "db-read")
    assert knobs == {"pool_size": 16}


def test_tuned_profile_falls_back_from_workload_to_family_to_star(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    profile = TunedProfile(
        variants={
            "flask-sync": {
                "io": TunedEntry(knobs={"threads": 128}),
                "*": TunedEntry(knobs={"threads": 32}),
            }
        }
    )
    monkeypatch.setattr("loadlab.core.profiles.load_tuned", lambda: profile)
    config = load_config("quick", None, {"profile": "tuned"})
    assert knobs_for(config, "flask-sync", "io-20") == ({"threads": 128}, "tuned")
    assert knobs_for(config, "flask-sync", "db-read") == ({"threads": 32}, "tuned")
    assert knobs_for(config, "fastapi-async", "db") == ({}, "stock (no tuned entry)")


def test_the_connection_budget_counts_workers_times_pool() -> None:
    assert over_budget("flask-gevent", {"workers": 4, "pool_size": 32}, 2, 64)
    assert over_budget("flask-gevent", {"workers": 2, "pool_size": 32}, 2, 64) is None
