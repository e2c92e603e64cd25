"""The Ansible side as a user meets it: the pinned collections installed by
infra/testbed/prepare.sh, and a test bed of booted Debian hosts from infra/testbed/testbed.sh.

When the test bed cannot boot (not root, no systemd-nspawn, no network for debootstrap), the
tests that need it fail with the reason; they are never skipped. The test bed is torn down
in a finalizer, also when a test fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
TESTBED_SH = REPO / "infra" / "testbed" / "testbed.sh"
PREPARE_SH = REPO / "infra" / "testbed" / "prepare.sh"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
RECAP = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)
# What the nodes get: the parts of the repository the common role deploys (its own list).
SOURCE_ITEMS = tuple(
    yaml.safe_load((PLAYBOOKS / "roles" / "common" / "defaults" / "main.yml").read_text())[
        "common_source_items"
    ]
)


def tool(name: str) -> str:
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def ansible_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(PLAYBOOKS / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        **extra,
    }


@dataclass
class PlaybookRun:
    command: list[str]
    returncode: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def recap_lines(self) -> str:
        return "\n".join(line for line in self.output.splitlines() if RECAP.match(line))

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_playbook(
    playbook: str, *args: str, env: dict[str, str] | None = None, timeout: float = 1800
) -> PlaybookRun:
    command = [tool("ansible-playbook"), playbook, *args]
    started = time.monotonic()
    done = subprocess.run(
        command,
        cwd=PLAYBOOKS,
        env=env or ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    recap = {
        m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
        for m in RECAP.finditer(output)
    }
    return PlaybookRun(command, done.returncode, output, time.monotonic() - started, recap)


@pytest.fixture(scope="session")
def collections() -> Path:
    """The pinned collections in playbooks/collections, installed as CI and users do."""
    done = subprocess.run(
        ["bash", str(PREPARE_SH), "--collections-only"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"infra/testbed/prepare.sh failed:\n{done.stdout}\n{done.stderr}"
    return PLAYBOOKS / "collections"


@dataclass
class Bed:
    inventory: Path
    source: Path
    boot_seconds: float
    log: str


@pytest.fixture(scope="module")
def testbed(collections: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    """Three booted hosts (db, app, Locust master + worker); always torn down afterwards."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the test bed needs root (debootstrap, systemd-nspawn, bridges, NAT)")
    for needed in ("debootstrap", "systemd-nspawn", "iptables", "ssh", "rsync"):
        if not shutil.which(needed):
            problems.append(f"{needed} is missing (sudo infra/testbed/prepare.sh installs it)")
    if problems:
        pytest.fail("the test bed cannot boot here: " + "; ".join(problems), pytrace=False)

    # A snapshot of the code the nodes get, so edits made while the test runs cannot make the
    # second converge report changes.
    source = tmp_path_factory.mktemp("source")
    for item in SOURCE_ITEMS:
        path = REPO / item
        if path.is_dir():
            shutil.copytree(
                path, source / item, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        elif path.exists():
            shutil.copy2(path, source / item)

    subprocess.run(["bash", str(TESTBED_SH), "down"], capture_output=True, text=True, check=False)
    started = time.monotonic()
    up = subprocess.run(
        ["bash", str(TESTBED_SH), "up", "3"],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    try:
        if up.returncode != 0:
            pytest.fail(
                f"the test bed did not boot (testbed.sh up 3 exited {up.returncode}):\n"
                f"{up.stdout[-3000:]}\n{up.stderr[-3000:]}",
                pytrace=False,
            )
        yield Bed(
            inventory=PLAYBOOKS / "inventories" / "testbed" / "hosts.yml",
            source=source,
            boot_seconds=time.monotonic() - started,
            log=up.stderr,
        )
    finally:
        down = subprocess.run(
            ["bash", str(TESTBED_SH), "down"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert down.returncode == 0, f"testbed.sh down failed:\n{down.stdout}\n{down.stderr}"
        assert_no_testbed_left()


def assert_no_testbed_left() -> None:
    """`down` leaves no machine, mount, link or NAT rule behind."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    assert "lltb0" not in links and "vb-tb" not in links, links
    mounts = Path("/proc/mounts").read_text()
    assert "loadlab-testbed/machines" not in mounts, mounts
    for table in ("nat", "filter"):
        rules = subprocess.run(
            ["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False
        ).stdout
        assert "loadlab-testbed" not in rules, rules
    nspawn = subprocess.run(
        ["pgrep", "-f", "systemd-nspawn.*--machine=tb"], capture_output=True, text=True, check=False
    )
    assert nspawn.returncode == 1, f"systemd-nspawn still running: {nspawn.stdout}"
