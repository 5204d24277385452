"""The sync queue: every reason to read a deferred payment again is a message on it, and its function runs the sync.

- Hokodo's notification, once its URL secret is checked, is acknowledged only after its deferred payment is on this
  queue (and on the reconciliation's watch list): a Hokodo GET that fails, or a PutEvents, is retried by SQS, not by
  Hokodo, whose notifications are retried only a few seconds;
- an action the bundle applied (ledger tracking, from the table's stream), so its fact is on the bus within seconds;
- the reconciliation's round over every open deferred payment, which also checks drift; the syncs then spread over
  Lambda's concurrency, bounded by the queue's MaximumConcurrency (Hokodo's rate limits).

A sync is idempotent (facts are published from the watermark), so a request needs no idempotency record: requests for
the same deferred payment in one batch are synced once. A request that cannot be synced for good (a malformed body, a
deferred payment Hokodo does not know) goes to the queue's DLQ with the reason; a transient failure is retried, and
parked in the DLQ with its last error on the last allowed receive (the reconciliation asks again anyway).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, ValidationError

from .. import observability
from ..contracts import strict_json
from ..contracts.messages import DeferredPaymentId
from ..errors import DeferredPaymentNotFound, HokodoAuthenticationFailed, InvalidMessage, PermanentError, TransientError
from ..hokodo.credentials import HokodoClientProvider
from ..runner.batch import OrderedBatchProcessor, invocation_deadline
from ..runner.dead_letters import DeadLetterQueue
from ..settings import Settings
from .bus import EventBus
from .sync import DeferredPaymentSync
from .watermark import WatermarkStore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
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


class SyncQueueFunction:
    """The sync queue's Lambda."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings = settings or Settings.from_env()
        self.hokodo = HokodoClientProvider(settings)
        self.sync = deferred_payment_sync(settings, self.hokodo)
        self.dead_letters = DeadLetterQueue(lambda: boto3.client("sqs"), settings.dead_letter_queue_url)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        self.hokodo.client().use_deadline(invocation_deadline(context))
        batch = _SyncBatch(self, event.get("Records", []))
        processor = OrderedBatchProcessor(batch.group_of, max_workers=self.settings.batch_concurrency)
        return process_partial_response(event=event, record_handler=batch.handle_record, processor=processor, context=context)


class _SyncBatch:
    def __init__(self, function: SyncQueueFunction, records: list[dict[str, Any]]):
        self.function = function
        self.requests = {r.get("messageId", ""): _parse(r.get("body") or "") for r in records}
        self._synced: dict[str, bool] = {}  # deferred payment -> whether its sync in this batch checked drift
        self._lock = threading.Lock()

    def group_of(self, record: dict[str, Any]) -> str:
        request = self.requests[record.get("messageId", "")]
        return request.deferred_payment_id if isinstance(request, SyncRequest) else f"msg:{record.get('messageId')}"

    def handle_record(self, record: SQSRecord) -> dict[str, Any]:
        request = self.requests[record.message_id]
        log = {"message_id": record.message_id, "receive_count": record.attributes.approximate_receive_count}
        if isinstance(request, InvalidMessage):
            return self._dead_letter(record, request, log)
        dp, check_drift = request.deferred_payment_id, request.reason == "reconciliation"
        log |= {"deferred_payment_id": dp, "requested_by": request.reason}
        with self._lock:  # records of one deferred payment run in order, on one thread
            if dp in self._synced and (self._synced[dp] or not check_drift):
                return {"synced": "by an earlier request of this batch"}
        try:
            published = self.function.sync.sync(dp, check_drift=check_drift)
        except DeferredPaymentNotFound as exc:
            self.function.sync.store.unwatch(dp)
            reason = f"Hokodo does not know deferred payment {dp} ({exc}); it was taken off the reconciliation's list"
            return self._dead_letter(record, DeferredPaymentNotFound(reason), log)
        except PermanentError as exc:
            return self._dead_letter(record, exc, log)
        except Exception as exc:  # transient (Hokodo, DynamoDB, PutEvents) or unexpected: SQS delivers it again
            if isinstance(exc, HokodoAuthenticationFailed):
                self.function.hokodo.refresh()
            limit = self.function.settings.max_receive_count
            if limit and int(record.attributes.approximate_receive_count) >= limit:
                return self._dead_letter(record, exc, log, parked=True)
            logger.warning("sync failed; retried", extra={**log, "error": f"{type(exc).__name__}: {exc}"})
            observability.outcome("sync", "RetryLater")
            raise
        with self._lock:
            self._synced[dp] = self._synced.get(dp, False) or check_drift
        logger.info("synced", extra={**log, "published": [f.detail_type for f in published]})
        observability.published(published)
        return {"published": len(published)}

    def _dead_letter(self, record: SQSRecord, exc: BaseException, log: dict[str, Any], parked: bool = False) -> dict[str, Any]:
        reason = f"{exc}" if not parked else f"still failing on its last allowed receive: {type(exc).__name__}: {exc}"
        self.function.dead_letters.send(record, reason=reason, error_type=type(exc).__name__)  # raises: left for redelivery
        logger.warning("dead-lettered", extra={**log, "reason": reason, "error_type": type(exc).__name__})
        observability.outcome("sync", "Parked" if parked else "DeadLettered", type(exc).__name__)
        return {"dead_lettered": reason}


def _parse(body: str) -> SyncRequest | InvalidMessage:
    try:
        return SyncRequest.model_validate(strict_json.loads(body))
    except (ValueError, ValidationError) as exc:  # pydantic's ValidationError is a ValueError; kept explicit
        return InvalidMessage(f"not a sync request ({str(exc)[:200]}): {body[:200]!r}")


def deferred_payment_sync(settings: Settings, hokodo: HokodoClientProvider) -> DeferredPaymentSync:
    store = WatermarkStore(lambda: boto3.client("dynamodb"), settings.idempotency_table)
    bus = EventBus(lambda: boto3.client("events"), settings.event_bus_name, settings.event_source)
    return DeferredPaymentSync(hokodo.client, store, bus, drift_settle_seconds=settings.drift_settle_seconds)


def sync_requests(settings: Settings) -> SyncRequests:
    return SyncRequests(lambda: boto3.client("sqs"), settings.sync_queue_url)
