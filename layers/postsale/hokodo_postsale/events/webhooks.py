"""Hokodo's notifications become facts on the merchant's event bus: the URL secret is checked, the body
gives the deferred payment id and nothing else, and the deferred payment is synced from the API."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from .. import observability
from ..errors import DeferredPaymentNotFound, HokodoAuthenticationFailed, InvalidMessage, TransientError
from ..hokodo.credentials import HokodoClientProvider
from ..settings import Settings
from .bus import EventBus
from .notifications import MAX_BODY_BYTES, UrlSecret, deferred_payment_id
from .sync import DeferredPaymentSync, WatermarkStore

logger = Logger()


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


# API Gateway's own answer to a route it does not have: a wrong secret must look exactly like one.
NOT_FOUND = Answer(404, {"message": "Not Found"})


class WebhookReceiver:
    def __init__(self, secret: UrlSecret, sync: DeferredPaymentSync, hokodo: HokodoClientProvider):
        self._secret, self._sync, self._hokodo = secret, sync, hokodo

    def receive(self, url_secret: str, body: bytes, seconds_left: float | None = None) -> Answer:
        """`seconds_left` in the invocation: Hokodo calls end a second before, so there is always an answer."""
        if not self._secret.accepts(url_secret):
            return NOT_FOUND
        if len(body) > MAX_BODY_BYTES:
            return Answer(413, {"message": f"Request Entity Too Large: at most {MAX_BODY_BYTES} bytes"})
        try:
            dp = deferred_payment_id(body)
        except InvalidMessage as exc:
            logger.warning("notification refused", extra={"reason": str(exc)})
            return Answer(400, {"message": str(exc)})
        try:
            self._hokodo.client().use_deadline(None if seconds_left is None else time.monotonic() + seconds_left - 1.0)
            published = self._sync.sync(dp)
        except DeferredPaymentNotFound:
            logger.warning("notification for a deferred payment Hokodo does not know", extra={"deferred_payment_id": dp})
            return Answer(200, {"published": 0})
        except TransientError as exc:  # Hokodo unavailable, the bus refusing, another sync holding the lease
            if isinstance(exc, HokodoAuthenticationFailed):
                self._hokodo.refresh()
            logger.warning("notification not synced; Hokodo will retry", extra={"deferred_payment_id": dp, "reason": str(exc)})
            return Answer(503, {"message": "Service Unavailable: try again later"})
        logger.info("notification synced", extra={"deferred_payment_id": dp, "published": [f.detail_type for f in published]})
        observability.published(published)
        return Answer(200, {"published": len(published)})


def request_body(event: dict[str, Any]) -> bytes:
    """An API Gateway v2 event's body as bytes (base64-decoded when API Gateway encoded it)."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8", "surrogatepass")


def deferred_payment_sync(settings: Settings, hokodo: HokodoClientProvider) -> DeferredPaymentSync:
    store = WatermarkStore(lambda: boto3.client("dynamodb"), settings.idempotency_table)
    bus = EventBus(lambda: boto3.client("events"), settings.event_bus_name, settings.event_source)
    return DeferredPaymentSync(hokodo.client, store, bus, drift_settle_seconds=settings.drift_settle_seconds)


def receiver(settings: Settings | None = None) -> WebhookReceiver:
    """The webhooks function's receiver, from the environment the template sets."""
    settings = settings or Settings.from_env()
    hokodo = HokodoClientProvider(settings)
    secret = UrlSecret(settings.webhook_secret, settings.secret_max_age_seconds)
    return WebhookReceiver(secret, deferred_payment_sync(settings, hokodo), hokodo)
