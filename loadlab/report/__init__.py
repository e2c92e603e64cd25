"""The report builder: `reports/<name>/` from one or more `results/<run-id>/` folders.

The CLI calls three functions:

- `build_report(run_dirs, out_root, name)` writes a report and returns its folder;
- `write_index(out_root)` refreshes `reports/index.html`;
- `reproduce(report_dir)` re-runs a report's matrix and reports the re-run beside it.
"""

from loadlab.report.build import build_report, write_index
from loadlab.report.reproduce import reproduce

__all__ = ["build_report", "reproduce", "write_index"]
