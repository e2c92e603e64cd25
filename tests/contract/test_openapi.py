"""services/openapi.yaml, the contract both frameworks are fuzzed against, describes exactly
the routes the app of every registered variant serves: FastAPI's generated schema and
Flask's URL map agree with it on paths, methods and the success status. (FastAPI's schema
says little about parameters: every variant takes them as raw strings and validates them
with the shared parsers.)"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadlab.core.registry import get_variant, variant_names

CONTRACT = Path(__file__).resolve().parents[2] / "services" / "openapi.yaml"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return dict(yaml.safe_load(CONTRACT.read_text()))


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    """(METHOD, path) -> the 2xx status codes documented for it."""
    return {
        (method.upper(), path): {code for code in operation["responses"] if code.startswith("2")}
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def test_the_contract_loads_as_an_openapi_schema(contract: dict[str, Any]) -> None:
    import schemathesis

    schema = schemathesis.openapi.from_path(str(CONTRACT))
    assert contract["openapi"].startswith("3.")
    # .ok() raises on an operation that does not resolve (a dangling $ref, a bad schema)
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == {f"{method} {path}" for method, path in _operations(contract)}


def _served_app(variant: str) -> Any:
    """The application object a variant's command line serves (its last argument)."""
    module, _, attribute = get_variant(variant).command[-1].partition(":")
    return getattr(importlib.import_module(module), attribute)


def _flask_operations(app: Any) -> set[tuple[str, str]]:
    served: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        served |= {(method, path) for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    return served


@pytest.mark.parametrize("variant", variant_names())
def test_every_variant_serves_exactly_the_contract(variant: str, contract: dict[str, Any]) -> None:
    app = _served_app(variant)
    framework = get_variant(variant).framework
    if framework == "fastapi":
        assert _operations(app.openapi()) == _operations(contract)
    elif framework == "flask":
        assert _flask_operations(app) == set(_operations(contract))
    else:
        pytest.fail(f"{variant}: no check for framework {framework!r}")
