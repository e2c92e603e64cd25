"""The variant registry: one declaration per system under test, read from `data/variants.toml`.

A variant declares its knobs (workers, threads, pool size, HTTP parser, ...) with a stock value
and the candidates `loadlab tune` searches; the registry's `[knobs]` catalogue gives each
knob's meaning and range. `Variant.settings` turns stock values plus overrides into the
complete, validated set a server is started with; `render` and `environment` turn that set
into the command line and the environment, the same for every backend.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loadlab.core.paths import PACKAGE_DIR
from loadlab.core.results import VariantRecord

REGISTRY_PATH = PACKAGE_DIR / "data" / "variants.toml"
CPUS = "cpus"  # a stock value: the number of CPUs given to the app

KnobValue = int | str | bool
Knobs = dict[str, KnobValue]


class UnknownVariantError(ValueError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown variant {name!r}; known variants: {', '.join(known)}")


class KnobError(ValueError):
    """An unknown knob, or a value outside a knob's range; the message names both."""


class Knob(BaseModel):
    """One entry of the catalogue: what the knob means and which values it takes."""

    model_config = ConfigDict(extra="forbid")

    name: str
    help: str
    kind: Literal["int", "bool", "choice"]
    min: int | None = None
    max: int | None = None
    choices: list[str] = Field(default_factory=list)

    @property
    def range(self) -> str:
        if self.kind == "int":
            return f"an integer from {self.min} to {self.max}"
        if self.kind == "bool":
            return "true or false"
        return "one of " + ", ".join(self.choices)

    def check(self, value: Any, *, where: str = "") -> KnobValue:
        """The value as the knob's type, or a KnobError naming the knob and its range."""
        label = f"{where}{self.name}"
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"true", "1", "yes", "on"}:
                return True
            if text in {"false", "0", "no", "off"}:
                return False
        elif self.kind == "int":
            try:
                number = int(str(value).strip()) if not isinstance(value, bool) else None
            except ValueError:
                number = None
            low = self.min if self.min is not None else number
            high = self.max if self.max is not None else number
            if (
                number is not None
                and low is not None
                and high is not None
                and low <= number <= high
            ):
                return number
        elif str(value) in self.choices:
            return str(value)
        raise KnobError(f"knob {label}={value} is out of range: {self.name} takes {self.range}")

    def text(self, value: KnobValue) -> str:
        """The value as it goes into a command line or an environment variable."""
        if self.kind == "bool":
            return "1" if value else "0"
        return str(value)


class KnobSetting(BaseModel):
    """A variant's use of one knob: its stock value and the tuner's candidates."""

    model_config = ConfigDict(extra="forbid")

    stock: KnobValue
    search: list[KnobValue] = Field(default_factory=list)


class Variant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    framework: str
    server: str
    worker_class: str
    driver: str
    description: str = ""
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    knobs: dict[str, KnobSetting] = Field(default_factory=dict)
    catalogue: dict[str, Knob] = Field(default_factory=dict, exclude=True)

    @property
    def pool_size(self) -> int:
        """The stock pool size per process."""
        return int(self.knobs["pool_size"].stock) if "pool_size" in self.knobs else 10

    def knob(self, name: str) -> Knob:
        if name not in self.knobs:
            raise KnobError(
                f"variant {self.name} has no knob {name!r}; its knobs: {', '.join(self.knobs)}"
            )
        return self.catalogue[name]

    def stock(self, cpus: int) -> Knobs:
        return {
            name: cpus if setting.stock == CPUS else setting.stock
            for name, setting in self.knobs.items()
        }

    def settings(self, overrides: Mapping[str, Any] | None = None, *, cpus: int) -> Knobs:
        """Stock values with `overrides` applied, every one checked against its range."""
        values = self.stock(cpus)
        for name, value in (overrides or {}).items():
            values[name] = self.knob(name).check(value, where=f"{self.name}.")
        return values

    def candidates(self, name: str, cpus: int) -> list[KnobValue]:
        """What the tuner tries for a knob: the stock value first, then the search list."""
        setting = self.knobs[name]
        stock = cpus if setting.stock == CPUS else setting.stock
        return list(dict.fromkeys([stock, *setting.search]))

    def complete(self, knobs: Mapping[str, Any] | None, overrides: Mapping[str, Any]) -> Knobs:
        """`knobs` (complete or not) and keyword overrides (`workers=2`), as a complete set;
        missing knobs take their stock value, with "cpus" read as the workers given."""
        given = {**(knobs or {}), **{k: v for k, v in overrides.items() if v is not None}}
        cpus = int(given.get("workers") or 1)
        return self.settings(given, cpus=cpus)

    def _texts(self, knobs: Knobs) -> dict[str, str]:
        return {name: self.catalogue[name].text(value) for name, value in knobs.items()}

    def render(
        self, *, host: str, port: int, knobs: Mapping[str, Any] | None = None, **overrides: Any
    ) -> list[str]:
        values = {"host": host, "port": str(port), **self._texts(self.complete(knobs, overrides))}
        return [part.format(**values) for part in self.command]

    def environment(
        self, *, database_url: str, knobs: Mapping[str, Any] | None = None, **overrides: Any
    ) -> dict[str, str]:
        values = self._texts(self.complete(knobs, overrides))
        return {
            "DATABASE_URL": database_url,
            "LOADLAB_POOL_SIZE": values.get("pool_size", "10"),
            **{key: template.format(**values) for key, template in self.env.items()},
        }

    def record(
        self,
        *,
        host: str,
        port: int,
        knobs: Mapping[str, Any] | None = None,
        profile: str = "stock",
        cpuset: str | None = None,
        **overrides: Any,
    ) -> VariantRecord:
        full = self.complete(knobs, overrides)
        return VariantRecord(
            name=self.name,
            framework=self.framework,
            server=self.server,
            worker_class=self.worker_class,
            driver=self.driver,
            workers=int(full.get("workers", 1)),
            pool_size=int(full.get("pool_size", self.pool_size)),
            command=self.render(host=host, port=port, knobs=full),
            description=self.description,
            cpuset=cpuset,
            knobs=full,
            profile=profile,
        )


def _catalogue(raw: dict[str, Any]) -> dict[str, Knob]:
    return {name: Knob(name=name, **spec) for name, spec in raw.get("knobs", {}).items()}


def _read(path: Path, catalogue: dict[str, Knob] | None = None) -> dict[str, Variant]:
    raw = tomllib.loads(path.read_text())
    knobs = {**(catalogue or {}), **_catalogue(raw)}
    variants = {}
    for name, spec in raw.get("variants", {}).items():
        variant = Variant(name=name, catalogue=knobs, **spec)
        unknown = [k for k in variant.knobs if k not in knobs]
        if unknown:
            raise KnobError(f"{path}: variant {name} declares unknown knob(s) {', '.join(unknown)}")
        for knob, setting in variant.knobs.items():
            for value in [setting.stock, *setting.search]:
                if value != CPUS:
                    knobs[knob].check(value, where=f"{path}: {name}.")
        variants[name] = variant
    return variants


@cache
def load_registry(path: Path = REGISTRY_PATH) -> dict[str, Variant]:
    """The registry; LOADLAB_EXTRA_VARIANTS may name a TOML file of further variants
    (your own framework, or a deliberately broken one to test the verification)."""
    variants = _read(path)
    if extra := os.environ.get("LOADLAB_EXTRA_VARIANTS"):
        variants.update(_read(Path(extra), catalogue=knob_catalogue(path)))
    return variants


@cache
def knob_catalogue(path: Path = REGISTRY_PATH) -> dict[str, Knob]:
    return _catalogue(tomllib.loads(path.read_text()))


def variant_names() -> list[str]:
    return list(load_registry())


def get_variant(name: str) -> Variant:
    """The registry's variant; an arm ("X#label") is variant X."""
    registry = load_registry()
    base = base_variant(name)
    if base not in registry:
        raise UnknownVariantError(name, list(registry))
    return registry[base]


def base_variant(name: str) -> str:
    """The registry variant an A/A arm serves: `fastapi-async#b` -> `fastapi-async` (a plain
    name is its own base). An arm is the same server, measured as if it were another variant."""
    return name.split("#", 1)[0]
