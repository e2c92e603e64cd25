"""Audit requirements.lock with pip-audit and print one verdict CI can read.

    .venv/bin/python infra/audit.py            # what `make audit` (and so `make test`) runs

The decision, written down (README "Dependencies"):
- a known vulnerability that has a fixed release fails: the fix is to regenerate the lock
  (`make lock`) with the fixed version, which is always in our hands;
- a known vulnerability without a fix is printed, and does not fail: nothing can be bumped;
- when the vulnerability service cannot be asked (no network, a mirror without PyPI's JSON
  API, a time-out), the audit says so plainly, `NOT AUDITED`, and does not fail, because
  CI cannot be made green by any change to this repository then. LOADLAB_AUDIT_STRICT=1
  turns that case into a failure too (for a release check on a connected machine).

pip-audit runs with --disable-pip against the hashed lock (nothing is installed or resolved),
under a hard time limit, so a silent network never hangs CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOCK = REPO / "requirements.lock"
TIME_LIMIT_S = 300
REQUEST_TIMEOUT_S = 20


def _pip_audit() -> Path:
    candidate = Path(sys.executable).parent / "pip-audit"
    return candidate if candidate.exists() else Path("pip-audit")


def run_audit() -> tuple[dict[str, object] | None, str]:
    argv = [
        str(_pip_audit()),
        "--requirement",
        str(LOCK),
        "--require-hashes",
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--timeout",
        str(REQUEST_TIMEOUT_S),
        "--format",
        "json",
    ]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=TIME_LIMIT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return None, f"pip-audit did not finish within {TIME_LIMIT_S}s"
    except FileNotFoundError:
        return (
            -1,
            None,
            "pip-audit is not installed (it is in the dev extra: pip install -e '.[dev]')",
        )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return None, lines[-1] if lines else f"exit {done.returncode}"
    return report, ""


def verdict(report: dict[str, object]) -> tuple[bool, bool, list[str]]:
    """(audited, has_fixable, lines to print)."""
    deps = [d for d in report.get("dependencies", []) if isinstance(d, dict)]  # type: ignore[union-attr]
    skipped = [d for d in deps if d.get("skip_reason")]
    vulnerable = [d for d in deps if d.get("vulns")]
    lines: list[str] = []
    fixable = False
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            fixable = fixable or bool(vuln.get("fix_versions"))
            lines.append(f"  {dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
    audited = bool(deps) and len(skipped) < len(deps)
    if skipped:
        reason = str(skipped[0].get("skip_reason", ""))
        lines.append(f"  {len(skipped)} of {len(deps)} packages could not be looked up ({reason})")
    return audited, fixable, lines


def main() -> int:
    strict = os.environ.get("LOADLAB_AUDIT_STRICT") == "1"
    if not LOCK.exists():
        print(f"pip-audit: FAILED: {LOCK.name} is missing; `make lock` writes it")
        return 1
    report, problem = run_audit()
    if report is None:
        print(f"pip-audit: NOT AUDITED: the vulnerability service could not be asked: {problem}")
        return 1 if strict else 0
    audited, fixable, lines = verdict(report)
    vulns = sum(len(d.get("vulns", [])) for d in report.get("dependencies", []))  # type: ignore[union-attr]
    if not audited:
        head = (
            "pip-audit: NOT AUDITED: the vulnerability service answered for none of the "
            f"packages in {LOCK.name} (no network to PyPI's JSON API, or a mirror without it)"
        )
        print("\n".join([head, *lines]))
        return 1 if strict else 0
    if vulns:
        kind = "FAILED" if fixable else "WARNING"
        print(f"pip-audit: {kind}: {vulns} known vulnerabilities in {LOCK.name}")
        print("\n".join(lines))
        if fixable:
            print("  fix: raise the versions (pyproject.toml if needed), then `make lock`")
        return 1 if fixable else 0
    print(f"pip-audit: OK: no known vulnerabilities in {LOCK.name}")
    if lines:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
