"""The shape of a workload: weighted requests, each sending exactly one HTTP call."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Client(Protocol):
    def get(self, path: str, **kwargs: Any) -> Any: ...
    def post(self, path: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Draw:
    """What a request may draw on: a seeded RNG and the size of the seeded data."""

    rng: random.Random
    users_seeded: int

    def user_id(self) -> int:
        return self.rng.randint(1, self.users_seeded)

    def name(self) -> str:
        # the published MySQL benchmark: a random 1-253 character name, nearly always a miss
        length = self.rng.randint(1, 253)
        return "".join(self.rng.choices(string.ascii_letters + string.digits, k=length))


Send = Callable[[Client, Draw, dict[str, Any]], None]


@dataclass(frozen=True)
class Request:
    name: str
    weight: int
    send: Send


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    regime: str  # "framework", "io", "db": which published claims it speaks to
    requests: list[Request]
    _weights: list[int] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_weights", [r.weight for r in self.requests])

    def pick(self, rng: random.Random) -> Request:
        return rng.choices(self.requests, weights=self._weights, k=1)[0]


def get(path: str, name: str | None = None) -> Send:
    """A request that GETs a fixed path."""

    def send(client: Client, _draw: Draw, context: dict[str, Any]) -> None:
        client.get(path, name=name or path, context=context)

    return send
