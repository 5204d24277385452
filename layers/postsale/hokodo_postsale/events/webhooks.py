"""Hokodo's notifications, acknowledged only once they cannot be lost: the URL secret is checked, the body gives the
deferred payment id and nothing else, and the deferred payment is put on the reconciliation's watch list and on the
sync queue before the answer (202). Reading it back from Hokodo and publishing its facts is the sync queue's work
(sync_requests.py), retried by SQS for as long as it takes, not by Hokodo (whose notifications are retried for a few
seconds at most)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from ..errors import InvalidMessage
from ..settings import Settings
from .notifications import MAX_BODY_BYTES, UrlSecret, deferred_payment_id
from .sync_requests import SyncRequests, sync_requests
from .watermark import WatermarkStore

logger = Logger()


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


# API Gateway's own answer to a route it does not have: a wrong secret must look exactly like one.
NOT_FOUND = Answer(404, {"message": "Not Found"})
ACCEPTED = Answer(202, {"message": "Accepted"})
UNAVAILABLE = Answer(503, {"message": "Service Unavailable: try again later"})


class WebhookReceiver:
    def __init__(self, secret: UrlSecret, store: WatermarkStore, requests: SyncRequests):
        self._secret, self._store, self._requests = secret, store, requests

    def receive(self, url_secret: str, body: bytes) -> Answer:
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
            self._store.watch(dp)
            self._requests.request([dp], "notification")
        except Exception as exc:  # DynamoDB or SQS unavailable: not acknowledged, so Hokodo sends it again
            logger.warning("notification not queued; Hokodo may retry", extra={"deferred_payment_id": dp, "reason": str(exc)})
            return UNAVAILABLE
        logger.info("notification queued for sync", extra={"deferred_payment_id": dp})
        return ACCEPTED


def request_body(event: dict[str, Any]) -> bytes:
    """An API Gateway v2 event's body as bytes (base64-decoded when API Gateway encoded it)."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8", "surrogatepass")


def receiver(settings: Settings | None = None) -> WebhookReceiver:
    """The webhooks function's receiver, from the environment the template sets."""
    settings = settings or Settings.from_env()
    secret = UrlSecret(settings.webhook_secret, settings.secret_max_age_seconds)
    store = WatermarkStore(lambda: boto3.client("dynamodb"), settings.idempotency_table)
    return WebhookReceiver(secret, store, sync_requests(settings))
