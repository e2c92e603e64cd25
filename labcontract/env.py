"""The LOADLAB_* variables the orchestrator hands the Locust master and every worker.

One model, `SwarmEnv`: the orchestrator builds it and renders it with `to_env()` (argv
environment locally, service environment in compose, a systemd environment file on
Ansible nodes); each Locust process reads it back with `from_env()`. docs/contracts.md's
list of these variables is generated from the fields (`python -m labcontract.docs --write`).

Only what the Locust side reads belongs here. Variables that configure the lab itself
(LOADLAB_RESULTS, LOADLAB_ANSIBLE_ARGS, LOADLAB_PG_BINDIR, ...), the services
(LOADLAB_POOL_SIZE, ...), or the compose file and unit templates (LOADLAB_TARGET_URL,
LOADLAB_LOCUST_WORKERS, LOADLAB_SPAWN_RATE, ...) are not read by any locustfile.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from labcontract.dataset import USERS_AT_SCALE_1

PREFIX = "LOADLAB_"
_COUNTS = {"users_seeded", "swarm_users"}


class SwarmEnv(BaseModel):
    """Field `x` is variable LOADLAB_X (its alias). A field left None is not set at all, so
    an unset optional variable stays unset (and a user's own, e.g. LOADLAB_TRACE, shows)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    workload: str = Field(
        default="db-read",
        alias="LOADLAB_WORKLOAD",
        description="`json`, `db-read`, … (a module in `loadtests/workloads/`), or a family "
        "with its one numeric parameter in the name: `queries-N`, `updates-N` (N rows), "
        "`io-N`, `pg-sleep-N` (N ms), `trace-replay-N` (N = speed factor, may be a fraction). "
        "The parameter travels in the name so that each value is its own row in the results "
        "and every Locust process reads the same thing; a module offers a family by defining "
        "`build(value)` and `PARAMETER` (`loadlab workloads` lists them).",
    )
    trace: str | None = Field(
        default=None,
        alias="LOADLAB_TRACE",
        description="optional, `trace-replay*` only: the request log to replay (CSV or JSONL "
        "with `timestamp,method,path,query`, gunicorn's default or nginx's `combined` access "
        "log); default `loadtests/data/shop-trace.csv`. Worker i of k (Locust's worker index, "
        "k = the master's `--expect-workers`) replays every k-th request from the i-th.",
    )
    users_seeded: int = Field(
        default=USERS_AT_SCALE_1,
        ge=1,
        alias="LOADLAB_USERS_SEEDED",
        description="N above (ids to draw from)",
    )
    arrival_rate: float = Field(
        default=0.0,
        ge=0,
        alias="LOADLAB_ARRIVAL_RATE",
        description="total requests/s for the open model; `0` = closed model",
    )
    swarm_users: int | None = Field(
        default=None,
        ge=1,
        alias="LOADLAB_SWARM_USERS",
        description="the swarm's users (the master's `-u`), so each user of the open model "
        "sends its share of the arrival rate; unset: the master's `-u`",
    )
    think_ms: float = Field(
        default=0.0, ge=0, alias="LOADLAB_THINK_MS", description="closed-model think time"
    )
    warmup_s: float = Field(
        default=0.0,
        ge=0,
        alias="LOADLAB_WARMUP_S",
        description="seconds from test start excluded from measurement",
    )
    duration_s: float = Field(
        default=0.0,
        ge=0,
        alias="LOADLAB_DURATION_S",
        description="warm-up plus measured window: the master stops the swarm itself after "
        "this many seconds, so every worker's final histogram arrives; `0` = Locust's `-t`",
    )
    measurement_out: str = Field(
        default="",
        alias="LOADLAB_MEASUREMENT_OUT",
        description="where the master writes `measurement.json` at the end (merged HDR "
        "histogram, counts, errors, measured window), atomically (temp file + rename)",
    )
    window_s: float = Field(
        default=0.0,
        ge=0,
        alias="LOADLAB_WINDOW_S",
        description="optional; > 0 adds `windows` to `measurement.json`: one HDR histogram "
        "with counts per window of that many seconds of the measured time (soak runs)",
    )
    swarm: dict[str, Any] | None = Field(
        default=None,
        alias="LOADLAB_SWARM",
        description="optional, JSON: how the orchestrator sized the workers; the master "
        "copies it into `measurement.json` (`swarm`)",
    )

    @property
    def open_model(self) -> bool:
        return self.arrival_rate > 0

    def to_env(self) -> dict[str, str]:
        """The variables, as strings; a None field is left out."""
        env: dict[str, str] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None:
                continue
            assert field.alias is not None
            env[field.alias] = (
                json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
            )
        return env

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SwarmEnv:
        """The model from `environ` (default os.environ): a blank variable is an unset one."""
        environ = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            assert field.alias is not None
            value = environ.get(field.alias, "").strip()
            if not value:
                continue
            if name == "swarm":
                raw[field.alias] = json.loads(value)
            elif name in _COUNTS:
                # "1e6" and "1000000.0" were always accepted as counts
                raw[field.alias] = int(float(value))
            else:
                raw[field.alias] = value
        return cls.model_validate(raw)


def _default(value: object) -> str:
    if value is None or value == "":
        return ""  # unset means "not used", which the description says
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f" (default `{shown}`)"


def variables() -> dict[str, str]:
    """Every variable of the contract and its description (with its default, when it has
    one worth saying), in the model's order."""
    described = {}
    for field in SwarmEnv.model_fields.values():
        described[str(field.alias)] = str(field.description or "") + _default(field.default)
    return described
