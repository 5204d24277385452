"""The scheduled reconciliation: every open deferred payment the bundle watches is put on the sync queue, to be synced
like a notification would have it (so a lost notification never hides an expiry or a clawback) and checked for drift
between what the bundle sent and what Hokodo's ledger holds. A run only enqueues, so it ends in seconds however many
deferred payments are open; the syncs themselves spread over the sync function's concurrency."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger

from .. import observability
from ..settings import Settings
from .sync_requests import SyncRequests, sync_requests
from .watermark import WatermarkStore

logger = Logger()
_SENDERS = 8  # SendMessageBatch calls at once


class Reconciliation:
    def __init__(self, store: WatermarkStore, requests: SyncRequests):
        self._store, self._requests = store, requests

    def run(self) -> dict[str, int]:
        """Queue a sync (with a drift check) of every watched deferred payment, least recently synced first. Raises when
        the queue refuses some: the run fails (alarm), and the next one asks again."""
        try:
            watched = self._store.open_deferred_payments()
            queued = self._requests.request(watched, "reconciliation", workers=_SENDERS)
        except Exception:
            observability.outcome("reconciliation", "Failed")  # a run says what it did, even when it fails
            raise
        observability.watched(len(watched))
        report = {"watched": len(watched), "queued": queued}
        logger.info("reconciliation queued", extra=report)
        return report


def reconciliation(settings: Settings | None = None) -> Reconciliation:
    settings = settings or Settings.from_env()
    return Reconciliation(WatermarkStore(lambda: boto3.client("dynamodb"), settings.idempotency_table), sync_requests(settings))
