"""A/A calibration: one variant measured as two arms under the same randomised-block design.

The second arm is the variant's name with `#b` (`fastapi-async#b`): the runner serves it as
the same registry variant (`loadlab.core.registry.base_variant`), and the matrix plans it as if it
were one more variant, so it takes its own random place in every block. The ratio of the two
arms, computed like every other ratio (paired by block), is the lab's noise floor: how far
from 1x two identical servers can come out on this machine and design. `summary.json` keeps
it as `noise_floor`; verdicts do not call a difference inside it (README, "Statistics").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from loadlab.core.results import Ratio
from loadlab.measurement.stats import noise_factor

ARM_SUFFIX = "#b"
CALIBRATION_MIN_REPEATS = 3  # blocks: fewer give no usable t interval


def arm_of(variant: str) -> str:
    """`fastapi-async` -> `fastapi-async#b`, the second A/A arm."""
    return variant + ARM_SUFFIX


def is_arm(name: str) -> bool:
    """An arm: a registry variant measured once more under another name ("X#label")."""
    return "#" in name


def matrix_variants(variants: Sequence[str], calibrate: str | None) -> list[str]:
    """The variants a matrix plans: `variants`, plus the A/A arm of `calibrate` when that
    variant is among them (it is not when it failed verification)."""
    out = list(dict.fromkeys(variants))
    if calibrate and calibrate in out and arm_of(calibrate) not in out:
        out.append(arm_of(calibrate))
    return out


def knob_source(variant: str, calibrate: str | None) -> str:
    """Whose knobs a cell of `variant` runs with: the A/A arm takes its variant's, so the two
    arms are the same server; any other name (an arm "X#label" with knobs of its own too)
    its own."""
    return calibrate if calibrate and variant == arm_of(calibrate) else variant


def floor_percent(aa: Ratio) -> float:
    """The noise floor an A/A ratio sets, in percent: 100 · (f - 1), f = max(hi, 1/lo)."""
    return 100 * (noise_factor(aa.estimate) - 1)


def describe(aa: Ratio) -> str:
    """One line: `db-read closed-64u: 1.004x (95% CI 0.981-1.027, paired-t-log, 5 blocks):
    noise floor ±2.7%`."""
    e = aa.estimate
    where = f"{aa.workload} {aa.load_label}" + (
        f" rtt {aa.db_rtt_ms:g}ms" if aa.db_rtt_ms is not None else ""
    )
    if e.n < 2:
        return f"{where}: {e.median:.3f}x from {e.n} block(s), no interval: no noise floor"
    return (
        f"{where}: {aa.numerator} / {aa.denominator} {e.median:.3f}x "
        f"(95% CI {e.ci_low:.3f}–{e.ci_high:.3f}, {aa.method}, {aa.blocks} blocks"
        + (f", {aa.unpaired_cells} unpaired cells left out" if aa.unpaired_cells else "")
        + f"): noise floor ±{floor_percent(aa):.1f}%"
    )


class Calibration(BaseModel):
    """What `loadlab calibrate` found: the run and its A/A ratios."""

    model_config = ConfigDict(extra="forbid")

    run_dir: Path
    variant: str
    noise_floor: list[Ratio]
    caveats: list[str] = []

    @property
    def lines(self) -> list[str]:
        if not self.noise_floor:
            return [f"no block measured both arms of {self.variant}: no noise floor"]
        worst = max(self.noise_floor, key=floor_percent)
        return [describe(r) for r in self.noise_floor] + [
            f"noise floor of {self.variant} on this machine: ±{floor_percent(worst):.1f}% "
            f"(the widest, {worst.workload} {worst.load_label}); a ratio whose interval reaches "
            "inside it is not called a difference"
        ]


def calibration_config(
    variant: str,
    preset: str | None = "quick",
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> Any:
    """The run `loadlab calibrate` makes: the preset's workloads and loads, `variant` alone
    as two arms, no capacity search, at least CALIBRATION_MIN_REPEATS blocks."""
    from loadlab.core.config import load_config

    given = dict(overrides or {})
    base = load_config(preset, path, {k: v for k, v in given.items() if k != "repeats"})
    repeats = given.get("repeats") or max(base.repeats, CALIBRATION_MIN_REPEATS)
    return load_config(
        preset,
        path,
        {
            **given,
            "variants": [variant.split("#", 1)[0]],
            "calibrate": variant,
            "repeats": repeats,
            "capacity": {"enabled": False},
        },
    )


def read_calibration(run_dir: Path) -> Calibration:
    from loadlab.core.results import read_manifest, read_summary

    summary = read_summary(run_dir)
    variant = str(read_manifest(run_dir).config.get("calibrate") or "")
    return Calibration(
        run_dir=run_dir, variant=variant, noise_floor=summary.noise_floor, caveats=summary.caveats
    )


def calibrate(config: Any, execute: Callable[[Any], Path]) -> Calibration:
    """Run the A/A matrix of `config` (from `calibration_config`) with `execute` and read
    back its noise floor."""
    return read_calibration(execute(config))
