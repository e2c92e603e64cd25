"""Checksums of each finished cell's data files, recorded in `manifest.json` and checked
before a results folder is summarised or reported on.

Only the data a summary or report is built from is covered (`.json`, `.csv`, `.hdr`): logs
are for people, and a report's copy of a run leaves them out, so that copy still verifies.
A manifest without checksums predates this check: it is accepted with a caveat. A cell
missing from a manifest that has them never finished (the run was interrupted in it), and
analysis leaves it out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from loadlab.core.errors import LabError
from loadlab.core.results import Manifest

DATA_SUFFIXES = frozenset({".json", ".csv", ".hdr"})
LEGACY_CAVEAT = (
    "this run's manifest records no checksums (written before loadlab recorded them): "
    "its cell files could not be verified"
)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cell_checksums(cell_dir: Path) -> dict[str, str]:
    """sha256 of every data file of a finished cell; dot files are temporaries, not data."""
    return {
        path.name: sha256(path)
        for path in sorted(cell_dir.iterdir())
        if path.is_file() and path.suffix in DATA_SUFFIXES and not path.name.startswith(".")
    }


def mismatches(run_dir: Path, manifest: Manifest) -> list[str]:
    """Each recorded file that is missing or whose content changed, as `cells/<id>/<file>`."""
    found = []
    for cell_id, files in sorted((manifest.checksums or {}).items()):
        for name, expected in sorted(files.items()):
            path = run_dir / "cells" / cell_id / name
            if not path.is_file():
                found.append(f"cells/{cell_id}/{name} (missing)")
            elif sha256(path) != expected:
                found.append(f"cells/{cell_id}/{name}")
    return found


def check(run_dir: Path, manifest: Manifest) -> str | None:
    """Raise when a recorded file changed; return a caveat when there is nothing to check."""
    if manifest.checksums is None:
        return LEGACY_CAVEAT
    bad = mismatches(run_dir, manifest)
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise LabError(
            f"run {run_dir.name}: {bad[0]}{more} does not match its sha256 in manifest.json",
            hint="the files changed after the run wrote them (a disk error, an edit, an "
            "incomplete copy): restore the folder from its original, or re-run the matrix "
            f"with `loadlab run --config {run_dir / 'config.json'}`",
        )
    return None
