"""The TechEmpower benchmark rules both frameworks follow: random ids and the fortunes page."""

from __future__ import annotations

import random
from collections.abc import Iterable

from jinja2 import Environment

from services.common.serializers import Row

WORLD_ROWS = 10_000
ADDITIONAL_FORTUNE = (0, "Additional fortune added at request time.")

_FORTUNES_TEMPLATE = Environment(autoescape=True).from_string(
    "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
    "<tr><th>id</th><th>message</th></tr>"
    "{% for id, message in fortunes %}<tr><td>{{ id }}</td><td>{{ message }}</td></tr>{% endfor %}"
    "</table></body></html>"
)


def random_world_id() -> int:
    return random.randint(1, WORLD_ROWS)


def random_world_ids(count: int) -> list[int]:
    """Distinct ids for /updates: a repeated id would be written twice in one transaction
    and the response would report a value the table no longer holds."""
    return random.sample(range(1, WORLD_ROWS + 1), count)


def random_number() -> int:
    return random.randint(1, WORLD_ROWS)


def render_fortunes(rows: Iterable[Row]) -> str:
    """Both frameworks render with the same Jinja template: the fortunes plus the runtime
    one, sorted by message, HTML-escaped."""
    fortunes = [(row["id"], row["message"]) for row in rows]
    fortunes.append(ADDITIONAL_FORTUNE)
    fortunes.sort(key=lambda fortune: fortune[1])
    return _FORTUNES_TEMPLATE.render(fortunes=fortunes)
