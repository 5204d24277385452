"""The sync queue: every reason to read a deferred payment again is a message on it, and its function runs the sync.

- Hokodo's notification, once its URL secret is checked, is acknowledged only after its deferred payment is on this
  queue (and on the reconciliation's watch list): a Hokodo GET that fails, or a PutEvents, is retried by SQS, not by
  Hokodo, whose notifications are retried only a few seconds;
- an action the bundle applied (ledger tracking, from the table's stream), so its fact is on the bus within seconds;
- the reconciliation's round over every open deferred payment, which also checks drift; the syncs then spread over
  Lambda's concurrency, bounded by the queue's MaximumConcurrency (Hokodo's rate limits).

A sync is idempotent (facts are published from the watermark), so a request needs no idempotency record. This module
is what the senders need (the request, and putting it on the queue), light to import; the function that reads the
queue is sync_queue.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, Literal

import boto3
from pydantic import BaseModel, ConfigDict

from .. import observability
from ..contracts.messages import DeferredPaymentId
from ..errors import TransientError
from ..settings import Settings

Reason = Literal["notification", "applied", "reconciliation"]
_PER_CALL = 10  # SendMessageBatch's limit
_ATTEMPTS = 3


class SyncRequest(BaseModel):
    """One message of the sync queue."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    deferred_payment_id: DeferredPaymentId
    reason: Reason


class SyncRequests:
    """Puts deferred payments on the sync queue. `sqs` is a factory: the client is made on first use."""

    def __init__(self, sqs: Callable[[], Any], queue_url: str, sleep: Callable[[float], None] = time.sleep):
        self._make_client, self._url, self._sleep = sqs, queue_url, sleep

    @cached_property
    def _sqs(self) -> Any:
        return self._make_client()

    def request(self, deferred_payment_ids: Iterable[str], reason: Reason, workers: int = 1) -> int:
        """One message per deferred payment (duplicates dropped); returns how many. Raises TransientError when SQS
        kept refusing some: nothing is acknowledged on their behalf."""
        ids = list(dict.fromkeys(deferred_payment_ids))
        chunks = [ids[i : i + _PER_CALL] for i in range(0, len(ids), _PER_CALL)]
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(chunks) or 1))) as pool:
            for _ in pool.map(lambda chunk: self._send(chunk, reason), chunks):
                pass
        if ids:
            observability.queued(len(ids))
        return len(ids)

    def _send(self, ids: list[str], reason: Reason) -> None:
        pending = {str(i): SyncRequest(deferred_payment_id=dp, reason=reason) for i, dp in enumerate(ids)}
        why = ""
        for attempt in range(_ATTEMPTS):
            if attempt:
                self._sleep(0.1 * 2**attempt)
            entries = [{"Id": key, "MessageBody": request.model_dump_json()} for key, request in pending.items()]
            try:
                failed = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries).get("Failed", [])
            except Exception as exc:  # the whole call failed: none of these was sent
                why = f"{type(exc).__name__}: {exc}"
                continue
            pending = {f["Id"]: pending[f["Id"]] for f in failed}
            if not pending:
                return
            why = f"{failed[0].get('Code')}: {failed[0].get('Message')}"
        raise TransientError(f"the sync queue refused {len(pending)} request(s): {why}")


def sync_requests(settings: Settings) -> SyncRequests:
    return SyncRequests(lambda: boto3.client("sqs"), settings.sync_queue_url)
