"""The sync queue's function: each request read (sync_requests.py), requests for the same deferred payment in one batch
synced once, the deferred payment synced (sync.py) and what is new published. A request that cannot be synced for good
(a malformed body, a deferred payment Hokodo does not know) goes to the queue's DLQ with the reason; a transient
failure is retried, and parked in the DLQ with its last error on the last allowed receive (the reconciliation asks
again anyway)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import ValidationError

from .. import observability
from ..contracts import strict_json
from ..errors import DeferredPaymentNotFound, HokodoAuthenticationFailed, InvalidMessage, PermanentError
from ..hokodo.credentials import HokodoClientProvider
from ..runner.batch import OrderedBatchProcessor, invocation_deadline
from ..runner.dead_letters import DeadLetterQueue
from ..settings import Settings
from .bus import EventBus
from .sync import DeferredPaymentSync
from .sync_requests import SyncRequest
from .watermark import WatermarkStore

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()


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
