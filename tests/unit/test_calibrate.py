"""A/A calibration: one variant as two arms (X and X#b), and the settings around it."""

from __future__ import annotations

import pytest

from loadlab.core.config import load_config
from loadlab.core.errors import LabError
from loadlab.core.registry import base_variant
from loadlab.core.results import Estimate, Ratio
from loadlab.measurement.calibrate import (
    Calibration,
    arm_of,
    calibration_config,
    describe,
    is_arm,
    matrix_variants,
)


def test_an_arm_is_served_as_its_registry_variant() -> None:
    assert base_variant("fastapi-async#b") == "fastapi-async"
    assert base_variant("flask-sync") == "flask-sync"
    assert arm_of("fastapi-async") == "fastapi-async#b" and is_arm("fastapi-async#b")


@pytest.mark.parametrize("given", ["fastapi-async", "fastapi-async#b"])
def test_calibrate_takes_a_known_variant_or_its_arm(given: str) -> None:
    config = load_config("quick", overrides={"calibrate": given, "variants": ["flask-sync"]})
    assert config.calibrate == "fastapi-async"
    assert config.variants == ["flask-sync", "fastapi-async"]  # the A arm is the variant


@pytest.mark.parametrize("given", ["nope#b", "nope", "fastapi-async#c"])
def test_calibrate_refuses_an_unknown_variant_or_arm(given: str) -> None:
    with pytest.raises(LabError, match="calibrate"):
        load_config("quick", overrides={"calibrate": given})


def test_an_arm_of_an_unknown_variant_is_refused() -> None:
    with pytest.raises(LabError, match="unknown variant"):
        load_config("quick", overrides={"variants": ["nope#b"]})


def test_the_matrix_plans_the_arm_only_for_a_variant_it_runs() -> None:
    assert matrix_variants(["flask-sync", "fastapi-async"], "fastapi-async") == [
        "flask-sync",
        "fastapi-async",
        "fastapi-async#b",
    ]
    # a variant that failed verification takes its arm with it
    assert matrix_variants(["flask-sync"], "fastapi-async") == ["flask-sync"]
    assert matrix_variants(["flask-sync"], None) == ["flask-sync"]


def test_the_standard_preset_measures_a_noise_floor() -> None:
    assert load_config("standard").calibrate == "fastapi-async"


def test_calibration_runs_the_variant_alone_in_at_least_three_blocks() -> None:
    config = calibration_config("fastapi-sync", "standard")
    assert config.variants == ["fastapi-sync"] and config.calibrate == "fastapi-sync"
    assert config.repeats >= 3 and not config.capacity.enabled
    assert calibration_config("fastapi-async", "quick", overrides={"repeats": 6}).repeats == 6
    with pytest.raises(LabError, match="calibrate"):
        calibration_config("nope")


def test_precision_settings_are_checked() -> None:
    with pytest.raises(LabError, match="give precision too"):
        load_config("quick", overrides={"budget_s": 600})
    # every backend goes through the runner, which adds the blocks
    assert load_config(
        "quick", overrides={"precision": 0.03, "backend": "ansible", "inventory": "hosts.yml"}
    ).precision
    with pytest.raises(LabError, match="precision"):
        load_config("quick", overrides={"precision": 3})
    config = load_config("quick", overrides={"precision": 0.03, "budget_s": 900})
    assert (config.precision, config.budget_s, config.interval) == (0.03, 900, "paired-t-log")


def aa(low: float, high: float, n: int = 4) -> Ratio:
    return Ratio(
        workload="db-read",
        load_label="closed-64u",
        numerator="fastapi-async#b",
        denominator="fastapi-async",
        estimate=Estimate(median=(low * high) ** 0.5, ci_low=low, ci_high=high, n=n),
        method="paired-t-log",
        blocks=n,
    )


def test_the_noise_floor_is_said_in_percent() -> None:
    line = describe(aa(0.98, 1.03))
    assert "noise floor ±3.0%" in line and "paired-t-log, 4 blocks" in line
    found = Calibration(run_dir="r", variant="fastapi-async", noise_floor=[aa(0.95, 1.01)])
    assert "±5.3%" in found.lines[-1]
    assert "no noise floor" in Calibration(run_dir="r", variant="x", noise_floor=[]).lines[0]
