"""The compose backend: docker-compose.yml's services, driven by the same run loop as `local`.

`ComposeStack` owns one compose project's life (build, database and seed, one variant at a
time, a Locust swarm per cell, `down -v`), whatever stops it: the end of the run, an error or
Ctrl-C. `ComposeLab` is what the runner sees (loadlab.deployments.base.Lab), so a compose run
leaves the same `results/<run-id>/` as a local one.

    with ComposeStack(StackSettings(project="loadlab-demo"), log_dir=Path("logs")) as stack:
        stack.build(); stack.start_database(); stack.seed()
        served = stack.activate("fastapi-async")
        stack.run_swarm(target_url=served.internal_url, ...)

Load goes from the Locust containers to the variant's container over the compose network;
the orchestrator reaches Postgres and the variants (for checks and pg_stat_statements) through
ports published on 127.0.0.1 only.

Environment: LOADLAB_DOCKER (the docker client that builds; it needs BuildKit),
LOADLAB_COMPOSE ("docker compose" or "docker-compose"), LOADLAB_BUILD_CA_BUNDLE (a CA bundle
handed to pip as a build secret, for TLS-inspecting proxies; unset by default),
LOADLAB_COMPOSE_BUILD=0 (use the images as they are), LOADLAB_IMAGE_TAG (default latest).
"""

from __future__ import annotations

import contextlib
import csv
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT
from loadlab.core.registry import Knobs, get_variant, variant_names
from loadlab.core.results import CellSpec, VariantRecord, write_json_atomic
from loadlab.deployments.ports import free_port

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "infra" / "docker" / "Dockerfile"
TARGETS = ("postgres", "app", "seed", "locust")  # Dockerfile targets = image names loadlab/<target>
SERVICE_PORT = 8000  # every variant listens on 0.0.0.0:8000 inside its container
SERVICE_HOST = "0.0.0.0"
LOCUSTFILE = "loadtests/locustfile.py"
OUT_DIR = "/app/out"  # where the Locust master writes its CSVs and measurement.json
DB_USER = DB_NAME = "loadlab"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
ENGINE_HINT = (
    "start one with `infra/docker/engine.sh start` (Debian: installs docker.io and docker-compose)"
)


# --------------------------------------------------------------------------------- processes
def _run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    check: bool = True,
    log: Path | None = None,
    what: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run a docker/compose command in its own session, so that a terminal's Ctrl-C reaches
    only us; an interrupt or a time-out stops the command before it propagates."""
    handle = log.open("a") if log else None
    if handle:
        handle.write(f"$ {shlex.join(argv)}\n")
        handle.flush()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle or subprocess.PIPE,
            stderr=subprocess.STDOUT if handle else subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    except FileNotFoundError:
        if handle:
            handle.close()
        raise LabError(f"{argv[0]} is not installed", hint=ENGINE_HINT) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException as exc:  # KeyboardInterrupt, TimeoutExpired
        _stop_group(proc)
        if isinstance(exc, subprocess.TimeoutExpired):
            raise LabError(
                f"{what or shlex.join(argv[:4])} did not finish within {timeout:.0f}s",
                hint=f"see {log}" if log else "",
            ) from None
        raise
    finally:
        if handle:
            handle.close()
    done = subprocess.CompletedProcess(list(argv), proc.returncode, out or "", err or "")
    if check and done.returncode != 0:
        detail = (done.stderr or done.stdout or "").strip()
        if log and not detail:
            detail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise LabError(
            f"{what or shlex.join(argv)} failed (exit {done.returncode}):\n{detail[-2000:]}",
            hint=f"see {log}" if log else "",
        )
    return done


def _stop_group(proc: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)


@contextlib.contextmanager
def _uninterruptible() -> Iterator[None]:
    """Teardown must finish: Ctrl-C (or SIGTERM) during it is ignored. Every command in it
    has a time limit, so it cannot hang for good. Main thread only (signals live there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# --------------------------------------------------------------------------------- tools
def _docker_clients() -> list[str]:
    """Every `docker` executable on PATH, in PATH order (a machine may have two)."""
    found: list[str] = []
    seen: set[str] = set()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(folder) / "docker"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            real = str(candidate.resolve())
            if real not in seen:
                seen.add(real)
                found.append(str(candidate))
    return found


def docker_client() -> str:
    explicit = os.environ.get("LOADLAB_DOCKER", "").strip()
    if explicit:
        return explicit
    clients = _docker_clients()
    if not clients:
        raise LabError("no docker client found on PATH", hint=ENGINE_HINT)
    return clients[0]


def _client_version(client: str) -> tuple[int, ...]:
    done = _run([client, "version", "--format", "{{.Client.Version}}"], check=False, timeout=30)
    match = re.match(r"(\d+)\.(\d+)", done.stdout.strip())
    return tuple(int(p) for p in match.groups()) if match else ()


def buildkit_client() -> str:
    """A docker client that builds with BuildKit: one with buildx, or one from before 23.0
    (BuildKit built in). The Dockerfile's build secret and cache need it."""
    explicit = os.environ.get("LOADLAB_DOCKER", "").strip()
    candidates = [explicit] if explicit else _docker_clients()
    for client in candidates:
        if _run([client, "buildx", "version"], check=False, timeout=30).returncode == 0:
            return client
        version = _client_version(client)
        if version and version < (23,):
            return client
    raise LabError(
        f"no docker client here builds with BuildKit (tried {', '.join(candidates) or 'none'})",
        hint="install the buildx plugin (docker-buildx or docker-buildx-plugin), "
        "or point LOADLAB_DOCKER at a docker client older than 23.0 (Debian 12's docker.io)",
    )


def compose_command() -> list[str]:
    explicit = os.environ.get("LOADLAB_COMPOSE", "").strip()
    if explicit:
        return shlex.split(explicit)
    client = docker_client()
    if _run([client, "compose", "version"], check=False, timeout=30).returncode == 0:
        return [client, "compose"]
    if legacy := shutil.which("docker-compose"):
        return [legacy]
    raise LabError(
        "neither `docker compose` nor `docker-compose` is installed",
        hint="install the compose plugin, or Debian's docker-compose; " + ENGINE_HINT,
    )


def engine_version(client: str | None = None) -> str:
    client = client or docker_client()
    done = _run([client, "info", "--format", "{{.ServerVersion}}"], check=False, timeout=60)
    version = done.stdout.strip()
    if done.returncode != 0 or not version or "error" in version.lower():
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(
            "no Docker engine answers" + (f": {reason[-1]}" if reason else ""),
            hint=ENGINE_HINT,
        )
    return version


def engine_socket(client: str | None = None) -> str | None:
    """The engine's Unix socket, for the stats API; None for a remote (tcp, ssh) engine."""
    host = os.environ.get("DOCKER_HOST", "").strip()
    if not host:
        done = _run(
            [
                client or docker_client(),
                "context",
                "inspect",
                "--format",
                "{{.Endpoints.docker.Host}}",
            ],
            check=False,
            timeout=30,
        )
        host = done.stdout.strip() if done.returncode == 0 else ""
    if not host:
        host = "unix:///var/run/docker.sock"
    if host.startswith("unix://"):
        path = host[len("unix://") :]
        return path if Path(path).exists() else None
    return None


# --------------------------------------------------------------------------------- settings
def default_cpusets(cpus: int) -> dict[str, str]:
    """App, database and load generator CPUs for a machine with `cpus` CPUs: the load generator
    never shares the app's CPUs (but on a single CPU); the database shares them on two."""
    if cpus <= 1:
        return {"app": "0", "db": "0", "load": "0"}
    if cpus == 2:
        return {"app": "0", "db": "0", "load": "1"}
    if cpus == 3:
        return {"app": "0", "db": "1", "load": "2"}
    share = cpus // 4
    return {
        "app": _cpu_range(0, share),
        "db": _cpu_range(share, 2 * share),
        "load": _cpu_range(2 * share, cpus),
    }


def _cpu_range(low: int, high: int) -> str:
    return str(low) if high - low == 1 else f"{low}-{high - 1}"


def cpu_count(spec: str) -> int:
    from loadlab.core.config import CpuSets

    return len(CpuSets.parse(spec))


def port_variable(variant: str) -> str:
    """The compose file's host-port variable of a variant, e.g. LOADLAB_FLASK_SYNC_PORT."""
    return "LOADLAB_" + re.sub(r"[^A-Z0-9]", "_", variant.upper()) + "_PORT"


def users_for_scale(scale: float) -> int:
    return round(1_000_000 * scale)


@dataclass
class StackSettings:
    """The values the compose file interpolates; `environment()` gives them to compose."""

    project: str
    image_tag: str = field(default_factory=lambda: os.environ.get("LOADLAB_IMAGE_TAG", "latest"))
    # Never a constant in the repository: LOADLAB_PG_PASSWORD when set, else a fresh one per
    # stack (each run's project and volume are new, and removed with it)
    pg_password: str = field(
        default_factory=lambda: os.environ.get("LOADLAB_PG_PASSWORD") or secrets.token_hex(16)
    )
    scale: float = 1.0
    data_seed: int = 20240601
    app_workers: int = 1
    pool_size: int = 10
    cpusets: dict[str, str] = field(default_factory=lambda: default_cpusets(os.cpu_count() or 1))
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("postgres", *variant_names(), "locust-web"):
            if not self.ports.get(name):
                self.ports[name] = free_port()

    def environment(self) -> dict[str, str]:
        env = {
            "LOADLAB_IMAGE_TAG": self.image_tag,
            "LOADLAB_PG_PASSWORD": self.pg_password,
            "LOADLAB_PG_PORT": str(self.ports["postgres"]),
            "LOADLAB_SCALE": f"{self.scale:g}",
            "LOADLAB_DATA_SEED": str(self.data_seed),
            "LOADLAB_USERS_SEEDED": str(users_for_scale(self.scale)),
            "LOADLAB_APP_WORKERS": str(self.app_workers),
            "LOADLAB_POOL_SIZE": str(self.pool_size),
            "LOADLAB_APP_CPUSET": self.cpusets["app"],
            "LOADLAB_DB_CPUSET": self.cpusets["db"],
            "LOADLAB_LOAD_CPUSET": self.cpusets["load"],
            "LOADLAB_LOCUST_WEB_PORT": str(self.ports["locust-web"]),
        }
        for variant in variant_names():
            env[port_variable(variant)] = str(self.ports[variant])
        return env

    @property
    def dsn(self) -> str:
        return f"postgresql://{DB_USER}:{self.pg_password}@127.0.0.1:{self.ports['postgres']}/{DB_NAME}"


def project_name(run_id: str) -> str:
    """Compose project names: lower-case letters, digits, dashes and underscores."""
    return re.sub(r"[^a-z0-9_-]", "-", f"loadlab-{run_id}".lower())


# --------------------------------------------------------------------------------- engine API
class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def _api_get(sock_path: str, path: str, timeout: float = 10.0) -> Any:
    conn = _UnixHTTPConnection(sock_path, timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise LabError(f"Docker engine API {path}: HTTP {response.status} {body[:200]!r}")
        return json.loads(body)
    finally:
        conn.close()


def cpu_percent(stats: dict[str, Any]) -> float | None:
    """`docker stats`' CPU %: of one CPU, so 200 means two CPUs busy."""
    cpu, pre = stats.get("cpu_stats") or {}, stats.get("precpu_stats") or {}
    system_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    if not pre.get("system_cpu_usage") or system_delta <= 0:
        return None
    usage_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (
        pre.get("cpu_usage") or {}
    ).get("total_usage", 0)
    online = (
        cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    )
    return max(usage_delta, 0) / system_delta * online * 100.0


def memory_bytes(stats: dict[str, Any]) -> int:
    """`docker stats`' memory: usage less the inactive page cache (cgroup v1 and v2)."""
    memory = stats.get("memory_stats") or {}
    usage = int(memory.get("usage") or 0)
    detail = memory.get("stats") or {}
    for key in ("total_inactive_file", "inactive_file"):
        if key in detail and int(detail[key]) < usage:
            return usage - int(detail[key])
    return usage


class ContainerSampler:
    """`docker stats`-style samples of a compose project's containers, one row per container
    and second, into resources.csv (time,component,pid,cpu_percent,rss_bytes).

    `components` maps a component name to compose services; containers are found by label as
    they come and go (Locust workers start after the sampler). With a local engine a
    `machine` row (all CPUs, in percent of one) is added, as the local backend does."""

    FIELDS = ("time", "component", "pid", "cpu_percent", "rss_bytes")

    def __init__(
        self,
        stack: ComposeStack,
        out: Path,
        components: dict[str, list[str]],
        interval: float = 1.0,
    ) -> None:
        self.stack = stack
        self.out = out
        self.components = components
        self.interval = interval
        self.socket = stack.socket
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._streams: dict[str, _UnixHTTPConnection] = {}
        self._handle: Any = None
        self._writer: Any = None
        self._tmp = out.with_name(f".{out.name}.tmp")

    def _component_of(self, service: str) -> str | None:
        for component, services in self.components.items():
            if service in services:
                return component
        return None

    def _write(self, component: str, pid: int, cpu: float, rss: int) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.writerow([round(time.time(), 3), component, pid, round(cpu, 1), rss])

    # one thread per container, reading the engine's stats stream (one frame a second)
    def _stream(self, container_id: str, component: str, pid: int) -> None:
        assert self.socket is not None
        conn = _UnixHTTPConnection(self.socket, timeout=3.0)
        self._streams[container_id] = conn
        try:
            conn.request("GET", f"/containers/{container_id}/stats?stream=true")
            response = conn.getresponse()
            if response.status != 200:
                return
            while not self._stop.is_set():
                try:
                    line = response.readline()
                except TimeoutError:
                    continue
                if not line:
                    return
                try:
                    frame = json.loads(line)
                except ValueError:
                    continue
                cpu = cpu_percent(frame)
                if cpu is not None and (frame.get("memory_stats") or {}).get("usage"):
                    self._write(component, pid, cpu, memory_bytes(frame))
        except (OSError, http.client.HTTPException):
            return
        finally:
            conn.close()

    def _poll_cli(self, targets: dict[str, tuple[str, int]]) -> None:
        """Without the engine's socket (a remote engine): `docker stats --no-stream`."""
        if not targets:
            return
        done = _run(
            [self.stack.docker, "stats", "--no-stream", "--format", "{{json .}}", *targets],
            check=False,
            timeout=30,
        )
        for line in done.stdout.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            match = next((cid for cid in targets if cid.startswith(row.get("ID", "~"))), None)
            if match is None:
                continue
            component, pid = targets[match]
            cpu = float(row.get("CPUPerc", "0%").rstrip("%") or 0)
            self._write(component, pid, cpu, _parse_size(row.get("MemUsage", "0B").split("/")[0]))

    def _run(self) -> None:
        import psutil

        known: dict[str, tuple[str, int]] = {}
        local_engine = self.socket is not None
        psutil.cpu_percent(None)
        while not self._stop.wait(self.interval if known else 0.2):
            try:
                current = self.stack.containers(running_only=True)
            except LabError:
                current = []
            for info in current:
                component = self._component_of(info["service"])
                if component is None or info["id"] in known:
                    continue
                known[info["id"]] = (component, info["pid"])
                if self.socket is not None:
                    thread = threading.Thread(
                        target=self._stream,
                        args=(info["id"], component, info["pid"]),
                        name=f"stats-{info['service']}",
                        daemon=True,
                    )
                    thread.start()
                    self._threads.append(thread)
            if self.socket is None:
                live = {c["id"] for c in current}
                self._poll_cli({cid: v for cid, v in known.items() if cid in live})
            if local_engine:
                total = psutil.cpu_percent(None) * (psutil.cpu_count() or 1)
                with self._lock:
                    if self._writer is not None:
                        self._writer.writerow(
                            [
                                round(time.time(), 3),
                                "machine",
                                0,
                                round(total, 1),
                                psutil.virtual_memory().used,
                            ]
                        )

    def start(self) -> ContainerSampler:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self._tmp.open("w", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(self.FIELDS)
        thread = threading.Thread(target=self._run, name="container-sampler", daemon=True)
        thread.start()
        self._threads.insert(0, thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for conn in list(self._streams.values()):
            with contextlib.suppress(OSError, AttributeError):
                if conn.sock is not None:
                    conn.sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=10)
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = self._writer = None
                os.replace(self._tmp, self.out)

    def __enter__(self) -> ContainerSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _parse_size(text: str) -> int:
    match = re.match(r"\s*([\d.]+)\s*([KMGT]?i?B)", text.strip())
    if not match:
        return 0
    value, unit = float(match.group(1)), match.group(2)
    scale = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
             "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}  # fmt: skip
    return int(value * scale.get(unit, 1))


# --------------------------------------------------------------------------------- the stack
@dataclass
class ComposeVariant:
    """A running variant: `url` from this machine (checks), `internal_url` on the compose
    network (load)."""

    name: str
    url: str
    internal_url: str
    container: str
    variant_record: VariantRecord

    def record(self) -> VariantRecord:
        return self.variant_record


class ComposeStack:
    """One compose project, from build to `down -v`. A context manager: leaving it (normally,
    on an error or on Ctrl-C) saves the services' logs and removes every container, network
    and volume of the project."""

    def __init__(self, settings: StackSettings, log_dir: Path) -> None:
        self.settings = settings
        self.project = settings.project
        self.log_dir = log_dir
        self.docker = docker_client()
        self.compose_cmd: list[str] = []
        self.socket: str | None = None
        self.engine = ""
        self.compose_version = ""
        self.build_seconds: float | None = None
        self.active: ComposeVariant | None = None
        self._entered = False
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "COMPOSE_"))}
        env.update(settings.environment())
        env["COMPOSE_PROJECT_NAME"] = self.project
        self.env = env

    # ------------------------------------------------------------------ commands
    def compose(
        self,
        *args: str,
        files: Sequence[Path] = (),
        timeout: float | None = 300,
        check: bool = True,
        log: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self.compose_cmd, "-p", self.project, "-f", str(COMPOSE_FILE)]
        for extra in files:
            argv += ["-f", str(extra)]
        return _run(
            [*argv, *args],
            env=self.env,
            timeout=timeout,
            check=check,
            log=log or self.log_dir / "compose.log",
            what=f"`{' '.join(self.compose_cmd[-1:])} {' '.join(args[:3])}`",
        )

    def docker_cmd(
        self, *args: str, timeout: float = 60, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return _run([self.docker, *args], env=self.env, timeout=timeout, check=check)

    def containers(
        self, service: str | None = None, running_only: bool = False
    ) -> list[dict[str, Any]]:
        """This project's containers (id, service, number, pid, state), by compose's labels."""
        filters = [f"{PROJECT_LABEL}={self.project}"]
        if service:
            filters.append(f"{SERVICE_LABEL}={service}")
        if self.socket:
            query = quote(json.dumps({"label": filters}))
            listed = _api_get(
                self.socket, f"/containers/json?all={int(not running_only)}&filters={query}"
            )
            ids = [c["Id"] for c in listed]
        else:
            argv = ["ps", "-q", "--no-trunc", *(["-a"] if not running_only else [])]
            for item in filters:
                argv += ["--filter", f"label={item}"]
            ids = self.docker_cmd(*argv).stdout.split()
        return [self.inspect(cid) for cid in ids]

    def inspect(self, container_id: str) -> dict[str, Any]:
        if self.socket:
            raw = _api_get(self.socket, f"/containers/{container_id}/json")
        else:
            raw = json.loads(self.docker_cmd("inspect", container_id).stdout)[0]
        labels = raw.get("Config", {}).get("Labels") or {}
        state = raw.get("State") or {}
        return {
            "id": raw["Id"],
            "service": labels.get(SERVICE_LABEL, ""),
            "number": int(labels.get(NUMBER_LABEL) or 0),
            "pid": int(state.get("Pid") or 0),
            "status": state.get("Status", ""),
            "running": bool(state.get("Running")),
            "exit_code": int(state.get("ExitCode") or 0),
            "health": (state.get("Health") or {}).get("Status", ""),
            "cmd": (raw.get("Config") or {}).get("Cmd") or [],
            "env": (raw.get("Config") or {}).get("Env") or [],
            "image": raw.get("Image", ""),
        }

    def one(self, service: str) -> dict[str, Any]:
        found = sorted(self.containers(service), key=lambda c: c["number"])
        if not found:
            raise LabError(f"compose service {service} has no container in project {self.project}")
        return found[0]

    def service_log(self, container_id: str) -> str:
        done = self.docker_cmd("logs", "--timestamps", container_id, timeout=60, check=False)
        return done.stdout + done.stderr

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> ComposeStack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.engine = engine_version(self.docker)
        self.compose_cmd = compose_command()
        version = _run([*self.compose_cmd, "version"], check=False, timeout=60).stdout.strip()
        self.compose_version = version.splitlines()[0] if version else ""
        self.socket = engine_socket(self.docker)
        self._entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def build(self) -> float:
        """Build the four images (BuildKit; cached layers make a rebuild take seconds)."""
        builder = buildkit_client()
        log = self.log_dir / "build.log"
        ca_bundle = os.environ.get("LOADLAB_BUILD_CA_BUNDLE", "").strip()
        if ca_bundle and not Path(ca_bundle).is_file():
            raise LabError(f"LOADLAB_BUILD_CA_BUNDLE={ca_bundle} is not a file")
        previous = self.image_ids()
        started = time.monotonic()
        for target in TARGETS:
            argv = [builder, "build", "--progress=plain", "-f", str(DOCKERFILE), "--target", target,
                    "-t", self.image(target)]  # fmt: skip
            if ca_bundle:
                argv += ["--secret", f"id=ca_bundle,src={ca_bundle}"]
            _run(
                [*argv, str(REPO_ROOT)],
                env={**self.env, "DOCKER_BUILDKIT": "1"},
                timeout=1800,
                log=log,
                what=f"building image {self.image(target)}",
            )
        self.build_seconds = round(time.monotonic() - started, 1)
        # a rebuilt tag leaves its old image dangling: remove it (kept if a container uses it)
        current = self.image_ids()
        for image, old_id in previous.items():
            if current.get(image) != old_id:
                self.docker_cmd("image", "rm", old_id, check=False)
        return self.build_seconds

    def image(self, target: str) -> str:
        return f"loadlab/{target}:{self.settings.image_tag}"

    def image_ids(self) -> dict[str, str]:
        ids = {}
        for target in TARGETS:
            done = self.docker_cmd(
                "image", "inspect", "--format", "{{.Id}}", self.image(target), check=False
            )
            if done.returncode == 0:
                ids[self.image(target)] = done.stdout.strip()
        return ids

    def image_software(self, targets: Sequence[str] = ("app", "locust")) -> dict[str, Any]:
        """Python and every package as installed in the images (not on this machine)."""
        probe = (
            "import json, platform, importlib.metadata as m; print(json.dumps({'python': "
            "platform.python_version(), 'packages': {d.metadata['Name'].lower(): d.version "
            "for d in m.distributions()}}))"
        )
        found: dict[str, Any] = {}
        for target in targets:
            done = self.docker_cmd(
                "run", "--rm", "--network", "none", self.image(target), "python", "-c", probe,
                timeout=120, check=False,
            )  # fmt: skip
            try:
                facts = json.loads(done.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                continue
            packages = facts.get("packages", {})
            found[self.image(target)] = {
                "python": facts.get("python", ""),
                "packages": {name: packages[name] for name in sorted(packages)},
            }
        return found

    def wait_healthy(self, service: str, timeout: float = 180.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            info = self.one(service)
            if info["health"] == "healthy":
                return info
            if not info["running"]:
                raise LabError(
                    f"compose service {service} exited (code {info['exit_code']}) before it was healthy:\n"
                    + _tail(self.service_log(info["id"])),
                    hint=f"see {self.log_dir / (service + '.log')}",
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"compose service {service} was not healthy within {timeout:.0f}s "
                    f"(health: {info['health'] or 'none'}):\n"
                    + _tail(self.service_log(info["id"])),
                )
            time.sleep(0.5)

    def start_database(self) -> None:
        self.compose("up", "-d", "--no-build", "postgres", timeout=300)
        self.wait_healthy("postgres")

    def seed(self) -> dict[str, Any]:
        """Run the one-shot seed service (a no-op when the volume already holds this data) and
        return the data description for the manifest."""
        before = read_seed_marker(self.settings.dsn)
        self.compose(
            "run", "--rm", "--no-deps", "-T", "seed", timeout=3600, log=self.log_dir / "seed.log"
        )
        marker = read_seed_marker(self.settings.dsn)
        info = dict(marker.get("info") or {})
        return {
            "scale": self.settings.scale,
            "seed": self.settings.data_seed,
            "schema_fingerprint": marker.get("schema_fingerprint"),
            **{k: v for k, v in info.items() if k not in {"scale", "seed", "schema_fingerprint"}},
            "seeded_at": marker.get("seeded_at"),
            "users": users_for_scale(self.settings.scale),
            "reused": bool(before) and before.get("seeded_at") == marker.get("seeded_at"),
        }

    def file_knobs(self, variant: str) -> Knobs:
        """The knobs docker-compose.yml runs `variant` with: LOADLAB_APP_WORKERS workers,
        LOADLAB_POOL_SIZE connections, every other knob stock."""
        spec = get_variant(variant)
        sizes = {"workers": self.settings.app_workers, "pool_size": self.settings.pool_size}
        return spec.settings(
            {k: v for k, v in sizes.items() if k in spec.knobs}, cpus=self.settings.app_workers
        )

    def activate(
        self,
        variant: str,
        knobs: Mapping[str, Any] | None = None,
        profile: str = "stock",
        timeout: float = 120.0,
    ) -> ComposeVariant:
        """Stop whichever variant runs, start `variant` in a fresh container with `knobs`
        (partial: the rest stock, "cpus" read as the app's workers), wait until it answers
        /healthz, and check it runs the command line and environment the registry renders.

        With the knobs the compose file renders (`file_knobs`) the service starts as the file
        declares it, so a file that drifted from the registry is caught here; with any other
        knobs an override file sets the service's command and knob variables."""
        from loadlab.deployments.appserver import healthy

        spec = get_variant(variant)
        full = spec.settings(dict(knobs or {}), cpus=self.settings.app_workers)
        expected = spec.render(host=SERVICE_HOST, port=SERVICE_PORT, knobs=full)
        # DATABASE_URL (with the password) stays the compose file's; never written to a file
        expected_env = {
            key: value
            for key, value in spec.environment(database_url="", knobs=full).items()
            if key != "DATABASE_URL"
        }
        for other in variant_names():
            if other != variant and self.containers(other, running_only=True):
                self.deactivate(other)
        files: list[Path] = []
        if full != self.file_knobs(variant):
            override = self.log_dir / f"compose.{variant}.yml"
            write_json_atomic(  # JSON is YAML: compose reads it as an override file
                override,
                {"services": {variant: {"command": expected, "environment": expected_env}}},
            )
            files.append(override)
        self.compose(
            "up", "-d", "--no-build", "--no-deps", "--force-recreate", variant,
            files=files, timeout=300,
        )  # fmt: skip
        url = f"http://127.0.0.1:{self.settings.ports[variant]}"
        deadline = time.monotonic() + timeout
        while not healthy(url):
            info = self.one(variant)
            if not info["running"]:
                raise LabError(
                    f"variant {variant} exited during start-up (code {info['exit_code']}):\n"
                    + _tail(self.service_log(info["id"])),
                    hint=f"see {self.log_dir / (variant + '.log')}",
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"variant {variant} did not answer /healthz within {timeout:.0f}s:\n"
                    + _tail(self.service_log(info["id"])),
                )
            time.sleep(0.25)
        info = self.one(variant)
        how = f"with the override {files[0]}" if files else "as docker-compose.yml declares it"
        if info["cmd"] != expected:
            raise LabError(
                f"compose runs {variant} ({how}) as `{shlex.join(info['cmd'])}`, "
                f"but the registry says `{shlex.join(expected)}`",
                hint="make the compose service's command the one in loadlab/data/variants.toml",
            )
        running_env = dict(item.partition("=")[::2] for item in info["env"])
        wrong = sorted(k for k, v in expected_env.items() if running_env.get(k) != v)
        if wrong:
            raise LabError(
                f"compose runs {variant} ({how}) with "
                + ", ".join(f"{k}={running_env.get(k)!r}" for k in wrong)
                + ", but its knobs render "
                + ", ".join(f"{k}={expected_env[k]!r}" for k in wrong),
                hint="make the compose service's environment the one in loadlab/data/variants.toml",
            )
        record = spec.record(
            host=SERVICE_HOST, port=SERVICE_PORT, knobs=full, profile=profile,
            cpuset=self.settings.cpusets["app"],
        )  # fmt: skip
        self.active = ComposeVariant(
            name=variant,
            url=url,
            internal_url=f"http://{variant}:{SERVICE_PORT}",
            container=info["id"],
            variant_record=record,
        )
        return self.active

    def deactivate(self, variant: str) -> None:
        for info in self.containers(variant):
            self._save_log(variant, info["id"])
        self.compose("rm", "-s", "-f", "-v", variant, timeout=120)
        if self.active and self.active.name == variant:
            self.active = None

    @contextlib.contextmanager
    def serving(
        self, variant: str, knobs: Mapping[str, Any] | None = None, profile: str = "stock"
    ) -> Iterator[ComposeVariant]:
        served = self.activate(variant, knobs, profile)
        try:
            yield served
        finally:
            with _uninterruptible():
                self.deactivate(variant)

    def run_swarm(
        self,
        *,
        target_url: str,
        users: int,
        workers: int,
        total_s: float,
        env: dict[str, str],
        cell_dir: Path,
        tick: Callable[[float], None] | None = None,
    ) -> dict[str, Any]:
        """One headless Locust run: the master (the contract's command line) and `workers`
        scaled workers; their CSVs, measurement.json and logs end up in `cell_dir`."""
        spawn_rate = max(users, 1)  # every user within the first second, as the local swarm
        safety_limit = int(total_s + 30)  # the locustfile's timed stop ends it; a backstop
        master_cmd = [
            "locust", "-f", LOCUSTFILE, "--master", "--headless",
            "--expect-workers", str(workers), "--expect-workers-max-wait", "60",
            "-u", str(users), "-r", str(spawn_rate), "-t", f"{safety_limit}s",
            "--host", target_url, "--csv", f"{OUT_DIR}/locust",
            "--csv-full-history", "--only-summary", "--loglevel", "INFO",
        ]  # fmt: skip
        override = cell_dir / "compose.cell.yml"
        write_json_atomic(  # JSON is YAML: compose reads it as an override file
            override,
            {
                "services": {
                    "locust-master": {"command": master_cmd, "environment": env},
                    "locust-worker": {"environment": env},
                }
            },
        )
        swarm = ("locust-master", "locust-worker")
        try:
            self.compose(
                "up", "-d", "--no-build", "--no-deps", "--force-recreate",
                "--scale", f"locust-worker={workers}", *swarm,
                files=[override], timeout=300,
            )  # fmt: skip
            master = self.one("locust-master")
            started = time.monotonic()
            deadline = started + total_s + 120
            while master["running"]:
                if time.monotonic() > deadline:
                    raise LabError(
                        f"the Locust master did not finish within {total_s + 120:.0f}s",
                        hint=f"see {cell_dir / 'locust-master.log'}",
                    )
                if tick:
                    tick(min(time.monotonic() - started, total_s))
                time.sleep(0.25)
                master = self.inspect(master["id"])
            self.docker_cmd("cp", f"{master['id']}:{OUT_DIR}/.", str(cell_dir), check=False)
        finally:
            with _uninterruptible():
                self._collect_swarm_logs(cell_dir)
                self.compose(
                    "rm", "-s", "-f", "-v", *swarm, files=[override], timeout=120, check=False
                )
        out = cell_dir / "measurement.json"
        if not out.exists():
            raise LabError(
                f"the Locust master exited (code {master['exit_code']}) without writing "
                f"{out.name}:\n{_tail((cell_dir / 'locust-master.log').read_text(errors='replace'))}",
                hint=f"see {cell_dir / 'locust-master.log'}",
            )
        return dict(json.loads(out.read_text()))

    def _collect_swarm_logs(self, cell_dir: Path) -> None:
        for info in self.containers("locust-master"):
            (cell_dir / "locust-master.log").write_text(self.service_log(info["id"]))
        workers = sorted(self.containers("locust-worker"), key=lambda c: c["number"])
        for index, info in enumerate(workers):
            (cell_dir / f"locust-worker-{index}.log").write_text(self.service_log(info["id"]))

    def _save_log(self, service: str, container_id: str) -> None:
        with (
            contextlib.suppress(LabError, OSError),
            (self.log_dir / f"{service}.log").open("a") as log,
        ):
            log.write(self.service_log(container_id))

    def down(self) -> None:
        """Save the remaining services' logs, then remove every container, network and volume
        of the project. Runs to the end even if Ctrl-C is pressed again."""
        if not self._entered:
            return
        with _uninterruptible():
            with contextlib.suppress(LabError, OSError):
                for info in self.containers():
                    if info["service"] not in ("locust-master", "locust-worker"):
                        self._save_log(info["service"], info["id"])
            done = self.compose(
                "down", "-v", "--remove-orphans", "-t", "10", timeout=300, check=False
            )
            left = self.leftovers()
            if done.returncode != 0 or any(left.values()):
                # whatever compose could not remove is still found by label: one by one
                for kind, remove in (("containers", ["rm", "-f", "-v"]),
                                     ("networks", ["network", "rm"]),
                                     ("volumes", ["volume", "rm", "-f"])):  # fmt: skip
                    for resource in left[kind]:
                        self.docker_cmd(*remove, resource, check=False)
            self._entered = False

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes still labelled with this project."""
        label = f"label={PROJECT_LABEL}={self.project}"
        found = {}
        for kind, argv in {
            "containers": ["ps", "-a", "-q", "--filter", label],
            "networks": ["network", "ls", "-q", "--filter", label],
            "volumes": ["volume", "ls", "-q", "--filter", label],
        }.items():
            found[kind] = self.docker_cmd(*argv, check=False).stdout.split()
        return found


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------------- database
SEED_MARKER_SQL = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"


def read_seed_marker(dsn: str) -> dict[str, Any]:
    """What the seed service recorded on the database (infra/docker/seed_once.py)."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            row = conn.execute(SEED_MARKER_SQL).fetchone()
    except psycopg.Error as error:
        raise LabError(
            f"cannot reach the compose PostgreSQL at {dsn.split('@')[-1]}: {error}"
        ) from None
    try:
        marker = json.loads(row[0]) if row and row[0] else {}
    except ValueError:
        return {}
    return marker if isinstance(marker, dict) else {}


def postgres_facts(dsn: str) -> dict[str, Any]:
    """The server's version and the benchmark settings as it reports them (e.g. 512MB)."""
    import psycopg

    from loadlab.deployments.postgres import BENCHMARK_SETTINGS

    names = [*BENCHMARK_SETTINGS, "fsync", "synchronous_commit", "server_version"]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", [names]
        ).fetchall()
    settings = {str(name): str(value) for name, value in rows}
    return {"version": settings.get("server_version", ""), "settings": settings}


# --------------------------------------------------------------------------------- the Lab
class ComposeLab:
    """loadlab.deployments.base.Lab on a running compose stack."""

    def __init__(self, config: Any, stack: ComposeStack, data: dict[str, Any]) -> None:
        self.config = config
        self.stack = stack
        self.data = data
        settings = stack.settings
        from loadlab.core.config import CpuSets
        from loadlab.deployments.swarm import fixed_workers

        # compose runs no attempts: "auto" is one worker per CPU of the load generator's set
        self.locust_workers = fixed_workers(
            config.locust_workers, CpuSets.parse(settings.cpusets["load"])
        )
        self.postgres = {
            **postgres_facts(settings.dsn),
            "host": f"compose service postgres ({stack.image('postgres')}), cpuset {settings.cpusets['db']}",
        }
        self.topology = {
            "backend": "compose",
            "project": stack.project,
            "engine": f"Docker {stack.engine}",
            "compose": stack.compose_version,
            "hosts": {
                "docker engine on this machine": [
                    "postgres",
                    "app",
                    "locust-master",
                    "locust-worker",
                ]
            },
            "network": "the project's compose bridge network; load goes container to container",
            "locust_workers": self.locust_workers,
            "app_workers": settings.app_workers,
            "pool_size": settings.pool_size,
            "cpusets": dict(settings.cpusets),
            "images": stack.image_ids(),
            "image_software": stack.image_software(),
            "build_seconds": stack.build_seconds,
        }
        self.caveats = [
            f"compose backend: app (CPUs {settings.cpusets['app']}), database (CPUs "
            f"{settings.cpusets['db']}) and load generator (CPUs {settings.cpusets['load']}) run "
            "in containers on one Docker engine; requests cross a bridge network and veth pairs"
        ]
        from loadlab.core.config import CpuSets

        cpus = {name: CpuSets.parse(spec) for name, spec in settings.cpusets.items()}
        if cpus["app"] & cpus["db"]:
            self.caveats.append(
                "the app and the database share CPUs "
                f"({settings.cpusets['app']}): every variant bears the same handicap"
            )
        if cpus["load"] & cpus["app"]:
            self.caveats.append(
                "the load generator shares the app's CPUs: absolute figures understate the app"
            )

    @property
    def dsn(self) -> str:
        return self.stack.settings.dsn

    @property
    def admin_dsn(self) -> str:
        return self.stack.settings.dsn  # the compose database's user is its superuser

    def serve(
        self, variant: str, knobs: dict[str, Any] | None = None, profile: str = "stock"
    ) -> contextlib.AbstractContextManager[ComposeVariant]:
        """Start `variant` with these knobs (partial: the rest stock; see registry.py)."""
        return self.stack.serving(variant, knobs, profile)

    def run_cell(
        self, spec: CellSpec, served: ComposeVariant, cell_dir: Path, progress: Any = None
    ) -> None:
        from loadlab.deployments.swarm import swarm_environment
        from loadlab.measurement import pgstats

        env = swarm_environment(
            workload=spec.workload,
            load=spec.load,
            users_seeded=int(self.data["users"]),
            warmup_s=spec.warmup_s,
            duration_s=spec.duration_s,
            measurement_out=Path(OUT_DIR) / "measurement.json",
        )
        total_s = float(env["LOADLAB_DURATION_S"])
        before = pgstats.snapshot(self.admin_dsn)
        components = {
            "app": [served.name],
            "postgres": ["postgres"],
            "locust-master": ["locust-master"],
            "locust-worker": ["locust-worker"],
        }
        with ContainerSampler(self.stack, cell_dir / "resources.csv", components):
            self.stack.run_swarm(
                target_url=served.internal_url,
                users=spec.load.users,
                workers=self.locust_workers,
                total_s=total_s,
                env=env,
                cell_dir=cell_dir,
                tick=(lambda elapsed: progress.cell_tick(elapsed, total_s)) if progress else None,
            )
        write_json_atomic(
            cell_dir / "pg_stat_statements.json",
            pgstats.delta(before, pgstats.snapshot(self.admin_dsn)),
        )


def settings_for(config: Any, run_id: str) -> StackSettings:
    cpusets = (
        config.cpusets.model_dump() if config.cpusets else default_cpusets(os.cpu_count() or 1)
    )
    return StackSettings(
        project=os.environ.get("LOADLAB_COMPOSE_PROJECT") or project_name(run_id),
        scale=config.scale,
        data_seed=config.data_seed,
        app_workers=config.app_workers or cpu_count(cpusets["app"]),
        pool_size=config.pool_size or StackSettings.pool_size,  # None: the stock 10
        cpusets=cpusets,
    )


@contextlib.contextmanager
def compose_lab(config: Any, run_dir: Path, progress: Any) -> Iterator[ComposeLab]:
    """The runner's entry point for `loadlab run --backend compose`."""
    settings = settings_for(config, run_dir.name)
    with ComposeStack(settings, run_dir / "logs") as stack:
        if os.environ.get("LOADLAB_COMPOSE_BUILD", "1") != "0":
            progress.phase("building the images (docker build)")
            stack.build()
        progress.phase("starting PostgreSQL (compose)")
        stack.start_database()
        progress.phase(f"seeding the compose database (scale {config.scale:g})")
        data = stack.seed()
        try:
            yield ComposeLab(config, stack, data)
        finally:
            progress.phase(f"removing the compose project {stack.project}")
