"""A private PostgreSQL cluster owned by the lab: its own data directory, a free port, and an
unprivileged owner when the lab runs as root (initdb refuses root)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from loadlab.core.errors import LabError
from loadlab.core.pg_settings import BENCHMARK_SETTINGS, REPORT_QUERY, REPORTED
from loadlab.deployments.ports import ensure_port_free, free_port

DB_NAME = "loadlab"
DB_USER = "loadlab"
# The lab role's password is generated once per cluster and kept in this file under the
# cluster's home, readable by its owner only (see PostgresCluster.password).
PASSWORD_FILE = "password"
SERVICE_USER = "loadlab"


def find_bindir() -> Path:
    if explicit := os.environ.get("LOADLAB_PG_BINDIR"):
        if not (Path(explicit) / "initdb").exists():
            raise LabError(
                f"LOADLAB_PG_BINDIR={explicit} holds no PostgreSQL server (no initdb there)",
                hint="point it at the server's bin directory, e.g. /usr/lib/postgresql/15/bin, "
                "or unset it to let the lab search",
            )
        return Path(explicit)
    candidates = []
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            candidates.append(
                subprocess.run(
                    [pg_config, "--bindir"], capture_output=True, text=True, check=True
                ).stdout.strip()
            )
    candidates += sorted(
        (str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise LabError(
        "no PostgreSQL server binaries found (looked for initdb in $LOADLAB_PG_BINDIR, "
        "pg_config --bindir and /usr/lib/postgresql/*/bin)",
        hint="install the server (Debian: `apt-get install postgresql`) or set LOADLAB_PG_BINDIR",
    )


def _service_account() -> tuple[str, str] | None:
    """The unprivileged owner of the cluster when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        created = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SERVICE_USER,
            ],
            capture_output=True,
            text=True,
        )
        if created.returncode != 0:
            return ("nobody", "nogroup")
    entry = pwd.getpwnam(SERVICE_USER)
    import grp

    return (SERVICE_USER, grp.getgrgid(entry.pw_gid).gr_name)


def _traversable_by_others(path: Path) -> bool:
    for parent in [path, *path.parents]:
        if parent.exists() and not (parent.stat().st_mode & 0o001):
            return False
    return True


@dataclass
class PostgresCluster:
    """A cluster under `home`; `start()` is idempotent and reuses a running postmaster."""

    home: Path
    port: int | None = None
    bindir: Path = field(default_factory=find_bindir)
    settings: dict[str, str] = field(default_factory=lambda: dict(BENCHMARK_SETTINGS))
    cpuset: set[int] | None = None
    # An emulated network (loadlab.deployments.netem): the postmaster starts inside this namespace and
    # listens on `listen_address` there; the data directory is the same either way.
    netns: str | None = None
    listen_address: str = "127.0.0.1"
    host: str = "127.0.0.1"  # where clients in the root namespace reach it

    def __post_init__(self) -> None:
        self.account = _service_account()
        if self.account and not _traversable_by_others(self.home.parent):
            # the service user must reach its data directory; a private home under /root cannot
            self.home = Path("/var/tmp/loadlab") / self.home.name
        self.data_dir = self.home / "data"
        self.socket_dir = self.home / "run"
        self.log_path = self.home / "postgres.log"
        self.state_path = self.home / "cluster.json"

    # ----------------------------------------------------------------- state
    def _state(self) -> dict[str, object]:
        try:
            return dict(json.loads(self.state_path.read_text()))
        except (OSError, ValueError):
            return {}

    def _save_state(self, **updates: object) -> None:
        state = {**self._state(), **updates}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_path)

    @property
    def seed_info(self) -> dict[str, object]:
        info = self._state().get("seed")
        return dict(info) if isinstance(info, dict) else {}

    def record_seed(self, info: dict[str, object]) -> None:
        self._save_state(seed=info)

    # ----------------------------------------------------------------- urls
    def dsn(self, host: str | None = None) -> str:
        secret = quote(self.password, safe="")
        return f"postgresql://{DB_USER}:{secret}@{host or self.host}:{self.port}/{DB_NAME}"

    @property
    def password(self) -> str:
        """The lab role's password: made on first use, then kept for the cluster's life in
        `home/password`, mode 0600 (purge removes it with the cluster). Host connections
        need it (scram-sha-256); only the owner's Unix socket trusts, in a 0700 folder."""
        path = self.home / PASSWORD_FILE
        for _ in range(2):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mode & 0o077:
                    os.chmod(path, 0o600)
                if secret := path.read_text().strip():
                    return secret
            self.home.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{PASSWORD_FILE}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(24) + "\n")
            try:  # a link never replaces: a concurrent first use keeps whichever came first
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        raise LabError(
            f"the cluster's password file {path} is empty",
            hint="delete it; the next start writes a new one",
        )

    def admin_dsn(self) -> str:
        """Superuser over the Unix socket (trust), for pg_stat_statements and settings."""
        return f"postgresql:///{DB_NAME}?host={self.socket_dir}&port={self.port}&user=postgres"

    # ----------------------------------------------------------------- lifecycle
    def _in_netns(self, argv: list[str]) -> list[str]:
        """Entering a namespace takes root: enter it first, then become the owner."""
        drop = []
        if self.account:
            user, group = self.account
            drop = ["setpriv", f"--reuid={user}", f"--regid={group}", "--init-groups", "--"]
        return ["ip", "netns", "exec", str(self.netns), *drop, *argv]

    def admit(self, network: str) -> None:
        """Let clients from `network` in with the password (pg_hba.conf; read at start)."""
        hba = self.data_dir / "pg_hba.conf"
        line = f"host all all {network} scram-sha-256"
        if line not in hba.read_text().splitlines():
            with hba.open("a") as handle:
                handle.write(f"# loadlab: the emulated network link\n{line}\n")

    def _run_as_owner(
        self, argv: list[str], as_root: bool = False, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        user, group = self.account if self.account and not as_root else (None, None)
        return subprocess.run(
            argv,
            user=user,
            group=group,
            capture_output=True,
            text=True,
            **kwargs,  # type: ignore[call-overload]
        )

    def _chown(self, path: Path) -> None:
        if self.account:
            shutil.chown(path, *self.account)

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialized:
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self._chown(self.home)
        self.data_dir.mkdir(exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        for path in (self.data_dir, self.socket_dir):
            os.chmod(path, 0o700)
            self._chown(path)
        result = self._run_as_owner(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise LabError(
                f"initdb failed in {self.data_dir}: {result.stderr.strip()[-500:]}",
                hint="check that the directory is writable by the cluster owner, "
                "or remove it with `loadlab db down --purge`",
            )
        conf = "\n".join(f"{k} = '{v}'" for k, v in self.settings.items())
        with (self.data_dir / "postgresql.auto.conf").open("a") as handle:
            handle.write(f"\n# loadlab benchmark settings\n{conf}\n")

    def running_pid(self) -> int | None:
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def start(self, timeout: float = 60.0) -> bool:
        """Start the cluster; returns False when it was already running (and leaves it so)."""
        self.init()
        if self.running_pid():
            self.port = int(self._state().get("port", 0)) or self.port
            if not self.port:
                raise LabError(
                    f"a postmaster is running in {self.data_dir} but its port is unknown",
                    hint="stop it with `loadlab db down`",
                )
            self._ensure_database()  # a postmaster started by an older lab has an old password
            return False
        if self.port is None:
            self.port = free_port()
        else:
            ensure_port_free(self.port, what="PostgreSQL")
        self.log_path.touch()
        self._chown(self.log_path)
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses={self.listen_address}"
        argv = [
            str(self.bindir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            str(int(timeout)),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            options,
        ]
        if self.cpuset:
            argv = ["taskset", "-c", ",".join(map(str, sorted(self.cpuset))), *argv]
        if self.netns:
            argv = self._in_netns(argv)
        result = self._run_as_owner(argv, as_root=bool(self.netns))
        if result.returncode != 0:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:])
            raise LabError(
                f"PostgreSQL did not start on port {self.port}:\n{tail or result.stderr}",
                hint=f"see {self.log_path}; if the data directory is damaged, "
                "`loadlab db down --purge` removes it",
            )
        self._save_state(port=self.port)
        self._ensure_database()
        return True

    def _ensure_database(self) -> None:
        with psycopg.connect(
            f"postgresql:///postgres?host={self.socket_dir}&port={self.port}&user=postgres",
            autocommit=True,
        ) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [DB_USER]).fetchone()
            # ALTER on every start: a cluster made with an older password (or a lost file)
            # takes the one on disk
            statement = (
                "ALTER ROLE {} PASSWORD {}"
                if exists
                else "CREATE ROLE {} LOGIN PASSWORD {} IN ROLE pg_read_all_stats"
            )
            conn.execute(
                sql.SQL(statement).format(sql.Identifier(DB_USER), sql.Literal(self.password))
            )
            if not conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]
            ).fetchone():
                conn.execute(f"CREATE DATABASE {DB_NAME} OWNER {DB_USER}")
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def stop(self, timeout: float = 30.0) -> None:
        if not self.initialized or not self.running_pid():
            return
        result = self._run_as_owner(
            [
                str(self.bindir / "pg_ctl"),
                "stop",
                "-w",
                "-t",
                str(int(timeout)),
                "-m",
                "fast",
                "-D",
                str(self.data_dir),
            ]
        )
        if result.returncode != 0 and (pid := self.running_pid()):
            os.kill(pid, signal.SIGQUIT)
            deadline = time.monotonic() + 10
            while self.running_pid() and time.monotonic() < deadline:
                time.sleep(0.2)

    def purge(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def postmaster_pid(self) -> int | None:
        return self.running_pid()

    def version(self) -> str:
        with psycopg.connect(self.admin_dsn()) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else ""

    def current_settings(self) -> dict[str, str]:
        """The settings as the server reports them (SHOW's rendering, e.g. "512MB")."""
        names = list(dict.fromkeys([*self.settings, *REPORTED]))
        with psycopg.connect(self.admin_dsn()) as conn:
            rows = conn.execute(REPORT_QUERY, [names]).fetchall()
        return dict(rows)

    @contextlib.contextmanager
    def running(self) -> Iterator[PostgresCluster]:
        """Run the cluster for the duration of the block; stop it only if we started it."""
        started = self.start()
        try:
            yield self
        finally:
            if started:
                self.stop()
