"""Workload names: plain modules, parameterised families (`queries-5`), and clear refusals."""

from __future__ import annotations

import random

import pytest

from loadtests.workloads import get_workload, is_workload, workload_names, workloads_problem
from loadtests.workloads.base import SOLD_OUT_EVERY, Draw


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    def get(self, path: str, **kwargs: object) -> None:
        self.calls.append(("GET", path, dict(kwargs)))

    def post(self, path: str, **kwargs: object) -> None:
        self.calls.append(("POST", path, dict(kwargs)))

    def request(self, method: str, path: str, **kwargs: object) -> None:
        self.calls.append((method, path, dict(kwargs)))


def _sent(name: str, times: int = 1) -> list[tuple[str, str, dict]]:
    workload, client = get_workload(name), Recorder()
    draw = Draw(random.Random(1), 2000)
    for _ in range(times):
        workload.pick(draw.rng).send(client, draw, {})
    return client.calls


def test_new_workloads_exist() -> None:
    assert {"db", "fortunes", "pg-sleep", "shop", "trace-replay"} <= set(workload_names())


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("queries", "/queries?queries=20"),
        ("queries-5", "/queries?queries=5"),
        ("updates-20", "/updates?queries=20"),
        ("io", "/io?ms=50"),
        ("io-10", "/io?ms=10"),
        ("pg-sleep", "/pgsleep?ms=50"),
        ("pg-sleep-200", "/pgsleep?ms=200"),
        ("db", "/db"),
        ("fortunes", "/fortunes"),
    ],
)
def test_each_name_sends_its_request(name: str, path: str) -> None:
    assert get_workload(name).name == name
    [(method, sent, _)] = _sent(name)
    assert (method, sent) == ("GET", path)


def test_out_of_range_and_unknown_names_are_explained() -> None:
    problem = workloads_problem(["queries-501", "io-1.5", "nope", "json-3", "db-read"])
    assert problem is not None
    assert "queries-N: N must be an integer from 1 to 500, not '501'" in problem
    assert "io-N: N must be an integer" in problem
    assert "unknown workload(s) nope, json-3; known:" in problem and "queries-N" in problem
    assert workloads_problem(["db-read", "queries-15"]) is None
    assert not is_workload("trace-replay-x")


def test_shop_checks_out_valid_orders() -> None:
    calls = _sent("shop", 400)
    kinds = {(method, kwargs["name"]) for method, _, kwargs in calls}
    assert ("POST", "/orders") in kinds and ("GET", "/products/top") in kinds
    orders = [kwargs["json"] for method, _, kwargs in calls if method == "POST"]
    assert 20 < len(orders) < 80  # about 10%
    for order in orders:
        assert 1 <= order["user_id"] <= 2000
        products = [item["product_id"] for item in order["items"]]
        assert 1 <= len(products) == len(set(products)) <= 3
        assert all(1 <= p < 100 and p % SOLD_OUT_EVERY for p in products)
        assert all(item["quantity"] in (1, 2) for item in order["items"])
