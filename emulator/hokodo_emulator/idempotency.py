"""Idempotency-Key store: one stored response per key, one lock per key."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

CONFLICT = {"detail": "Idempotency-Key reused with a different request."}
MAX_KEY_LENGTH = 255


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
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, Stored] = {}
        self._key_locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Serialise requests that carry the same key: a concurrent duplicate waits here,
        then finds the first request's stored response."""
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def get(self, key: str) -> Stored | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, stored: Stored) -> None:
        with self._lock:
            self._entries[key] = stored

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
