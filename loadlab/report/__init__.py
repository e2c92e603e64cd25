"""The report builder: `reports/<name>/` from one or more `results/<run-id>/` folders. It reads
results and nothing else (re-running a report's matrix is `loadlab.orchestration.reproduce`).

- `build_report(run_dirs, out_root, name)` writes a report and returns its folder;
- `write_index(out_root)` refreshes the folder's `index.html`.
"""

from loadlab.report.build import build_report, write_index

__all__ = ["build_report", "write_index"]
