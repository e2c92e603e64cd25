"""Bad input to the real `loadlab` command: each mistake gets an `error:` line naming the
problem and a fix, a non-zero exit code, no traceback, and leaves results/ as it was.

Every case runs the installed console script as a subprocess, with the lab's state and results
folders in a temporary directory so nothing here touches the checkout's .loadlab/ or results/.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LOADLAB = Path(sys.executable).parent / "loadlab"
UNREACHABLE_DSN = "postgresql://loadlab:s3cret@127.0.0.1:1/x"  # secret-scan: allow (a fake)
TIMEOUT_S = 60


@dataclass(frozen=True)
class Lab:
    cwd: Path
    results: Path
    env: dict[str, str]

    def snapshot(self) -> dict[str, str]:
        """Every file under results/ with a digest of its bytes."""
        return {
            str(path.relative_to(self.results)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(self.results.rglob("*"))
            if path.is_file()
        }


@pytest.fixture()
def lab(tmp_path: Path) -> Lab:
    results = tmp_path / "results"
    earlier = results / "20240101-000000-abcd"
    (earlier / "cells" / "c1").mkdir(parents=True)
    (earlier / "manifest.json").write_text('{"run_id": "20240101-000000-abcd"}\n')
    (earlier / "summary.json").write_text('{"rows": []}\n')
    (earlier / "cells" / "c1" / "measurement.json").write_text('{"requests": 1}\n')
    env = {
        **os.environ,
        "LOADLAB_HOME": str(tmp_path / "state"),
        "LOADLAB_RESULTS": str(results),
        "COLUMNS": "200",  # rich wraps at the terminal width; keep each message on its line
    }
    env.pop("LOADLAB_DEBUG", None)
    return Lab(tmp_path, results, env)


def _run(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LOADLAB), *args],
        cwd=lab.cwd,
        env=lab.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def _assert_clear_failure(
    lab: Lab, before: dict[str, str], done: subprocess.CompletedProcess[str], *words: str
) -> str:
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert "Traceback" not in output, output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, f"nothing on stderr: {output}"
    assert lines[0].startswith("error:"), f"the first line names the error: {output}"
    assert any(line.strip().startswith("fix:") for line in lines[1:]), f"no fix given: {output}"
    for word in words:
        assert word in done.stderr, f"{word!r} not in: {done.stderr}"
    assert lab.snapshot() == before, "results/ changed"
    return done.stderr


@pytest.fixture()
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


CONFIG_FILES = {
    "malformed YAML": ("bad.yaml", "variants: [flask-sync\n  bad: : :\n", ["YAML", "line 2"]),
    "malformed TOML": ("bad.toml", "variants = [\n", ["TOML"]),
    "malformed JSON": ("bad.json", '{"repeats": }', ["JSON"]),
    "unknown key": ("unknown.toml", "bogus_key = 1\n", ["bogus_key", "unknown key"]),
    "negative duration": ("neg.yaml", "duration_s: -5\n", ["duration_s"]),
    "unknown variant in a file": ("v.toml", 'variants = ["nope"]\n', ["nope"]),
    "not a table": ("list.json", "[1, 2]\n", ["table"]),
}


@pytest.mark.parametrize("case", list(CONFIG_FILES), ids=list(CONFIG_FILES))
def test_bad_config_file(lab: Lab, case: str) -> None:
    name, text, words = CONFIG_FILES[case]
    (lab.cwd / name).write_text(text)
    before = lab.snapshot()
    _assert_clear_failure(lab, before, _run(lab, "run", "--config", name), name, *words)


def test_missing_config_file(lab: Lab) -> None:
    before = lab.snapshot()
    done = _run(lab, "run", "--config", "nowhere.toml")
    _assert_clear_failure(lab, before, done, "nowhere.toml")


ARGUMENTS = {
    "negative duration": (["run", "--duration", "-3"], ["duration_s"]),
    "unknown variant": (["run", "--variants", "flask-sync,nope"], ["nope"]),
    "unknown workload": (["run", "--workloads", "nope"], ["nope"]),
    "unknown preset": (["run", "--preset", "nope"], ["nope", "quick"]),
    "unknown scenario": (["run", "--scenario", "nope"], ["nope"]),
    "unknown variant to serve": (["serve", "nope"], ["nope", "flask-sync"]),
    "unreachable Postgres": (
        ["db", "seed", "--scale", "0.001", "--dsn", UNREACHABLE_DSN],
        ["127.0.0.1:1"],
    ),
    "malformed dsn": (["db", "seed", "--scale", "0.001", "--dsn", "nonsense=1 x"], ["--dsn"]),
    "a label too many": (
        ["report", "results/20240101-000000-abcd", "--label", "stock", "--label", "tuned"],
        ["2 labels for 1 runs", "--label"],
    ),
}


@pytest.mark.parametrize("case", list(ARGUMENTS), ids=list(ARGUMENTS))
def test_bad_argument(lab: Lab, case: str) -> None:
    args, words = ARGUMENTS[case]
    before = lab.snapshot()
    stderr = _assert_clear_failure(lab, before, _run(lab, *args), *words)
    assert "s3cret" not in stderr, "a password in a DSN must not be echoed"


def test_port_in_use(lab: Lab, busy_port: int) -> None:
    before = lab.snapshot()
    done = _run(lab, "serve", "flask-sync", "--port", str(busy_port))
    _assert_clear_failure(lab, before, done, str(busy_port), "in use", "--port")
    # refused before the lab's Postgres was even looked at
    assert not (lab.cwd / "state" / "pg").exists()


def test_results_is_a_file(lab: Lab) -> None:
    target = lab.cwd / "not-a-folder"
    target.write_text("keep me\n")
    before = lab.snapshot()
    for results in (target, target / "below"):
        done = _run(lab, "run", "--results", str(results), "--duration", "1")
        _assert_clear_failure(lab, before, done, "not a folder")
    assert target.read_text() == "keep me\n"


def test_run_id_collision_leaves_the_earlier_run_alone(lab: Lab) -> None:
    """The id generator is forced to repeat an existing run's id; the CLI refuses to write."""
    before = lab.snapshot()
    script = (
        "import sys, loadlab.orchestration.runner as runner; "
        "runner.new_run_id = lambda: '20240101-000000-abcd'; "
        "from loadlab.cli.app import main; sys.argv = ['loadlab', 'run', '--duration', '1']; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=lab.cwd,
        env=lab.env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    _assert_clear_failure(lab, before, done, "20240101-000000-abcd", "already exists")
