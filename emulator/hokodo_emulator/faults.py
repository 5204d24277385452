"""Fault injection for the public API: latency, random error rates and one-shot faults."""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

_DETAILS = {
    500: "A server error occurred.",
    502: "Bad gateway.",
    503: "Service unavailable.",
    504: "Gateway timeout.",
}


class FaultConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    """One fault to apply to one request. Exactly one of the kinds is set."""

    status: int | None = None
    retry_after: int | None = None
    timeout: float | None = None
    drop: bool = False
    drop_after_apply: bool = False
    path_contains: str | None = None

    @property
    def label(self) -> str:
        if self.status is not None:
            return f"status:{self.status}"
        if self.timeout is not None:
            return f"timeout:{self.timeout:g}"
        return "drop" if self.drop else "drop_after_apply"

    def response(self) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, DRF-style body and headers of an injected status fault."""
        assert self.status is not None
        headers: dict[str, str] = {}
        if self.status == 429:
            wait = self.retry_after if self.retry_after is not None else 1
            unit = "second" if wait == 1 else "seconds"
            headers["Retry-After"] = str(wait)
            return 429, {"detail": f"Request was throttled. Expected available in {wait} {unit}."}, headers
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return self.status, {"detail": _DETAILS.get(self.status, "Injected fault.")}, headers

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.status is not None:
            out["status"] = self.status
            if self.retry_after is not None:
                out["retry_after"] = self.retry_after
        elif self.timeout is not None:
            out["timeout"] = self.timeout
        elif self.drop:
            out["drop"] = True
        else:
            out["drop_after_apply"] = True
        if self.path_contains is not None:
            out["path_contains"] = self.path_contains
        return out


def _number(value: Any, name: str, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise FaultConfigError(f"{name} must be a non-negative number")
    if integer and not isinstance(value, int):
        raise FaultConfigError(f"{name} must be an integer")
    return value


def parse_fault(spec: Any) -> Fault:
    if not isinstance(spec, dict):
        raise FaultConfigError("a fault must be an object")
    unknown = set(spec) - {"status", "retry_after", "timeout", "drop", "drop_after_apply", "path_contains"}
    if unknown:
        raise FaultConfigError(f"unknown fault keys: {sorted(unknown)}")
    kinds = [k for k in ("status", "timeout", "drop", "drop_after_apply") if spec.get(k) not in (None, False)]
    if len(kinds) != 1:
        raise FaultConfigError("a fault needs exactly one of status, timeout, drop, drop_after_apply")
    path = spec.get("path_contains")
    if path is not None and not isinstance(path, str):
        raise FaultConfigError("path_contains must be a string")
    kind = kinds[0]
    if kind == "status":
        status = spec["status"]
        if type(status) is not int or not 400 <= status <= 599:
            raise FaultConfigError("status must be an integer 400-599")
        retry = spec.get("retry_after")
        if retry is not None:
            retry = int(_number(retry, "retry_after", integer=True))
        return Fault(status=status, retry_after=retry, path_contains=path)
    if kind == "timeout":
        return Fault(timeout=_number(spec["timeout"], "timeout"), path_contains=path)
    if spec[kind] is not True:
        raise FaultConfigError(f"{kind} must be true")
    return Fault(drop=kind == "drop", drop_after_apply=kind == "drop_after_apply", path_contains=path)


def parse_error_rates(rates: Any) -> dict[int, float]:
    if rates is None:
        return {}
    if not isinstance(rates, dict):
        raise FaultConfigError('error_rates must be an object like {"503": 0.2}')
    out: dict[int, float] = {}
    for key, value in rates.items():
        try:
            status = int(key)
        except (TypeError, ValueError):
            raise FaultConfigError(f"bad status {key!r}") from None
        if not 400 <= status <= 599:
            raise FaultConfigError(f"bad status {key!r}")
        p = _number(value, f"error rate of {key}")
        if p > 1:
            raise FaultConfigError("error rates are probabilities between 0 and 1")
        out[status] = float(p)
    if sum(out.values()) > 1 + 1e-9:
        raise FaultConfigError("error rates add up to more than 1")
    return out


class Faults:
    """Thread-safe fault configuration. ``take(path)`` decides the fault of one API request."""

    def __init__(self, seed: int | None = None, latency_ms: float = 0, error_rates: Any = None) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)
        self._initial = (latency_ms, error_rates)
        self.latency_ms = 0.0
        self.error_rates: dict[int, float] = {}
        self._next: deque[Fault] = deque()
        self.configure(latency_ms=latency_ms, error_rates=error_rates)

    def configure(self, latency_ms: Any = 0, error_rates: Any = None, next: Any = None) -> None:
        latency = _number(latency_ms or 0, "latency_ms")
        rates = parse_error_rates(error_rates)
        if next is not None and not isinstance(next, list):
            raise FaultConfigError("next must be a list of faults")
        queue = deque(parse_fault(f) for f in next or [])
        with self._lock:
            self.latency_ms, self.error_rates, self._next = latency, rates, queue

    def add(self, specs: Any) -> None:
        if isinstance(specs, dict):
            specs = [specs]
        if not isinstance(specs, list):
            raise FaultConfigError("expected a fault or a list of faults")
        faults = [parse_fault(s) for s in specs]
        with self._lock:
            self._next.extend(faults)

    def clear(self) -> None:
        self.configure()

    def reset(self) -> None:
        """Back to the configuration given at start, with the random generator re-seeded."""
        with self._lock:
            self._rng = random.Random(self._seed)
        self.configure(latency_ms=self._initial[0], error_rates=self._initial[1])

    def latency(self) -> float:
        with self._lock:
            return self.latency_ms / 1000.0

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._next:
                if fault.path_contains is None or fault.path_contains in path:
                    self._next.remove(fault)
                    return fault
            if self.error_rates:
                roll = self._rng.random()
                for status, p in sorted(self.error_rates.items()):
                    if roll < p:
                        return Fault(status=status, retry_after=1 if status == 429 else None)
                    roll -= p
        return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "error_rates": {str(k): v for k, v in sorted(self.error_rates.items())},
                "next": [f.to_dict() for f in self._next],
            }
