"""The four images of the Dockerfile: built with BuildKit (the CLI: the SDK's build has no
BuildKit, and the Dockerfile's build secret and cache need it), read through the SDK."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT
from loadlab.deployments.compose.commands import run
from loadlab.deployments.compose.engine import ENGINE_ERRORS, buildkit_client
from loadlab.deployments.compose.settings import DOCKERFILE, TARGETS

# what `python -c` prints inside an image: its Python and every installed package
_SOFTWARE_PROBE = (
    "import json, platform, importlib.metadata as m; print(json.dumps({'python': "
    "platform.python_version(), 'packages': {d.metadata['Name'].lower(): d.version "
    "for d in m.distributions()}}))"
)


class Images:
    def __init__(self, engine: docker.DockerClient, tag: str) -> None:
        self.engine = engine
        self.tag = tag

    def name(self, target: str) -> str:
        return f"loadlab/{target}:{self.tag}"

    def ids(self) -> dict[str, str]:
        found = {}
        for target in TARGETS:
            with contextlib.suppress(docker.errors.ImageNotFound):
                found[self.name(target)] = str(self.engine.images.get(self.name(target)).id)
        return found

    def build(self, env: dict[str, str], log: Path) -> float:
        """Build the four images (cached layers make a rebuild take seconds); the seconds."""
        builder = buildkit_client()
        ca_bundle = os.environ.get("LOADLAB_BUILD_CA_BUNDLE", "").strip()
        if ca_bundle and not Path(ca_bundle).is_file():
            raise LabError(f"LOADLAB_BUILD_CA_BUNDLE={ca_bundle} is not a file")
        previous = self.ids()
        started = time.monotonic()
        for target in TARGETS:
            argv = [builder, "build", "--progress=plain", "-f", str(DOCKERFILE), "--target", target,
                    "-t", self.name(target)]  # fmt: skip
            if ca_bundle:
                argv += ["--secret", f"id=ca_bundle,src={ca_bundle}"]
            run(
                [*argv, str(REPO_ROOT)],
                env={**env, "DOCKER_BUILDKIT": "1"},
                timeout=1800,
                log=log,
                what=f"building image {self.name(target)}",
            )
        seconds = round(time.monotonic() - started, 1)
        # a rebuilt tag leaves its old image dangling: remove it (kept if a container uses it)
        current = self.ids()
        for image, old_id in previous.items():
            if current.get(image) != old_id:
                with contextlib.suppress(*ENGINE_ERRORS):
                    self.engine.images.remove(old_id)
        return seconds

    def software(self, targets: Sequence[str] = ("app", "locust")) -> dict[str, Any]:
        """Python and every package as installed in the images (not on this machine)."""
        found: dict[str, Any] = {}
        for target in targets:
            try:
                out = self.engine.containers.run(
                    self.name(target), ["python", "-c", _SOFTWARE_PROBE],
                    remove=True, network_mode="none", stderr=False,
                )  # fmt: skip
                facts = json.loads(out.decode().strip().splitlines()[-1])
            except (*ENGINE_ERRORS, ValueError, IndexError):
                continue
            packages = facts.get("packages", {})
            found[self.name(target)] = {
                "python": facts.get("python", ""),
                "packages": {name: packages[name] for name in sorted(packages)},
            }
        return found
