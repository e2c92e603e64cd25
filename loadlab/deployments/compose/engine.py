"""Finding the Docker engine and the tools around it.

The engine itself is spoken to through the Docker SDK for Python (`docker` package); the
command-line clients are only looked for because compose and BuildKit builds need them.
The engine must be this machine's: the lab reaches the published ports on 127.0.0.1 and
samples the containers' processes from the host (loadlab.deployments.compose.sampler).

Environment: LOADLAB_DOCKER (the docker client that builds; it needs BuildKit),
LOADLAB_COMPOSE ("docker compose" or "docker-compose"), DOCKER_HOST (else the docker
client's current context, else /var/run/docker.sock).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import docker
import docker.errors
import requests

from loadlab.core.errors import LabError
from loadlab.deployments.compose.commands import ENGINE_HINT, run

DEFAULT_HOST = "unix:///var/run/docker.sock"
# what a call through the SDK raises: the engine's answers, and the transport's failures
ENGINE_ERRORS = (docker.errors.DockerException, requests.exceptions.RequestException)


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
    done = run([client, "version", "--format", "{{.Client.Version}}"], check=False, timeout=30)
    match = re.match(r"(\d+)\.(\d+)", done.stdout.strip())
    return tuple(int(p) for p in match.groups()) if match else ()


def buildkit_client() -> str:
    """A docker client that builds with BuildKit: one with buildx, or one from before 23.0
    (BuildKit built in). The Dockerfile's build secret and cache need it."""
    explicit = os.environ.get("LOADLAB_DOCKER", "").strip()
    candidates = [explicit] if explicit else _docker_clients()
    for client in candidates:
        if run([client, "buildx", "version"], check=False, timeout=30).returncode == 0:
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
    if run([client, "compose", "version"], check=False, timeout=30).returncode == 0:
        return [client, "compose"]
    if legacy := shutil.which("docker-compose"):
        return [legacy]
    raise LabError(
        "neither `docker compose` nor `docker-compose` is installed",
        hint="install the compose plugin, or Debian's docker-compose; " + ENGINE_HINT,
    )


def engine_host(client: str | None = None) -> str:
    """Where the engine listens, as compose and the docker client would find it."""
    host = os.environ.get("DOCKER_HOST", "").strip()
    if not host:
        try:
            cli = client or docker_client()
        except LabError:
            return DEFAULT_HOST
        done = run(
            [cli, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
            check=False,
            timeout=30,
        )
        host = done.stdout.strip() if done.returncode == 0 else ""
    return host or DEFAULT_HOST


def connect(client: str | None = None, timeout: float = 60.0) -> docker.DockerClient:
    """The engine on this machine, through its Unix socket."""
    host = engine_host(client)
    if not host.startswith("unix://"):
        raise LabError(
            f"the compose backend needs the Docker engine on this machine, not {host}",
            hint="it reaches the published ports on 127.0.0.1 and samples the containers' "
            "processes from the host; unset DOCKER_HOST or use the local context",
        )
    try:
        engine = docker.DockerClient(base_url=host, timeout=int(timeout))
        engine.ping()
    except ENGINE_ERRORS as error:
        raise LabError(f"no Docker engine answers at {host}: {error}", hint=ENGINE_HINT) from None
    return engine


def engine_version(engine: docker.DockerClient) -> str:
    return str(engine.version().get("Version", ""))
