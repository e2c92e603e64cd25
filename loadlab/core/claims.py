"""The published Flask vs FastAPI figures (`loadlab/data/claims.toml`): what each claims and
which lab comparison measures the same regime. Scenarios name them; reports check them."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadlab.core.paths import PACKAGE_DIR

CLAIMS_PATH = PACKAGE_DIR / "data" / "claims.toml"


def fmt_num(value: float) -> str:
    """A ratio bound as people write it: 5, 6.3, 1.03 (at most two decimals, no trailing 0)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def fmt_range(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return "—"
    if low is None:
        return f"≤ {fmt_num(high)}×"
    if high is None:
        return f"≥ {fmt_num(low)}×"
    return f"{fmt_num(low)}–{fmt_num(high)}×"


class Claim(BaseModel):
    """One published ratio and the lab comparison that measures the same regime."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    url: str = ""
    regime: str
    fastapi: str = ""
    flask: str = ""
    ratio: str = Field(description="the ratio as published, e.g. '~7x'")
    ratio_low: float | None = None
    ratio_high: float | None = None
    workloads: list[str] = Field(min_length=1)
    flask_variant: str
    fastapi_variant: str = "fastapi-async"
    methodology: str = ""
    # where the claim sits on the regime map (`loadlab map`): a preset
    # and a point on its two axes (wait: ms waited x users; rtt: database RTT ms x queries)
    map_preset: Literal["wait", "rtt"] | None = None
    map_x: float | None = Field(default=None, ge=0)
    map_y: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _a_range(self) -> Claim:
        if self.ratio_low is None and self.ratio_high is None:
            raise ValueError(f"claim {self.id}: give ratio_low, ratio_high or both")
        low, high = self.ratio_low, self.ratio_high
        if low is not None and high is not None and low > high:
            raise ValueError(f"claim {self.id}: ratio_low is above ratio_high")
        placed = [v is not None for v in (self.map_preset, self.map_x, self.map_y)]
        if any(placed) and not all(placed):
            raise ValueError(f"claim {self.id}: give map_preset, map_x and map_y together")
        return self

    @property
    def range_text(self) -> str:
        return fmt_range(self.ratio_low, self.ratio_high)


def load_claims(path: Path = CLAIMS_PATH) -> list[Claim]:
    raw = tomllib.loads(Path(path).read_text())
    claims = [Claim.model_validate(c) for c in raw.get("claims", [])]
    ids = [c.id for c in claims]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: claim ids must be unique")
    return claims
