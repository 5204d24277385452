"""Webhook (notification) delivery in a background thread, with retries and a delivery log."""

from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .clock import iso


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not a successful delivery: report the 3xx instead of following it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: PLR0917 - stdlib signature
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    payload: dict[str, Any] = field(compare=False)
    info: dict[str, Any] = field(compare=False)
    delays: tuple[float, ...] | None = field(default=None, compare=False)  # None: the dispatcher's attempts/backoff
    attempt: int = field(default=1, compare=False)


class WebhookDispatcher:
    """POSTs JSON payloads. A non-2xx answer or a connection error is retried after
    ``backoff * 2**(attempt-1)`` seconds, up to ``attempts`` attempts in all, unless the notification
    came with its own ``retry_delays``: then retry n comes ``retry_delays[n-1]`` seconds after the
    n-th failed attempt, so there are ``len(retry_delays) + 1`` attempts in all."""

    def __init__(self, attempts: int = 5, backoff: float = 0.2, timeout: float = 5.0) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self._cond = threading.Condition()
        self._queue: list[_Delivery] = []
        self._seq = itertools.count(1)
        self._log: list[dict[str, Any]] = []
        self._faults: list[tuple[str, str | None]] = []  # (drop | duplicate, deferred payment or None)
        self._rates = (0.0, 0.0)  # random (drop, duplicate) probabilities
        self._rng = random.Random()
        self._stopping = False
        self._generation = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._cond:
            self._stopping = False
        self._thread = threading.Thread(target=self._run, name="hokodo-emulator-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def send(self, url: str, payload: dict[str, Any], *, retry_delays: tuple[float, ...] | None = None, **info: Any) -> None:
        with self._cond:
            info = {"delivery": next(self._seq), **info}
            fault = self._take_fault(info.get("deferred_payment")) or self._roll()
            if fault == "drop":  # lost on the way: logged, never sent
                entry = {"url": url, "attempt": 0, "status": None, "error": "dropped", "delivered": False, "payload": payload}
                self._log.append({**info, **entry, "at": iso(datetime.now(UTC))})
                return
            heapq.heappush(self._queue, _Delivery(time.monotonic(), info["delivery"], url, payload, info, retry_delays))
            if fault == "duplicate":  # the same notification, delivered a second time
                copy = {**info, "delivery": next(self._seq), "duplicate_of": info["delivery"]}
                heapq.heappush(self._queue, _Delivery(time.monotonic(), copy["delivery"], url, payload, copy, retry_delays))
            self._cond.notify_all()

    def add_faults(self, faults: list[dict[str, Any]]) -> None:
        """One-shot faults for the next notifications: `{"drop": true}` (never sent) or `{"duplicate": true}` (sent
        twice), each optionally only for `"deferred_payment": "<id>"`."""
        parsed = []
        for fault in faults:
            kinds = [k for k in ("drop", "duplicate") if fault.get(k) is True]
            if not isinstance(fault, dict) or len(kinds) != 1 or set(fault) - {"drop", "duplicate", "deferred_payment"}:
                raise ValueError('a webhook fault is {"drop": true} or {"duplicate": true}, with an optional "deferred_payment"')
            parsed.append((kinds[0], fault.get("deferred_payment")))
        with self._cond:
            self._faults += parsed

    def set_rates(self, drop: float = 0.0, duplicate: float = 0.0, seed: int | None = None) -> None:
        """Lose (`drop`) or send twice (`duplicate`) each notification with these probabilities (seeded)."""
        for value in (drop, duplicate):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError("webhook fault rates are probabilities between 0 and 1")
        if drop + duplicate > 1:
            raise ValueError("webhook fault rates add up to more than 1")
        with self._cond:
            self._rates = (float(drop), float(duplicate))
            self._rng = random.Random(seed)

    def _roll(self) -> str | None:
        drop, duplicate = self._rates
        if not drop and not duplicate:
            return None
        roll = self._rng.random()
        return "drop" if roll < drop else "duplicate" if roll < drop + duplicate else None

    def _take_fault(self, deferred_payment: str | None) -> str | None:
        for fault in self._faults:
            if fault[1] is None or fault[1] == deferred_payment:
                self._faults.remove(fault)
                return fault[0]
        return None

    def log(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(entry) for entry in self._log]

    def reset(self) -> None:
        """Forget the log and drop queued deliveries (an in-flight attempt is not logged)."""
        with self._cond:
            self._queue.clear()
            self._log.clear()
            self._faults.clear()
            self._rates = (0.0, 0.0)
            self._generation += 1

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._queue:
                        wait = self._queue[0].due - time.monotonic()
                        if wait <= 0:
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
                if self._stopping:
                    return
                delivery = heapq.heappop(self._queue)
                generation = self._generation
            status, error = self._post(delivery.url, delivery.payload)
            ok = status is not None and 200 <= status < 300
            with self._cond:
                if generation != self._generation or self._stopping:
                    continue
                self._log.append(
                    {
                        **delivery.info,
                        "url": delivery.url,
                        "attempt": delivery.attempt,
                        "status": status,
                        "error": error,
                        "delivered": ok,
                        "at": iso(datetime.now(UTC)),
                        "payload": delivery.payload,
                    }
                )
                delay = None if ok else self._retry_delay(delivery)
                if delay is not None:
                    delivery.attempt += 1
                    delivery.due = time.monotonic() + delay
                    heapq.heappush(self._queue, delivery)

    def _retry_delay(self, delivery: _Delivery) -> float | None:
        """Seconds from a failed attempt to the next one; None when the notification has had all its attempts."""
        if delivery.delays is None:
            return self.backoff * 2 ** (delivery.attempt - 1) if delivery.attempt < self.attempts else None
        return delivery.delays[delivery.attempt - 1] if delivery.attempt <= len(delivery.delays) else None

    def _post(self, url: str, payload: dict[str, Any]) -> tuple[int | None, str | None]:
        if not url.lower().startswith(("http://", "https://")):
            return None, "ValueError: only http(s) notification URLs are supported"
        data = json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "hokodo-emulator"},
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                response.read()
                return response.status, None
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code, None
        except Exception as exc:  # connection refused, timeout, bad URL...
            return None, f"{type(exc).__name__}: {exc}"
