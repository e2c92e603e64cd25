"""Flask's JSON on orjson (LOADLAB_JSON=orjson): the bytes the FastAPI variants send.

Flask's stock provider sorts keys, escapes non-ASCII as \\uXXXX and ends every body with a
newline; FastAPI's default JSON response is compact, keeps keys in insertion order and sends
UTF-8. orjson produces exactly FastAPI's form, so with this provider the same response is
the same bytes on both frameworks (tests/contract/test_json_bytes.py checks it against the
running servers), and a Flask/FastAPI comparison measures the frameworks, not two encoders.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import orjson
from flask import Response
from flask.json.provider import JSONProvider

_COMPACT = (",", ":")


def _default(value: Any) -> Any:
    """What orjson does not encode itself (it does datetimes, UUIDs and dataclasses)."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class OrjsonProvider(JSONProvider):
    mimetype = "application/json"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """orjson's text; Flask's own callers pass at most sort_keys, indent=2 and compact
        separators, which orjson expresses. Anything else goes to the standard library."""
        option = 0
        if kwargs.pop("sort_keys", False):
            option |= orjson.OPT_SORT_KEYS
        indent = kwargs.pop("indent", None)
        if indent == 2:
            option |= orjson.OPT_INDENT_2
        separators = kwargs.pop("separators", None)
        if kwargs or indent not in (None, 2) or separators not in (None, _COMPACT):
            kwargs.setdefault("default", _default)
            kwargs.setdefault("ensure_ascii", False)
            return json.dumps(obj, indent=indent, separators=separators, **kwargs)
        return orjson.dumps(obj, default=_default, option=option).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s) if not kwargs else json.loads(s, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        # bytes straight into the response, and no trailing newline (FastAPI sends none)
        body = orjson.dumps(self._prepare_response_obj(args, kwargs), default=_default)
        return self._app.response_class(body, mimetype=self.mimetype)
