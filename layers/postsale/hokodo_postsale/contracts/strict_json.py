"""JSON as an upstream contract must be read: strictly.

Python's json module accepts `NaN`, `Infinity` and `-Infinity`, turns `1e400` into `inf`, keeps the last
of duplicate keys (`{"amount": 1000, "amount": 2000}` is 2000), and raises RecursionError on deep
nesting. Each of those would let a message through that one reader sees differently from another,
or make it fail later where the reason is lost. Here each is a ValueError with a clear reason.
"""

from __future__ import annotations

import json
import math
from typing import Any


def loads(text: str | bytes) -> Any:
    """Parse `text`; every way it can be refused is a ValueError whose message says why."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def deeper_than(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests more than `limit` levels (a flat object or array is 1). Stops at the limit."""
    if not isinstance(value, (dict, list)):
        return False
    if limit <= 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(deeper_than(child, limit - 1) for child in children)
