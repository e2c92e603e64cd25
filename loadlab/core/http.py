"""A tiny HTTP client for checks (not for load): status and parsed JSON body."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def fetch(url: str, timeout: float = 10.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")
