"""Hokodo API client: one pooled httpx client per container, explicit timeouts, Token auth,
an Idempotency-Key on every post-sale POST, and retries of transient failures while time allows.

Retrying a POST is safe only because the same Idempotency-Key goes with every attempt: Hokodo
replays its first answer instead of applying the action twice.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from .errors import (
    DeferredPaymentNotFound,
    HokodoAuthenticationFailed,
    HokodoError,
    HokodoRateLimited,
    HokodoRejected,
    HokodoUnavailable,
    IdempotencyKeyConflict,
    TransientError,
)
from .models import DeferredPayment, PostSaleEvent

POST_SALE_ACTIONS = ("capture", "capture_remaining", "refund", "void", "void_remaining")
_BACKOFF_BASE_SECONDS = 0.25
_BACKOFF_CAP_SECONDS = 4.0


class HokodoClient:
    """Talks to `base_url` (e.g. https://api-sandbox.hokodo.co/v1/). Thread-safe: one instance serves a batch."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = 10.0,
        max_attempts: int = 4,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._timeout = httpx.Timeout(timeout_seconds, connect=min(3.0, timeout_seconds))
        self._http = httpx.Client(
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            headers={"Authorization": f"Token {api_key}", "Accept": "application/json"},
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
            transport=transport,
        )
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._deadline: float | None = None

    def use_deadline(self, deadline: float | None) -> None:
        """Stop retrying at this `time.monotonic()` instant (the invocation's end less a margin)."""
        self._deadline = deadline

    def close(self) -> None:
        self._http.close()

    # -- post-sale actions -------------------------------------------------------------------
    def capture(
        self, deferred_payment_id: str, amount: int, *, idempotency_key: str, metadata: dict | None = None
    ) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "capture", idempotency_key=idempotency_key, amount=amount, metadata=metadata)

    def capture_remaining(self, deferred_payment_id: str, *, idempotency_key: str, metadata: dict | None = None) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "capture_remaining", idempotency_key=idempotency_key, metadata=metadata)

    def refund(
        self, deferred_payment_id: str, amount: int, *, idempotency_key: str, metadata: dict | None = None
    ) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "refund", idempotency_key=idempotency_key, amount=amount, metadata=metadata)

    def void(self, deferred_payment_id: str, amount: int, *, idempotency_key: str, metadata: dict | None = None) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "void", idempotency_key=idempotency_key, amount=amount, metadata=metadata)

    def void_remaining(self, deferred_payment_id: str, *, idempotency_key: str, metadata: dict | None = None) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "void_remaining", idempotency_key=idempotency_key, metadata=metadata)

    def post_sale(
        self,
        deferred_payment_id: str,
        action: str,
        *,
        idempotency_key: str,
        amount: int | None = None,
        metadata: dict | None = None,
    ) -> PostSaleEvent:
        if action not in POST_SALE_ACTIONS:
            raise ValueError(f"unknown post-sale action {action!r}")
        body: dict[str, Any] = {}
        if amount is not None:
            if type(amount) is not int:  # money never travels as anything but an int
                raise TypeError("amount must be an int in minor units")
            body["amount"] = amount
        if metadata:
            body["metadata"] = metadata
        response = self._send(
            "POST",
            f"payment/deferred_payments/{deferred_payment_id}/{action}",
            action=action,
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )
        return PostSaleEvent.model_validate(response.json())

    def get_deferred_payment(self, deferred_payment_id: str) -> DeferredPayment:
        response = self._send("GET", f"payment/deferred_payments/{deferred_payment_id}", action="get_deferred_payment")
        return DeferredPayment.model_validate(response.json())

    # -- transport, retries and error classification ----------------------------------------
    def _send(self, method: str, path: str, *, action: str, **kwargs: Any) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(method, path, timeout=self._request_timeout(action), **kwargs)
                if response.status_code < 400:
                    return response
                raise error_from_response(response, action)
            except httpx.TimeoutException as exc:
                error: HokodoError = HokodoUnavailable(f"Hokodo {action}: timed out ({type(exc).__name__})", action=action)
            except httpx.TransportError as exc:
                error = HokodoUnavailable(f"Hokodo {action}: connection failed ({type(exc).__name__})", action=action)
            except TransientError as exc:
                error = exc  # type: ignore[assignment]
            delay = self._retry_delay(attempt, error)
            if delay is None:
                raise error
            self._sleep(delay)

    def _request_timeout(self, action: str) -> httpx.Timeout:
        """The client's timeouts, cut to what is left before the deadline: a call must never outlive the
        invocation, or Lambda would fail the whole batch instead of reporting this one record."""
        if self._deadline is None:
            return self._timeout
        left = self._deadline - time.monotonic()
        if left <= 0.05:
            raise HokodoUnavailable(f"Hokodo {action}: no time left in this invocation", action=action)
        return httpx.Timeout(min(self._timeout.read, left), connect=min(self._timeout.connect, left))

    def _retry_delay(self, attempt: int, error: HokodoError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up and let SQS redeliver."""
        if attempt >= self._max_attempts or isinstance(error, HokodoAuthenticationFailed):
            return None
        delay = random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))
        if isinstance(error, HokodoRateLimited) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        if self._deadline is not None and time.monotonic() + delay >= self._deadline:
            return None
        return delay


def error_from_response(response: httpx.Response, action: str) -> HokodoError:
    """Turn an error status into the right class, keeping Hokodo's own message (never our request headers)."""
    status = response.status_code
    try:
        detail: object = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        detail = response.text[:500]
    message = (
        f"Hokodo {action} failed with {status}: {json.dumps(detail, sort_keys=True) if not isinstance(detail, str) else detail}"
    )
    kwargs = {"status": status, "detail": detail, "action": action}
    if status == 429:
        return HokodoRateLimited(message, retry_after=_retry_after_seconds(response), **kwargs)
    if status in (401, 403):
        return HokodoAuthenticationFailed(message, **kwargs)
    if status == 404:
        return DeferredPaymentNotFound(message, **kwargs)
    if status == 422 and "Idempotency-Key" in str(detail):
        return IdempotencyKeyConflict(message, **kwargs)
    if status in (408, 409) or status >= 500:
        return HokodoUnavailable(message, **kwargs)
    return HokodoRejected(message, **kwargs)


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff
