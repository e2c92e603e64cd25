"""One compose project's life, from `up` to `down -v`, whatever ends it: the end of the run,
an error or Ctrl-C. Compose (the CLI) starts and removes services; everything read back
(containers, logs, files) comes from the engine through the Docker SDK.

    with ComposeStack(StackSettings(project="loadlab-demo"), log_dir=Path("logs")) as stack:
        stack.build(); stack.start_database()
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from loadlab.core.errors import LabError
from loadlab.deployments.compose.commands import run, uninterruptible
from loadlab.deployments.compose.containers import ContainerInfo
from loadlab.deployments.compose.engine import (
    ENGINE_ERRORS,
    compose_command,
    connect,
    docker_client,
    engine_version,
)
from loadlab.deployments.compose.images import Images
from loadlab.deployments.compose.settings import (
    COMPOSE_FILE,
    MASTER_SERVICE,
    PROJECT_LABEL,
    SERVICE_LABEL,
    WORKER_SERVICE,
    StackSettings,
)
from loadlab.deployments.processes import tail


class ComposeStack:
    """A context manager: leaving it (normally, on an error or on Ctrl-C) saves the services'
    logs and removes every container, network and volume of the project."""

    def __init__(self, settings: StackSettings, log_dir: Path) -> None:
        self.settings = settings
        self.project = settings.project
        self.log_dir = log_dir
        self.docker = docker_client()
        self.compose_cmd: list[str] = []
        self._engine: docker.DockerClient | None = None
        self.engine_version = ""
        self.compose_version = ""
        self.build_seconds: float | None = None
        self._entered = False
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCUST_", "COMPOSE_"))}
        env.update(settings.environment())
        env["COMPOSE_PROJECT_NAME"] = self.project
        self.env = env

    @property
    def engine(self) -> docker.DockerClient:
        if self._engine is None:
            raise LabError("the compose stack is used before it was entered")
        return self._engine

    @property
    def images(self) -> Images:
        return Images(self.engine, self.settings.image_tag)

    # ------------------------------------------------------------------ compose
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
        return run(
            [*argv, *args],
            env=self.env,
            timeout=timeout,
            check=check,
            log=log or self.log_dir / "compose.log",
            what=f"`{' '.join(self.compose_cmd[-1:])} {' '.join(args[:3])}`",
        )

    # ------------------------------------------------------------------ the engine
    def _filters(self, service: str | None = None) -> dict[str, Any]:
        labels = [f"{PROJECT_LABEL}={self.project}"]
        if service:
            labels.append(f"{SERVICE_LABEL}={service}")
        return {"label": labels}

    def containers(
        self, service: str | None = None, running_only: bool = False
    ) -> list[ContainerInfo]:
        """This project's containers, by compose's labels."""
        try:
            found = self.engine.containers.list(
                all=not running_only, filters=self._filters(service), ignore_removed=True
            )
        except ENGINE_ERRORS as error:
            raise LabError(f"cannot list the containers of {self.project}: {error}") from None
        return [ContainerInfo.from_attrs(c.attrs) for c in found]

    def inspect(self, container_id: str) -> ContainerInfo:
        try:
            return ContainerInfo.from_attrs(self.engine.containers.get(container_id).attrs)
        except ENGINE_ERRORS as error:
            raise LabError(f"cannot inspect container {container_id[:12]}: {error}") from None

    def one(self, service: str) -> ContainerInfo:
        found = sorted(self.containers(service), key=lambda c: c.number)
        if not found:
            raise LabError(f"compose service {service} has no container in project {self.project}")
        return found[0]

    def service_log(self, container_id: str) -> str:
        try:
            raw = self.engine.containers.get(container_id).logs(timestamps=True)
        except ENGINE_ERRORS:
            return ""
        return bytes(raw).decode(errors="replace")

    def copy_out(self, container_id: str, folder: str, to: Path) -> None:
        """The files of `folder` in the container into `to` (a stopped container too)."""
        try:
            chunks, _ = self.engine.containers.get(container_id).get_archive(folder)
            data = io.BytesIO(b"".join(chunks))
        except ENGINE_ERRORS:
            return
        with contextlib.suppress(tarfile.TarError), tarfile.open(fileobj=data) as archive:
            for member in archive.getmembers():
                # the archive holds the folder itself: out/locust_stats.csv, ...
                parts = Path(member.name).parts[1:]
                if not member.isfile() or not parts or ".." in parts:
                    continue
                target = to.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                if source is not None:
                    target.write_bytes(source.read())

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> ComposeStack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._engine = connect(self.docker)
        self.engine_version = engine_version(self._engine)
        self.compose_cmd = compose_command()
        version = run([*self.compose_cmd, "version"], check=False, timeout=60).stdout.strip()
        self.compose_version = version.splitlines()[0] if version else ""
        self._entered = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def build(self) -> float:
        self.build_seconds = self.images.build(self.env, self.log_dir / "build.log")
        return self.build_seconds

    def await_ready(
        self,
        service: str,
        ready: Callable[[ContainerInfo], bool],
        *,
        what: str,
        not_ready: Callable[[ContainerInfo], str],
        timeout: float,
        poll_s: float = 0.5,
    ) -> ContainerInfo:
        """Poll `service` until `ready(info)`; a container that exits first, or a deadline
        passed, is a LabError naming `what` with the service's last log lines."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.one(service)
            if ready(info):
                return info
            if not info.running:
                raise LabError(
                    f"{what} exited (code {info.exit_code}) before it was ready:\n"
                    + tail(self.service_log(info.id)),
                    hint=f"see {self.log_dir / (service + '.log')}",
                )
            if time.monotonic() > deadline:
                raise LabError(
                    f"{what} {not_ready(info)} within {timeout:.0f}s:\n"
                    + tail(self.service_log(info.id)),
                )
            time.sleep(poll_s)

    def wait_healthy(self, service: str, timeout: float = 180.0) -> ContainerInfo:
        return self.await_ready(
            service,
            lambda info: info.health == "healthy",
            what=f"compose service {service}",
            not_ready=lambda info: f"was not healthy (health: {info.health or 'none'})",
            timeout=timeout,
        )

    def start_database(self) -> None:
        self.compose("up", "-d", "--no-build", "postgres", timeout=300)
        self.wait_healthy("postgres")

    def save_log(self, service: str, container_id: str) -> None:
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
        with uninterruptible():
            with contextlib.suppress(LabError, OSError):
                for info in self.containers():
                    if info.service not in (MASTER_SERVICE, WORKER_SERVICE):
                        self.save_log(info.service, info.id)
            done = self.compose(
                "down", "-v", "--remove-orphans", "-t", "10", timeout=300, check=False
            )
            if done.returncode != 0 or any(self.leftovers().values()):
                self._remove_leftovers()
            self._entered = False

    def _remove_leftovers(self) -> None:
        """Whatever compose could not remove is still found by label: one by one."""
        filters = self._filters()
        with contextlib.suppress(*ENGINE_ERRORS):
            for container in self.engine.containers.list(all=True, filters=filters):
                with contextlib.suppress(*ENGINE_ERRORS):
                    container.remove(force=True, v=True)
            for network in self.engine.networks.list(filters=filters):
                with contextlib.suppress(*ENGINE_ERRORS):
                    network.remove()
            for volume in self.engine.volumes.list(filters=filters):
                with contextlib.suppress(*ENGINE_ERRORS):
                    volume.remove(force=True)

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes still labelled with this project."""
        filters = self._filters()
        try:
            return {
                "containers": [
                    c.id for c in self.engine.containers.list(all=True, filters=filters)
                ],
                "networks": [n.id for n in self.engine.networks.list(filters=filters)],
                "volumes": [v.id for v in self.engine.volumes.list(filters=filters)],
            }
        except ENGINE_ERRORS as error:
            raise LabError(f"cannot list what is left of {self.project}: {error}") from None
