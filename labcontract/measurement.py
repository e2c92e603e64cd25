"""`measurement.json`: what the Locust master measured in one cell, written when the test
stops (loadtests/hdr.py) and read by the orchestrator's analysis, soak and report.

Every field has a default, as the readers always had: a master that died early leaves a
partial file, and a cell a fault cut short is still judged on what it managed to measure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from labcontract.versions import MEASUREMENT_VERSION, schema_version

FILENAME = "measurement.json"


class MeasuredWindow(BaseModel):
    """One window of LOADLAB_WINDOW_S seconds of the measured time (soak runs)."""

    model_config = ConfigDict(extra="ignore")

    index: int
    start_s: float
    hdr: str = Field(default="", description="base64 HDR histogram, empty without a success")
    requests: int = 0
    errors: int = 0


class Measurement(BaseModel):
    # extra="ignore": a newer master may add a field that an older reader need not know
    model_config = ConfigDict(extra="ignore")

    schema_version: int = MEASUREMENT_VERSION
    workload: str = ""
    arrival_rate: float = 0.0
    users: int | None = Field(default=None, description="the master's -u")
    start_wall: float | None = None
    measure_from_wall: float | None = Field(default=None, description="warm-up's end")
    stop_wall: float | None = Field(default=None, description="when the stop was decided")
    measured_s: float = 0.0
    requests: int = 0
    errors: int = 0
    by_name: dict[str, list[int]] = Field(
        default_factory=dict, description="request name -> [requests, errors]"
    )
    failures: dict[str, int] = Field(default_factory=dict, description="error -> count")
    workers_reported: int = 0
    workers_final: int = 0
    workers_expected: int = 0
    swarm: dict[str, Any] | None = Field(
        default=None, description="how the orchestrator sized the workers (LOADLAB_SWARM)"
    )
    backlog: int = Field(default=0, description="open model: sends still due at the stop")
    latency_unit: Literal["us"] = "us"
    hdr: str = Field(default="", description="merged base64 HDR histogram of the successes")
    window_s: float = 0.0
    windows: list[MeasuredWindow] = Field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=1)

    @classmethod
    def from_json(cls, text: str, file: str | Path = FILENAME) -> Measurement:
        """Parse and check the version; `file` names the file in the error."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError(f"{file}: not a JSON object")
        schema_version(raw, file, MEASUREMENT_VERSION)
        return cls.model_validate(raw)

    @classmethod
    def read(cls, path: Path) -> Measurement:
        return cls.from_json(path.read_text(), path)
