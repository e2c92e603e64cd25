"""ansible-playbook as the lab runs it: one playbook at a time, its output in a log file beside
the run's results, the run's variables in a file, progress while it works, and a clear error
naming the log when it fails."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT
from loadlab.deployments.processes import ManagedProcess

PLAYBOOKS = REPO_ROOT / "playbooks"
EXTRA_ARGS_VARIABLE = "LOADLAB_ANSIBLE_ARGS"  # e.g. "--limit ... --ask-vault-pass"


def ansible_playbook() -> str:
    candidate = Path(sys.executable).parent / "ansible-playbook"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("ansible-playbook")
    if not found:
        raise LabError(
            "ansible-playbook not found",
            hint="pip install 'ansible-core>=2.16,<2.18' and run infra/testbed/prepare.sh",
        )
    return found


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Playbooks:
    """Runs the lab's playbooks against one inventory; each run's output goes to
    `log_dir/<playbook>.log` (appended), so the terminal keeps its progress bar."""

    def __init__(
        self,
        inventory: str,
        log_dir: Path,
        extra_args: Sequence[str] = (),
        tmp_dir: Path | None = None,
    ) -> None:
        self.inventory = inventory
        self.log_dir = log_dir
        self.tmp_dir = tmp_dir or log_dir
        self.extra_args = [*shlex.split(os.environ.get(EXTRA_ARGS_VARIABLE, "")), *extra_args]

    def command(self, playbook: str, vars_file: Path) -> list[str]:
        return [
            ansible_playbook(), "-i", self.inventory, str(PLAYBOOKS / playbook),
            "-e", f"@{vars_file}", *self.extra_args,
        ]  # fmt: skip

    def run(
        self,
        playbook: str,
        variables: dict[str, Any],
        *,
        what: str,
        tick: Callable[[float], None] | None = None,
    ) -> None:
        """Run `playbook` with `variables` as extra vars; raise a LabError naming `what` and
        the log's last lines when it fails. `tick(elapsed_s)` is called while it runs."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        name = Path(playbook).stem
        vars_file = self.tmp_dir / f".{name}-vars.json"
        # the variables hold the database password: readable by this user only
        vars_file.touch(mode=0o600)
        vars_file.write_text(json.dumps(variables, default=str))
        log = self.log_dir / f"{name}.log"
        env = {
            **os.environ,
            "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
        }
        process = ManagedProcess(
            f"ansible-playbook {playbook}",
            self.command(playbook, vars_file),
            log_path=log,
            env=env,
            cwd=PLAYBOOKS,
            stop_signal=signal.SIGINT,  # ansible-playbook ends its tasks on SIGINT
        )
        started = time.monotonic()
        try:
            with process:
                while process.alive():
                    if tick is not None:
                        tick(time.monotonic() - started)
                    time.sleep(0.5)
                code = process.returncode()
        finally:
            vars_file.unlink(missing_ok=True)
        if code != 0:
            raise LabError(
                f"{what}: ansible-playbook {playbook} failed (exit {code}); its output is in "
                f"{log}:\n{_tail(log)}",
                hint="`ansible-playbook -i INVENTORY site.yml` converges the nodes; "
                f"{EXTRA_ARGS_VARIABLE} adds arguments to every playbook run",
            )
