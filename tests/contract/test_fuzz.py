"""Every variant fuzzed with schemathesis against the one hand-written contract,
services/openapi.yaml: valid and invalid inputs alike must never get a 5xx, never hang, and
always get a documented status code with a body that fits the contract (the `{"error": ...}`
body on every 4xx); input outside the contract must be refused with a 4xx, input inside it
must not be. Each generated request goes to every variant of the registry, which must also
agree on its status code.

The servers run against their own database in the contract tests' cluster, so the writes the
fuzzer makes (POST /orders, /updates) cannot disturb the other contract tests' data.

Budget: LOADLAB_FUZZ_EXAMPLES examples per operation (default 100, which CI runs); a longer hunt:

    LOADLAB_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/contract/test_fuzz.py -x -q
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from loadlab.core.registry import load_registry
from loadlab.deployments.appserver import AppServer
from loadlab.deployments.postgres import PostgresCluster
from services.seed import seed
from tests.contract.conftest import POOL_SIZE, SCALE, WORKERS

pytestmark = pytest.mark.slow

CONTRACT = Path(__file__).resolve().parents[2] / "services" / "openapi.yaml"
EXAMPLES = int(os.environ.get("LOADLAB_FUZZ_EXAMPLES", "100"))
# /io and /pgsleep may sleep up to 10 s; the fuzz caps what it asks for so the budget buys
# input shapes, not waiting. A request that takes longer than this counts as a hang.
SLEEPERS = {"/io", "/pgsleep"}
IO_CAP_MS = 20
REQUEST_TIMEOUT_S = 15.0
FUZZ_DB = "loadlab_fuzz"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,  # input outside the contract gets a 4xx
    positive_data_acceptance,  # input inside it is not refused as bad (a 404 is fine)
]
# A valid order body may still be refused: a product_id repeated (JSON Schema cannot say
# "unique by key"), an unknown user or product, stock gone. Those are documented 4xx.
MAY_REFUSE_VALID_INPUT = {("POST", "/orders")}

schema = schemathesis.openapi.from_path(str(CONTRACT))
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES
)

# examples sent per operation (each one to every variant), shown with `pytest -s`
SENT: Counter[str] = Counter()


@dataclass(frozen=True)
class Target:
    url: str
    session: requests.Session


@pytest.fixture(scope="module")
def fuzz_targets(cluster: PostgresCluster) -> Iterator[dict[str, Target]]:
    """Every registered variant, serving a database of its own seeded like the shared one."""
    with psycopg.connect(cluster.admin_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {FUZZ_DB}")
        conn.execute(f"CREATE DATABASE {FUZZ_DB} OWNER loadlab")
    dsn = cluster.dsn().rsplit("/", 1)[0] + f"/{FUZZ_DB}"
    seed(dsn, SCALE)
    log_dir = Path(tempfile.mkdtemp(prefix="loadlab-fuzz-logs-"))
    with contextlib.ExitStack() as stack:
        targets: dict[str, Target] = {}
        for variant in load_registry().values():
            server = AppServer(variant, dsn, log_dir, workers=WORKERS, pool_size=POOL_SIZE)
            stack.callback(server.stop)
            server.start()
            session = stack.enter_context(requests.Session())
            targets[variant.name] = Target(server.url, session)
        yield targets
    shutil.rmtree(log_dir, ignore_errors=True)
    print("\nfuzz examples per operation (each sent to every variant):", dict(SENT))


def _cap_sleep(case: schemathesis.Case) -> None:
    """A valid sleep (an int, or the string of one as the coverage phase sends it) is
    shortened; invalid ones go as generated."""
    ms = (case.query or {}).get("ms")
    if case.path not in SLEEPERS or isinstance(ms, bool) or not isinstance(ms, int | str):
        return
    try:
        value = int(str(ms), 10)
    except ValueError:
        return
    if IO_CAP_MS < value <= 10_000 and str(ms) == str(value):
        case.query["ms"] = type(ms)(value % (IO_CAP_MS + 1))


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_variant_honours_the_contract(
    case: schemathesis.Case, fuzz_targets: dict[str, Target]
) -> None:
    _cap_sleep(case)
    SENT[f"{case.method} {case.path}"] += 1
    statuses: dict[str, int] = {}
    for name, target in fuzz_targets.items():
        try:
            response = case.call(
                base_url=target.url, session=target.session, timeout=REQUEST_TIMEOUT_S
            )
        except requests.Timeout:
            pytest.fail(
                f"{name} did not answer within {REQUEST_TIMEOUT_S:.0f}s (a hang):\n"
                f"{case.as_curl_command(base_url=target.url)}"
            )
        checks = CHECKS
        if (case.method, case.path) in MAY_REFUSE_VALID_INPUT:
            checks = [check for check in CHECKS if check is not positive_data_acceptance]
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, BaseExceptionGroup) as failure:  # one failure, or several
            failure.add_note(f"variant: {name} at {target.url}")
            raise
        statuses[name] = response.status_code
    # Whether an order is placed (201) or refused for stock (409) depends on what the
    # variant before took; every other answer depends on the request alone.
    if not set(statuses.values()) <= {201, 409}:
        assert len(set(statuses.values())) == 1, (
            f"the variants disagree on {case.method} {case.formatted_path}: {statuses}\n"
            f"{case.as_curl_command(base_url=next(iter(fuzz_targets.values())).url)}"
        )
