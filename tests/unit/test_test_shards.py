"""`make test`'s shard runner: both shards' output, one exit status, nothing left running."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("test_shards", REPO / "infra" / "test_shards.py")
assert spec and spec.loader
shards = importlib.util.module_from_spec(spec)
sys.modules["test_shards"] = shards
spec.loader.exec_module(shards)


def _write(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"test_{folder.name}.py"
    path.write_text(body)
    return path


def test_both_shards_run_and_a_failure_in_one_fails_the_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path / "good", "def test_ok():\n    assert True\n")
    bad = _write(tmp_path / "bad", "def test_no():\n    assert False\n")
    parts = [
        shards.Shard("one", ["-q", "-p", "no:cacheprovider", str(good)]),
        shards.Shard("two", ["-q", "-p", "no:cacheprovider", str(bad)]),
    ]
    assert shards.run(parts) == 1
    out = capsys.readouterr().out
    assert "[one] exit 0" in out and "1 passed" in out
    assert "[two] exit 1" in out and "1 failed" in out


def test_sigterm_stops_both_shards_and_their_children(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    slow = _write(
        tmp_path / "slow",
        "import subprocess, time\n"
        "def test_wait():\n"
        "    child = subprocess.Popen(['sleep', '300'])\n"
        f"    open({str(marker)!r}, 'a').write(f'{{child.pid}}\\n')\n"
        "    time.sleep(300)\n",
    )
    code = (
        "import sys; sys.path.insert(0, {infra!r}); import test_shards as s; "
        "sys.exit(s.run([s.Shard('a', ['-q', '-p', 'no:cacheprovider', {t!r}]), "
        "s.Shard('b', ['-q', '-p', 'no:cacheprovider', {t!r}])]))"
    ).format(infra=str(REPO / "infra"), t=str(slow))
    runner = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if marker.exists() and len(marker.read_text().split()) == 2:
            break
        time.sleep(0.2)
    pids = [int(p) for p in marker.read_text().split()]
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(timeout=60) == 130
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"sleep {pid} still running"


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_arguments_run_one_plain_pytest(tmp_path: Path) -> None:
    good = _write(tmp_path / "plain", "def test_ok():\n    assert True\n")
    assert shards.main(["-q", "-p", "no:cacheprovider", str(good)]) == 0
