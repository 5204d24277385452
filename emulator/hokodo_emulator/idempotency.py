"""Idempotency-Key store: one stored response per key, one lock per key."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

MAX_KEY_LENGTH = 255
_NOT_STORED = {401, 403, 429}


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int
    body: bytes
    content_type: str


class IdempotencyStore:
    """Answers stored per key. `replay_4xx` (default on, as Stripe does): a refusal is stored and replayed
    for its key; off, only successes are, so a retry of a refused request under the same key runs afresh."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Stored] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self.replay_4xx = True

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Serialise requests that carry the same key: a concurrent duplicate waits here,
        then finds the first request's stored response."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def keeps(self, status: int) -> bool:
        """Whether an answer is stored for its key: what the handler decided, never a transient condition
        (authentication, throttling, server errors)."""
        if status >= 500 or status in _NOT_STORED:
            return False
        return status < 400 or self.replay_4xx

    def get(self, key: str) -> Stored | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, stored: Stored) -> None:
        with self._lock:
            self._entries[key] = stored

    def forget(self) -> None:
        """Drop every stored answer, as if the keys' retention had expired. The per-key locks stay: a request
        in flight keeps excluding its duplicates."""
        with self._lock:
            self._entries.clear()

    def reset(self) -> None:
        self.forget()
        self.replay_4xx = True

    def view(self) -> dict[str, Any]:
        with self._lock:
            return {"replay_4xx": self.replay_4xx, "keys": len(self._entries)}
