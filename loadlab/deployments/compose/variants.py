"""One variant at a time on the compose stack: started in a fresh container with the knobs a
cell asks for, checked against the registry, and removed again."""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadlab.core.errors import LabError
from loadlab.core.registry import Knobs, get_variant, variant_names
from loadlab.core.results import VariantRecord, write_json_atomic
from loadlab.deployments.compose.commands import uninterruptible
from loadlab.deployments.compose.containers import ContainerInfo
from loadlab.deployments.compose.settings import SERVICE_HOST, SERVICE_PORT
from loadlab.deployments.compose.stack import ComposeStack


@dataclass
class ComposeVariant:
    """A running variant: `url` from this machine (checks), `internal_url` on the compose
    network (load)."""

    name: str
    url: str
    internal_url: str
    container: ContainerInfo
    variant_record: VariantRecord
    stack: ComposeStack = field(repr=False)

    def record(self) -> VariantRecord:
        return self.variant_record

    def alive(self) -> bool:
        """Still the container this variant was started in (the runner starts a new one)."""
        try:
            return self.container.same_run(self.stack.inspect(self.container.id))
        except LabError:
            return False


class VariantSlot:
    """The stack's one place for a variant: starting one stops whichever ran before."""

    def __init__(self, stack: ComposeStack) -> None:
        self.stack = stack
        self.active: ComposeVariant | None = None

    def file_knobs(self, variant: str) -> Knobs:
        """The knobs docker-compose.yml runs `variant` with: LOADLAB_APP_WORKERS workers,
        LOADLAB_POOL_SIZE connections, every other knob stock."""
        settings = self.stack.settings
        spec = get_variant(variant)
        sizes = {"workers": settings.app_workers, "pool_size": settings.pool_size}
        return spec.settings(
            {k: v for k, v in sizes.items() if k in spec.knobs}, cpus=settings.app_workers
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

        stack, settings = self.stack, self.stack.settings
        spec = get_variant(variant)
        full = spec.settings(dict(knobs or {}), cpus=settings.app_workers)
        expected = spec.render(host=SERVICE_HOST, port=SERVICE_PORT, knobs=full)
        # DATABASE_URL (with the password) stays the compose file's; never written to a file
        expected_env = {
            key: value
            for key, value in spec.environment(database_url="", knobs=full).items()
            if key != "DATABASE_URL"
        }
        for other in variant_names():
            if other != variant and stack.containers(other, running_only=True):
                self.deactivate(other)
        files: list[Path] = []
        if full != self.file_knobs(variant):
            override = stack.log_dir / f"compose.{variant}.yml"
            write_json_atomic(  # JSON is YAML: compose reads it as an override file
                override,
                {"services": {variant: {"command": expected, "environment": expected_env}}},
            )
            files.append(override)
        stack.compose(
            "up", "-d", "--no-build", "--no-deps", "--force-recreate", variant,
            files=files, timeout=300,
        )  # fmt: skip
        url = f"http://127.0.0.1:{settings.ports[variant]}"
        info = stack.await_ready(
            variant,
            lambda _info: healthy(url),
            what=f"variant {variant}",
            not_ready=lambda _info: "did not answer /healthz",
            timeout=timeout,
            poll_s=0.25,
        )
        how = f"with the override {files[0]}" if files else "as docker-compose.yml declares it"
        if info.cmd != expected:
            raise LabError(
                f"compose runs {variant} ({how}) as `{shlex.join(info.cmd)}`, "
                f"but the registry says `{shlex.join(expected)}`",
                hint="make the compose service's command the one in loadlab/data/variants.toml",
            )
        running_env = dict(item.partition("=")[::2] for item in info.env)
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
            cpuset=settings.cpusets["app"],
        )  # fmt: skip
        self.active = ComposeVariant(
            name=variant,
            url=url,
            internal_url=f"http://{variant}:{SERVICE_PORT}",
            container=info,
            variant_record=record,
            stack=stack,
        )
        return self.active

    def deactivate(self, variant: str) -> None:
        for info in self.stack.containers(variant):
            self.stack.save_log(variant, info.id)
        self.stack.compose("rm", "-s", "-f", "-v", variant, timeout=120)
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
            with uninterruptible():
                self.deactivate(variant)
