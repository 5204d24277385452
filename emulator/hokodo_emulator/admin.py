"""A thin httpx client of the emulator's admin API (``/_admin/``), for tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


class AdminError(Exception):
    def __init__(self, status_code: int, body: Any) -> None:
        super().__init__(f"admin API answered {status_code}: {body}")
        self.status_code = status_code
        self.body = body


class AdminClient:
    def __init__(self, base_url: str, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._owns = client is None
        self._client = client or httpx.Client(timeout=timeout, trust_env=False)

    def close(self) -> None:
        if self._owns:
            self._client.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        kwargs = {} if json is None else {"json": json}
        response = self._client.request(method, f"{self.base_url}/_admin/{path}", **kwargs)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise AdminError(response.status_code, body)
        return body

    # -- deferred payments -----------------------------------------------------------------------
    def create_deferred_payment(self, authorisation: int, currency: str = "GBP", **kw: Any) -> dict:
        """kw: id, order_id, notification_url, expiry_days (0 disables expiry)."""
        return self._call("POST", "deferred_payments", {"authorisation": authorisation, "currency": currency, **kw})

    def get_deferred_payment(self, id: str) -> dict:  # noqa: A002 - mirrors the API's field
        return self._call("GET", f"deferred_payments/{id}")

    def list_deferred_payments(self) -> list[dict]:
        return self._call("GET", "deferred_payments")

    def clawback(self, id: str, amount: int, metadata: dict | None = None) -> dict:  # noqa: A002
        body: dict[str, Any] = {"amount": amount}
        if metadata is not None:
            body["metadata"] = metadata
        return self._call("POST", f"deferred_payments/{id}/clawback", body)

    # -- clock -------------------------------------------------------------------------------------
    def advance_clock(self, days: float = 0, seconds: float = 0) -> dict:
        return self._call("POST", "clock/advance", {"days": days, "seconds": seconds})

    def clock(self) -> dict:
        return self._call("GET", "clock")

    # -- logs --------------------------------------------------------------------------------------
    def requests(self) -> list[dict]:
        return self._call("GET", "requests")

    def clear_requests(self) -> None:
        self._call("DELETE", "requests")

    def webhooks(self) -> list[dict]:
        return self._call("GET", "webhooks")

    def wait_for_webhooks(self, count: int = 1, timeout: float = 5.0, where: Callable[[dict], bool] | None = None) -> list[dict]:
        """Poll the webhook log until ``count`` attempts (matching ``where``) are logged."""
        deadline = time.monotonic() + timeout
        while True:
            found = [w for w in self.webhooks() if where is None or where(w)]
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            time.sleep(0.02)

    def payout_items(self, order_id: str) -> list[dict]:
        """The order's payout items: `awaiting_document` until an invoice is uploaded, then `payable`."""
        return self._call("GET", f"orders/{order_id}/payout_items")

    def order_documents(self, order_id: str) -> list:
        """Every document uploaded to the order, oldest first (as `document()` shows each)."""
        return self._call("GET", f"orders/{order_id}/documents")

    def add_webhook_faults(self, *faults: dict) -> None:
        """One-shot: `{"drop": True}` loses the next notification, `{"duplicate": True}` sends it twice; each may name a
        `deferred_payment`."""
        self._call("POST", "webhooks/faults", list(faults))

    def set_webhook_rates(self, drop: float = 0.0, duplicate: float = 0.0, seed: int | None = None) -> None:
        """Lose or duplicate each notification with these probabilities (seeded); `reset` sets them back to 0."""
        self._call("PUT", "webhooks/rates", {"drop": drop, "duplicate": duplicate, "seed": seed})

    def document(self, doc_id: str) -> dict:
        return self._call("GET", f"documents/{doc_id}")

    # -- faults ------------------------------------------------------------------------------------
    def faults(self) -> dict:
        return self._call("GET", "faults")

    def set_faults(
        self,
        latency_ms: float = 0,
        error_rates: dict[str, float] | None = None,
        next: list[dict] | None = None,
        timeout_seconds: float = 2.0,
    ) -> dict:
        body = {
            "latency_ms": latency_ms,
            "error_rates": error_rates or {},
            "next": next or [],
            "timeout_seconds": timeout_seconds,
        }
        return self._call("PUT", "faults", body)

    def add_faults(self, *faults: dict) -> dict:
        """Queue faults, e.g. {"status": 302, "headers": {"Location": "https://elsewhere/"}, "count": 4} or
        {"trickle": 0.05, "path_contains": "/capture"}; the README lists them all."""
        return self._call("POST", "faults/next", list(faults))

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    # -- idempotency -------------------------------------------------------------------------------
    def idempotency(self) -> dict:
        """{"replay_4xx": bool, "keys": the number of stored keys}."""
        return self._call("GET", "idempotency")

    def set_idempotency(self, *, replay_4xx: bool) -> dict:
        """replay_4xx=False: refusals (4xx) are no longer stored, so a retry under the same key runs afresh."""
        return self._call("PUT", "idempotency", {"replay_4xx": replay_4xx})

    def forget_idempotency_keys(self) -> dict:
        """Forget every stored key, as if Hokodo's key retention had expired; the ledger is kept."""
        return self._call("DELETE", "idempotency")

    # -- profile -----------------------------------------------------------------------------------
    def profile(self) -> dict:
        """{"name": "default" | "sparse" | "custom", "behaviours": {...every behaviour's value...}}."""
        return self._call("GET", "profile")

    def set_profile(self, name: str | None = None, **behaviours: Any) -> dict:
        """Switch to a named profile ("default" or "sparse"), and/or change some behaviours, e.g.
        ``set_profile(events_order="newest_first")`` or ``set_profile("sparse", event_ids=True)``."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if behaviours:
            body["behaviours"] = behaviours
        return self._call("PUT", "profile", body)

    # -- misc --------------------------------------------------------------------------------------
    def reset(self) -> None:
        self._call("POST", "reset")

    def health(self) -> dict:
        return self._call("GET", "health")
