"""ansible-playbook as the lab runs it, for a run's steps and for the cloud's: the extra vars
in a private file, what it prints streamed line by line (to the user or a progress bar) and
to a log, Ctrl-C passed on so its tasks end cleanly, and the recap read back."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT
from loadlab.deployments.processes import tail

PLAYBOOKS = REPO_ROOT / "playbooks"
EXTRA_ARGS_VARIABLE = "LOADLAB_ANSIBLE_ARGS"  # e.g. "--limit ... --ask-vault-pass"


Echo = Callable[[str], None]
RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
FATAL = re.compile(r"^fatal: \[[^\]]+\]: (?:FAILED|UNREACHABLE)! => (\{.*\})\s*$", re.MULTILINE)


@dataclass
class PlaybookResult:
    name: str
    returncode: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def recap_line(self) -> str:
        line = next((line for line in self.output.splitlines() if RECAP.match(line)), "")
        return " ".join(line.split()) or "(no recap)"

    @property
    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap.values())

    def first_failure(self) -> str:
        """The `msg` of the first failed task, else the output's last line."""
        for match in FATAL.finditer(self.output):
            try:
                payload = json.loads(match[1])
            except ValueError:
                continue
            msg = payload.get("msg") or payload.get("module_stderr") or ""
            if msg:
                return " ".join(str(msg).split())[:600]
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1][:600] if lines else "no output"


def tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    if found := shutil.which(name):
        return found
    raise LabError(
        f"{name} not found beside {sys.executable} or on PATH",
        hint="pip install -e '.[dev]' (ansible-core) and run infra/testbed/prepare.sh --collections-only",
    )


def ansible_env() -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }


def stream(
    command: list[str], echo: Echo | None, log: Path | None, *, shielded: bool
) -> tuple[int, str]:
    """Run `command` from playbooks/, echoing each line. `shielded`: in its own session, so a
    Ctrl-C at the terminal does not reach it (the cleanup must finish)."""
    lines: list[str] = []
    handle = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = log.open("a", buffering=1)  # line by line: the log can be followed live
        handle.write(f"$ {' '.join(command)}\n")
    process = subprocess.Popen(
        command,
        cwd=PLAYBOOKS,
        env=ansible_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        bufsize=1,
        start_new_session=shielded,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if handle:
                handle.write(line)
            if echo:
                echo(line.rstrip("\n"))
        returncode = process.wait()
    except BaseException:
        # interrupted (Ctrl-C reached it too, or SIGTERM reached only us): let ansible stop
        # its tasks, then make sure it is gone before anyone cleans up behind it
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise
    finally:
        if handle:
            handle.close()
    return returncode, "".join(lines)


def run_playbook(
    playbook: str,
    extra_vars: dict[str, Any],
    *,
    inventory: Path | None = None,
    echo: Echo | None = None,
    log_dir: Path | None = None,
    shielded: bool = False,
    extra_args: list[str] | None = None,
) -> PlaybookResult:
    with tempfile.TemporaryDirectory(prefix="loadlab-cloud-") as tmp:
        vars_file = Path(tmp) / "vars.json"
        vars_file.write_text(json.dumps(extra_vars))
        command = [tool("ansible-playbook"), playbook, "-e", f"@{vars_file}"]
        if inventory is not None:
            command += ["-i", str(inventory)]
        command += extra_args or []
        started = time.monotonic()
        log = log_dir / f"{Path(playbook).stem}.log" if log_dir else None
        returncode, output = stream(command, echo, log, shielded=shielded)
    recap = {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
        for m in RECAP.finditer(output)
    }
    return PlaybookResult(playbook, returncode, output, time.monotonic() - started, recap)


def ansible_inventory(inventory: str | Path, *args: str, hint: str) -> Any:
    """What `ansible-inventory -i INVENTORY ARGS` prints (JSON), with playbooks/ as the
    playbook folder so its group_vars count; a failure is a LabError with `hint`."""
    done = subprocess.run(
        [tool("ansible-inventory"), "-i", str(inventory), "--playbook-dir", str(PLAYBOOKS), *args],
        cwd=PLAYBOOKS, env=ansible_env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise LabError(
            f"ansible-inventory -i {inventory} {' '.join(args)} failed: "
            f"{done.stderr.strip()[-400:]}",
            hint=hint,
        )
    return json.loads(done.stdout)


class Playbooks:
    """A run's playbooks against one inventory, each one's output in `log_dir/<playbook>.log`
    (appended) so the terminal keeps its progress bar; LOADLAB_ANSIBLE_ARGS adds arguments."""

    def __init__(self, inventory: str, log_dir: Path, extra_args: Sequence[str] = ()) -> None:
        self.inventory = Path(inventory)
        self.log_dir = log_dir
        self.extra_args = [*shlex.split(os.environ.get(EXTRA_ARGS_VARIABLE, "")), *extra_args]

    def run(
        self,
        playbook: str,
        variables: dict[str, Any],
        *,
        what: str,
        tick: Callable[[float], None] | None = None,
    ) -> PlaybookResult:
        """Run `playbook`; a failure is a LabError naming `what`, the failed task and the log.
        `tick(elapsed_s)` is called with each line it prints (a waiting task prints a line a
        retry, so about once a second)."""
        started = time.monotonic()
        result = run_playbook(
            playbook,
            variables,
            inventory=self.inventory,
            echo=(lambda _line: tick(time.monotonic() - started)) if tick else None,
            log_dir=self.log_dir,
            extra_args=self.extra_args,
        )
        if result.returncode != 0:
            log = self.log_dir / f"{Path(playbook).stem}.log"
            raise LabError(
                f"{what}: {playbook} failed (exit {result.returncode}): "
                f"{result.first_failure()}\n{tail(result.output, 25)}",
                hint=f"the whole output is in {log}; `ansible-playbook -i INVENTORY site.yml` "
                f"converges the nodes; {EXTRA_ARGS_VARIABLE} adds arguments to every playbook",
            )
        return result
