"""Fault injection for the public API: latency, random error rates and queued faults (each for `count` requests)."""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from dataclasses import dataclass, fields, replace
from typing import Any

from .web import Response

_DETAILS = {
    500: "A server error occurred.",
    502: "Bad gateway.",
    503: "Service unavailable.",
    504: "Gateway timeout.",
}
_KINDS = ("status", "timeout", "trickle", "drop", "drop_after_apply")
_STATUS_OPTIONS = ("retry_after", "body", "headers")
_KEYS = {*_KINDS, *_STATUS_OPTIONS, "path_contains", "count"}
_NO_BODY = (204, 304)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_FRAMING = {"content-length", "transfer-encoding", "connection"}  # the server's own business


class FaultConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    """A fault for the next `count` API requests whose path contains `path_contains`.
    Exactly one kind is set: status, timeout, trickle, drop or drop_after_apply."""

    status: int | None = None
    retry_after: int | None = None
    body: Any = None  # a JSON value, or a str sent as text/plain; None: a DRF-style detail
    headers: dict[str, str] | None = None
    timeout: float | None = None
    trickle: float | None = None  # seconds between the bytes of the response
    drop: bool = False
    drop_after_apply: bool = False
    path_contains: str | None = None
    count: int = 1

    @property
    def label(self) -> str:
        if self.status is not None:
            return f"status:{self.status}"
        if self.timeout is not None:
            return f"timeout:{self.timeout:g}"
        if self.trickle is not None:
            return f"trickle:{self.trickle:g}"
        return "drop" if self.drop else "drop_after_apply"

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains in path

    def response(self) -> Response:
        """The injected answer of a status fault: a DRF-style detail unless a body was given."""
        assert self.status is not None
        headers: dict[str, str] = {}
        detail = _DETAILS.get(self.status, "Injected fault.")
        if self.status == 429:
            wait = self.retry_after if self.retry_after is not None else 1
            headers["Retry-After"] = str(wait)
            detail = f"Request was throttled. Expected available in {wait} second{'' if wait == 1 else 's'}."
        elif self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        if isinstance(self.body, str):
            response = Response(self.status, raw=self.body.encode(), content_type="text/plain; charset=utf-8")
        else:
            default = None if self.status in _NO_BODY else {"detail": detail}
            response = Response(self.status, default if self.body is None else self.body)
        custom = self.headers or {}
        response.headers = {k: v for k, v in headers.items() if k.lower() not in {n.lower() for n in custom}}
        for name, value in custom.items():
            if name.lower() == "content-type":
                response.content_type = value
            else:
                response.headers[name] = value
        return response

    def to_dict(self) -> dict[str, Any]:
        """The fault as given (what differs from the defaults); `count` is what is left of it."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}


def _number(value: Any, name: str, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise FaultConfigError(f"{name} must be a non-negative number")
    if integer and not isinstance(value, int):
        raise FaultConfigError(f"{name} must be an integer")
    return value


def parse_fault(spec: Any) -> Fault:
    if not isinstance(spec, dict):
        raise FaultConfigError("a fault must be an object")
    unknown = set(spec) - _KEYS
    if unknown:
        raise FaultConfigError(f"unknown fault keys: {sorted(unknown)}")
    kinds = [k for k in _KINDS if spec.get(k) not in (None, False)]
    if len(kinds) != 1:
        raise FaultConfigError(f"a fault needs exactly one of {', '.join(_KINDS)}")
    kind = kinds[0]
    if kind != "status" and any(spec.get(k) is not None for k in _STATUS_OPTIONS):
        raise FaultConfigError(f"{', '.join(_STATUS_OPTIONS)} go with a status fault only")
    path = spec.get("path_contains")
    if path is not None and not isinstance(path, str):
        raise FaultConfigError("path_contains must be a string")
    count = spec.get("count", 1)
    if type(count) is not int or count < 1:
        raise FaultConfigError("count must be a positive integer")
    common: dict[str, Any] = {"path_contains": path, "count": count}
    if kind == "status":
        return _status_fault(spec, common)
    if kind in ("timeout", "trickle"):
        return Fault(**{kind: _number(spec[kind], kind)}, **common)
    if spec[kind] is not True:
        raise FaultConfigError(f"{kind} must be true")
    return Fault(**{kind: True}, **common)


def _status_fault(spec: dict[str, Any], common: dict[str, Any]) -> Fault:
    status = spec["status"]
    if type(status) is not int or not 200 <= status <= 599:
        raise FaultConfigError("status must be an integer 200-599")
    retry = spec.get("retry_after")
    if retry is not None:
        retry = int(_number(retry, "retry_after", integer=True))
    body = spec.get("body")
    if body is not None and status in _NO_BODY:
        raise FaultConfigError(f"a {status} has no body")
    return Fault(status=status, retry_after=retry, body=body, headers=_headers(spec.get("headers")), **common)


def _headers(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise FaultConfigError('headers must be an object of strings, e.g. {"Location": "https://elsewhere/"}')
    for name, text in value.items():
        if not _TOKEN.fullmatch(name) or name.lower() in _FRAMING:
            raise FaultConfigError(f"header name {name!r} is not allowed")
        if any(c in text for c in "\r\n\0"):
            raise FaultConfigError(f"header {name!r} has a control character")
    return dict(value)


RANDOM_KINDS = ("timeout", "drop", "drop_after_apply")  # besides HTTP statuses, what a random fault can be


def parse_error_rates(rates: Any) -> dict[str, float]:
    """`{"503": 0.1, "429": 0.05, "timeout": 0.02, "drop": 0.02, "drop_after_apply": 0.02}`: per request, the
    probability of each fault (an injected status, a slow answer, a dropped connection, or one dropped after
    the request was applied)."""
    if rates is None:
        return {}
    if not isinstance(rates, dict):
        raise FaultConfigError('error_rates must be an object like {"503": 0.2, "drop": 0.05}')
    out: dict[str, float] = {}
    for key, value in rates.items():
        name = str(key)
        if name not in RANDOM_KINDS:
            try:
                status = int(name)
            except ValueError:
                raise FaultConfigError(f"bad status or fault kind {key!r}") from None
            if not 400 <= status <= 599:
                raise FaultConfigError(f"bad status {key!r}")
            name = str(status)
        p = _number(value, f"error rate of {key}")
        if p > 1:
            raise FaultConfigError("error rates are probabilities between 0 and 1")
        out[name] = float(p)
    if sum(out.values()) > 1 + 1e-9:
        raise FaultConfigError("error rates add up to more than 1")
    return out


def _random_fault(kind: str, timeout_seconds: float) -> Fault:
    if kind == "timeout":
        return Fault(timeout=timeout_seconds)
    if kind in ("drop", "drop_after_apply"):
        return Fault(drop=kind == "drop", drop_after_apply=kind == "drop_after_apply")
    status = int(kind)
    return Fault(status=status, retry_after=1 if status == 429 else None)


class Faults:
    """Thread-safe fault configuration. ``take(path)`` decides the fault of one API request."""

    def __init__(self, seed: int | None = None, latency_ms: float = 0, error_rates: Any = None) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)
        self._initial = (latency_ms, error_rates)
        self.latency_ms = 0.0
        self.error_rates: dict[str, float] = {}
        self.timeout_seconds = 2.0  # how long a random `timeout` fault holds its answer
        self._next: deque[Fault] = deque()
        self.configure(latency_ms=latency_ms, error_rates=error_rates)

    def configure(self, latency_ms: Any = 0, error_rates: Any = None, next: Any = None, timeout_seconds: Any = 2.0) -> None:
        latency = _number(latency_ms or 0, "latency_ms")
        timeout = _number(timeout_seconds, "timeout_seconds")
        rates = parse_error_rates(error_rates)
        if next is not None and not isinstance(next, list):
            raise FaultConfigError("next must be a list of faults")
        queue = deque(parse_fault(f) for f in next or [])
        with self._lock:
            self.latency_ms, self.error_rates, self._next, self.timeout_seconds = latency, rates, queue, timeout

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
            for i, fault in enumerate(self._next):
                if fault.matches(path):
                    if fault.count > 1:
                        self._next[i] = replace(fault, count=fault.count - 1)
                    else:
                        del self._next[i]
                    return fault
            if self.error_rates:
                roll = self._rng.random()
                for kind, p in sorted(self.error_rates.items()):
                    if roll < p:
                        return _random_fault(kind, self.timeout_seconds)
                    roll -= p
        return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "error_rates": dict(sorted(self.error_rates.items())),
                "timeout_seconds": self.timeout_seconds,
                "next": [f.to_dict() for f in self._next],
            }
