"""Verdicts: why a cell is invalid or carries a caveat, as a code readers decide by.

`judge` (loadlab.measurement.validity), the fault watch and the capacity search record a
`Finding`: a `Verdict` code, the message a person reads, and the figures behind it. Readers
(analysis, the regime map) test the code, never the words, so a message can be reworded
without silently changing what gets flagged. `Flag` is a finding carried into a ratio or a
capacity search, with the cell (or variant) it came from kept beside it.

Results written before codes existed hold plain strings; `_from_legacy_text` is the one place
that reads them, and nothing that writes results uses it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

SATURATED_AT_MOST = "even with the most Locust workers auto sizing runs"


class Verdict(StrEnum):
    # invalid: the cell's figures do not measure the system under test
    NO_REQUESTS = "no-requests"
    ERROR_RATE = "error-rate"
    RATE_NOT_HELD = "rate-not-held"
    LOADGEN_SATURATED = "loadgen-saturated"
    LOADGEN_SATURATED_AT_MOST = "loadgen-saturated-at-most"
    # faults seen while the cell ran (loadlab.measurement.faults): invalid, and the root cause
    APP_DIED = "app-died"
    WORKER_LOST = "worker-lost"
    DATABASE_RESTARTED = "database-restarted"
    # caveats: the cell stays valid
    BACKLOG = "backlog"
    MACHINE_SATURATED = "machine-saturated"
    FINAL_REPORTS_MISSING = "final-reports-missing"
    # a capacity step that missed the SLO
    P99_OVER_SLO = "p99-over-slo"
    # legacy text that matches no known prefix: shown as written, never decided on
    UNRECOGNISED = "unrecognised"

    @property
    def template(self) -> str:
        return _TEMPLATES[self]

    @property
    def loadgen_saturated(self) -> bool:
        return self in LOADGEN_SATURATION


LOADGEN_SATURATION = frozenset({Verdict.LOADGEN_SATURATED, Verdict.LOADGEN_SATURATED_AT_MOST})

_LOADGEN = (
    "load generator saturated: a {component} process averaged {cpu_percent:.0f}% of a core "
    "(limit {limit_percent:.0f}%)"
)
_TEMPLATES: dict[Verdict, str] = {
    Verdict.NO_REQUESTS: "no request completed in the measured window",
    Verdict.ERROR_RATE: (
        "error rate {error_rate:.1%} exceeds {limit:.0%} ({errors} of {requests} requests failed)"
    ),
    Verdict.RATE_NOT_HELD: (
        "target rate not held: {achieved_rps:.0f} of {target_rate:.0f} req/s ({held:.0%})"
    ),
    Verdict.LOADGEN_SATURATED: _LOADGEN,
    Verdict.LOADGEN_SATURATED_AT_MOST: (
        _LOADGEN + ", " + SATURATED_AT_MOST + ": {workers}, one per core"
    ),
    Verdict.APP_DIED: "app process died: {detail}",
    Verdict.WORKER_LOST: "load generator worker lost: {detail}",
    Verdict.DATABASE_RESTARTED: "database restarted: {detail}",
    Verdict.BACKLOG: (
        "{backlog} scheduled requests were never sent: their users were still waiting for "
        "earlier answers when the cell ended (their latency is not in the percentiles)"
    ),
    Verdict.MACHINE_SATURATED: (
        "machine CPU saturated: {core_percent:.0f}% of {cpu_count} cores on average; the app, "
        "database and load generator competed"
    ),
    Verdict.FINAL_REPORTS_MISSING: (
        "only {workers_final} of {workers_expected} Locust workers sent a final report; the "
        "last seconds of the others are missing"
    ),
    Verdict.P99_OVER_SLO: "p99 {p99_ms:.0f} ms over the {slo_p99_ms:g} ms SLO",
    Verdict.UNRECOGNISED: "{text}",
}

Detail = str | int | float | bool


class Finding(BaseModel):
    """One verdict on a cell: `code` is what readers decide by, `message` what they print."""

    model_config = ConfigDict(extra="forbid")

    code: Verdict
    message: str
    details: dict[str, Detail] = Field(
        default_factory=dict, description="the figures the message was written from"
    )

    @classmethod
    def of(cls, code: Verdict, **details: Detail) -> Finding:
        return cls(code=code, message=code.template.format(**details), details=details)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        return _from_legacy_text(data) if isinstance(data, str) else data

    def __str__(self) -> str:
        return self.message


class Flag(Finding):
    """A finding carried into a ratio (from one of its cells) or a capacity ratio (from one
    variant's search); `text` is how it reads beside the others, "source: message"."""

    source: str = Field(description="the cell id, or the variant of a capacity search")

    @classmethod
    def from_finding(cls, source: str, finding: Finding) -> Flag:
        return cls(source=source, **finding.model_dump())

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        source, _, text = data.partition(": ")
        return {"source": source, **_from_legacy_text(text)}

    @property
    def text(self) -> str:
        return f"{self.source}: {self.message}"

    def __str__(self) -> str:
        return self.text


# --------------------------------------------------------------- legacy reader only
#
# The fixed openings of every message loadlab wrote before verdicts had codes. Used only to
# read old results (the published reports' summary.json files); new results carry the code.
_LEGACY_PREFIXES: tuple[tuple[str, Verdict], ...] = (
    ("no request completed", Verdict.NO_REQUESTS),
    ("error rate ", Verdict.ERROR_RATE),
    ("target rate not held", Verdict.RATE_NOT_HELD),
    ("load generator saturated", Verdict.LOADGEN_SATURATED),
    ("app process died", Verdict.APP_DIED),
    ("load generator worker lost", Verdict.WORKER_LOST),
    ("database restarted", Verdict.DATABASE_RESTARTED),
    ("machine CPU saturated", Verdict.MACHINE_SATURATED),
    ("p99 ", Verdict.P99_OVER_SLO),
)
_LEGACY_BACKLOG = "scheduled requests were never sent"
_LEGACY_FINAL_REPORTS = "Locust workers sent a final report"
_LEGACY_CAPACITY_STEP = "step at "


def _from_legacy_text(text: str) -> dict[str, Any]:
    """An old plain-string reason as a finding's fields: the message kept word for word, the
    code from its opening words (UNRECOGNISED when none match)."""
    return {"code": _legacy_code(text), "message": text}


def _legacy_code(text: str) -> Verdict:
    if text.startswith(_LEGACY_CAPACITY_STEP):
        # a capacity search's "step at 800 req/s: <the step's reason>"
        return _legacy_code(text.partition(": ")[2])
    for prefix, code in _LEGACY_PREFIXES:
        if text.startswith(prefix):
            if code is Verdict.LOADGEN_SATURATED and SATURATED_AT_MOST in text:
                return Verdict.LOADGEN_SATURATED_AT_MOST
            return code
    # these two opened with a figure ("3702 scheduled ...", "only 1 of 2 ...")
    if _LEGACY_BACKLOG in text:
        return Verdict.BACKLOG
    if text.startswith("only ") and _LEGACY_FINAL_REPORTS in text:
        return Verdict.FINAL_REPORTS_MISSING
    return Verdict.UNRECOGNISED
