"""A controllable clock: emulator time is real time plus an offset that only moves forward."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


def iso(moment: datetime) -> str:
    """Format like Hokodo does: UTC, millisecond precision, trailing ``Z``."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Clock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            offset = self._offset
        return datetime.now(UTC) + offset

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += delta
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
