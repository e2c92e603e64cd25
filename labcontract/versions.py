"""The schema version of each results file, and the check every reader makes.

A file written before versions existed carries none and is version 1 (every published
report). A reader refuses a version it does not know, naming the file and both versions,
rather than half-read a format it was not written for. The history is in docs/contracts.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

MANIFEST_VERSION = 1
SUMMARY_VERSION = 2  # 2: validity reasons and warnings are findings (codes), not prose
MEASUREMENT_VERSION = 1

UNVERSIONED = 1  # what a file without `schema_version` is


class SchemaVersionError(ValueError):
    """A results file of a schema version this code does not read."""


def schema_version(raw: Mapping[str, Any], file: str | Path, current: int) -> int:
    """The version of `raw` (a results file's parsed JSON), checked against `current`, the
    newest this code reads (it reads every one from 1 up)."""
    found = raw.get("schema_version", UNVERSIONED)
    if isinstance(found, bool) or not isinstance(found, int) or not 1 <= found <= current:
        known = "1" if current == 1 else f"1 to {current}"
        raise SchemaVersionError(
            f"{file}: schema_version {found!r}, but this loadlab reads version {known} "
            "(a newer loadlab wrote it: read it with that one)"
        )
    return found
