"""Hokodo's notifications (webhooks): the URL secret, and the one thing a body is trusted for.

Hokodo does not sign its notifications, so the notification URL carries a secret
(`…/webhooks/hokodo/<secret>`), and a body is only a hint: the deferred payment id is taken from it
(`data.order.deferred_payment.id`, the shape the official integration receives), and the deferred
payment itself is read back from the API. The secret holds a current and a previous value, both
accepted, so it can be rotated without losing notifications.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from typing import Any

from aws_lambda_powertools.utilities import parameters

from ..contracts import strict_json
from ..errors import InvalidMessage

MAX_BODY_BYTES = 64 * 1024
_DEFERRED_PAYMENT_ID = re.compile(r"^defpay-[A-Za-z0-9]{1,64}$")
_FORCED_REFRESH_SECONDS = 30  # a refused secret re-reads the stored one at most this often (after a rotation)


class UrlSecret:
    """The webhook URL's secret in Secrets Manager, as JSON `{"current": "…", "previous": "…"}` (previous may be
    empty), read through Powertools Parameters with caching."""

    def __init__(self, secret_name: str, max_age_seconds: int):
        self._name, self._max_age = secret_name, max_age_seconds
        self._last_forced = 0.0
        self._lock = threading.Lock()

    def accepts(self, given: str) -> bool:
        """Whether `given` is the current or the previous value, compared in constant time (both always compared)."""
        if _matches(given, self._values(force=False)):
            return True
        with self._lock:  # a value rotated in after our cached read: look once more, but not on every forged request
            if time.monotonic() - self._last_forced < _FORCED_REFRESH_SECONDS:
                return False
            self._last_forced = time.monotonic()
        return _matches(given, self._values(force=True))

    def _values(self, force: bool) -> list[str]:
        stored: Any = parameters.get_secret(self._name, transform="json", max_age=self._max_age, force_fetch=force)
        if not isinstance(stored, dict):
            return []
        return [v for v in (stored.get("current"), stored.get("previous")) if isinstance(v, str) and v]


def _matches(given: str, values: list[str]) -> bool:
    """Digests of equal length, so neither the values nor their lengths leak through timing."""
    digest = hashlib.sha256(given.encode()).digest()
    matched = False
    for value in values or [""]:
        matched |= hmac.compare_digest(digest, hashlib.sha256(value.encode()).digest()) and bool(value)
    return matched


def deferred_payment_id(body: bytes) -> str:
    """The deferred payment a notification is about; InvalidMessage if the body does not name one."""
    try:
        payload = strict_json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMessage(f"the notification is not JSON: {exc}") from None
    order = payload.get("data", {}).get("order") if isinstance(payload, dict) and isinstance(payload.get("data"), dict) else None
    found = order.get("deferred_payment") if isinstance(order, dict) else None
    found = found.get("id") if isinstance(found, dict) else found
    if not isinstance(found, str) or not _DEFERRED_PAYMENT_ID.fullmatch(found):
        raise InvalidMessage("the notification names no deferred payment (data.order.deferred_payment.id)")
    return found
