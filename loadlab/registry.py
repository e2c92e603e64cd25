"""The variant registry: one declaration per system under test, read from `data/variants.toml`."""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from loadlab.results import VariantRecord

REGISTRY_PATH = Path(__file__).parent / "data" / "variants.toml"


class UnknownVariantError(ValueError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown variant {name!r}; known variants: {', '.join(known)}")


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    framework: str
    server: str
    worker_class: str
    driver: str
    description: str = ""
    command: list[str] = Field(min_length=1)
    pool_size: int = 10

    def render(
        self, *, host: str, port: int, workers: int, pool_size: int | None = None
    ) -> list[str]:
        values = {
            "host": host,
            "port": str(port),
            "workers": str(workers),
            "pool_size": str(pool_size or self.pool_size),
        }
        return [part.format(**values) for part in self.command]

    def environment(self, *, database_url: str, pool_size: int | None = None) -> dict[str, str]:
        return {"DATABASE_URL": database_url, "LOADLAB_POOL_SIZE": str(pool_size or self.pool_size)}

    def record(
        self,
        *,
        host: str,
        port: int,
        workers: int,
        pool_size: int | None = None,
        cpuset: str | None = None,
    ) -> VariantRecord:
        return VariantRecord(
            name=self.name,
            framework=self.framework,
            server=self.server,
            worker_class=self.worker_class,
            driver=self.driver,
            workers=workers,
            pool_size=pool_size or self.pool_size,
            command=self.render(host=host, port=port, workers=workers, pool_size=pool_size),
            description=self.description,
            cpuset=cpuset,
        )


def _read(path: Path) -> dict[str, Variant]:
    raw = tomllib.loads(path.read_text())
    defaults = raw.get("defaults", {})
    return {
        name: Variant(name=name, **{**defaults, **spec})
        for name, spec in raw.get("variants", {}).items()
    }


@cache
def load_registry(path: Path = REGISTRY_PATH) -> dict[str, Variant]:
    """The registry; LOADLAB_EXTRA_VARIANTS may name a TOML file of further variants
    (your own framework, or a deliberately broken one to test the verification)."""
    variants = _read(path)
    if extra := os.environ.get("LOADLAB_EXTRA_VARIANTS"):
        variants.update(_read(Path(extra)))
    return variants


def variant_names() -> list[str]:
    return list(load_registry())


def get_variant(name: str) -> Variant:
    registry = load_registry()
    if name not in registry:
        raise UnknownVariantError(name, list(registry))
    return registry[name]
