"""The shape of a workload: weighted requests, each sending exactly one HTTP call."""

from __future__ import annotations

import itertools
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from labcontract.dataset import SOLD_OUT_EVERY, products_for_users

if TYPE_CHECKING:
    from loadtests.replay import Replay


class Client(Protocol):
    def get(self, path: str, **kwargs: Any) -> Any: ...
    def post(self, path: str, **kwargs: Any) -> Any: ...
    def request(self, method: str, path: str, **kwargs: Any) -> Any: ...


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

    @property
    def products_seeded(self) -> int:
        return products_for_users(self.users_seeded)

    def order(self) -> dict[str, Any]:
        """A checkout that succeeds: 1-3 distinct products in stock, one or two of each."""
        # the top id may be off by one from the seeded count (rounding); sold-out ids are
        # multiples of SOLD_OUT_EVERY (labcontract.dataset) and would answer 409
        candidates = self.rng.sample(range(1, self.products_seeded), 4)
        in_stock = [p for p in candidates if p % SOLD_OUT_EVERY] or [1]
        products = in_stock[: self.rng.randint(1, 3)]
        return {
            "user_id": self.user_id(),
            "items": [{"product_id": p, "quantity": self.rng.randint(1, 2)} for p in products],
        }


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
    # a trace replay sends recorded requests at their recorded times instead of picking
    replay: Replay | None = None
    # cumulative weights, once: `choices(weights=...)` would add them up on every request
    _cum_weights: list[int] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_cum_weights", list(itertools.accumulate(r.weight for r in self.requests))
        )

    def pick(self, rng: random.Random) -> Request:
        if len(self.requests) == 1:
            return self.requests[0]
        return rng.choices(self.requests, cum_weights=self._cum_weights, k=1)[0]


def get(path: str, name: str | None = None) -> Send:
    """A request that GETs a fixed path."""

    def send(client: Client, _draw: Draw, context: dict[str, Any]) -> None:
        client.get(path, name=name or path, context=context)

    return send


def number(raw: str, family: str, low: float, high: float, *, integer: bool = True) -> float:
    """The numeric parameter of a workload family (`queries-5`), checked against its range."""
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{family}-N: N must be {kind} from {low:g} to {high:g}, not {raw!r}")
    return value


def single_get(
    name: str, path: str, description: str, regime: str, stats_name: str | None = None
) -> Workload:
    """A workload of one request, a GET of `path` (reported under `stats_name`, default the
    path): the shape of every parameterised family."""
    label = stats_name or path
    return Workload(
        name=name,
        description=description,
        regime=regime,
        requests=[Request(label, 1, get(path, name=stats_name))],
    )
