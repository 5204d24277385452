"""The SQS batch runner every queue function uses.

Per record: parse and validate the message (permanent error if it does not follow the contract),
then apply it once (Powertools idempotency keyed on `event_id`), then report:
- applied (or already applied): success, SQS deletes it;
- permanent failure: the record is sent to the queue's DLQ at once with the reason, then deleted;
- transient failure: a batch item failure, so SQS redelivers it (and redrives it to the DLQ after
  the queue's maxReceiveCount).
Records for different deferred payments run concurrently; records for the same deferred payment
(or FIFO message group) run in order, and after one fails the rest of its group is not tried.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyValidationError,
)
from pydantic import BaseModel, ValidationError

from .actions import ApplyContext
from .dead_letters import DeadLetterQueue
from .errors import AwaitingEarlierEvent, HokodoAuthenticationFailed, InvalidMessage, PermanentError
from .hokodo import HokodoClient
from .hokodo_credentials import HokodoClientProvider
from .idempotency import idempotency_config, persistence_layer
from .rejections import RejectionCounter
from .settings import Settings

logger = Logger()
metrics = Metrics()
ApplyFn = Callable[[Any, ApplyContext], dict]


class QueueFunction:
    """One queue's Lambda: `kind` names the business event (shipment, return, cancellation)."""

    def __init__(self, *, kind: str, message_model: type[BaseModel], apply: ApplyFn, settings: Settings | None = None):
        self.kind = kind
        self.settings = settings or Settings.from_env()
        self._model = message_model
        self._apply_fn = apply
        self._config = idempotency_config(self.settings.idempotency_ttl_seconds)
        self._apply_once = idempotent_function(
            data_keyword_argument="message",
            persistence_store=persistence_layer(self.settings.idempotency_table),
            config=self._config,
            key_prefix=f"hokodo-postsale.{kind}",  # stable across function renames and redeploys
        )(self._apply)
        self._dead_letters = DeadLetterQueue(lambda: boto3.client("sqs"), self.settings.dead_letter_queue_url)
        self._rejections = RejectionCounter(lambda: boto3.client("dynamodb"), self.settings.idempotency_table)
        self._hokodo = HokodoClientProvider(self.settings)
        self._client: HokodoClient | None = None
        self._outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle(self, event: dict, context: Any) -> dict:
        self._config.register_lambda_context(context)
        self._client = self._hokodo.client()  # one secret look-up (cached) per batch
        self._client.use_deadline(_deadline(context))
        self._outcomes = Counter()
        processor = OrderedBatchProcessor(max_workers=self.settings.batch_concurrency)
        response = process_partial_response(event=event, record_handler=self._handle_record, processor=processor, context=context)
        for outcome, count in self._outcomes.items():
            metrics.add_metric(name=f"{self.kind.capitalize()}{outcome}", unit=MetricUnit.Count, value=count)
        logger.info("batch done", extra={"kind": self.kind, "records": len(event.get("Records", [])), **self._outcomes})
        return response

    def _handle_record(self, record: SQSRecord) -> dict:
        log = {"kind": self.kind, "message_id": record.message_id}
        receive_count = int(record.attributes.approximate_receive_count or 1)
        try:
            message = parse_message(self._model, record.body)
            log.update(event_id=message.event_id, deferred_payment_id=message.deferred_payment_id)
            result = self._apply_once(message=message, receive_count=receive_count)
        except AwaitingEarlierEvent as exc:
            if receive_count < self.settings.out_of_order_max_receives:
                return self._retry_later(exc, log)
            return self._dead_letter(record, exc, log)
        except (PermanentError, IdempotencyValidationError) as exc:
            return self._dead_letter(record, exc, log)
        except Exception as exc:  # transient, in progress elsewhere, or unexpected: SQS redelivers, then redrives
            if isinstance(exc, HokodoAuthenticationFailed):
                self._hokodo.refresh()
            return self._retry_later(exc, log)
        logger.info("applied", extra={**log, "actions": result.get("actions")})
        self._count("Applied")
        return result

    def _apply(self, message: BaseModel, receive_count: int) -> dict:
        context = ApplyContext(self._client, self.settings, receive_count, self._rejections)
        return self._apply_fn(message, context)

    def _dead_letter(self, record: SQSRecord, exc: BaseException, log: dict) -> dict:
        reason = _reason(exc)
        self._dead_letters.send(record, reason=reason, error_type=type(exc).__name__)
        logger.warning("dead-lettered", extra={**log, "reason": reason, "error_type": type(exc).__name__})
        self._count("DeadLettered")
        return {"dead_lettered": reason}

    def _retry_later(self, exc: BaseException, log: dict):
        logger.warning("will retry", extra={**log, "reason": _reason(exc), "error_type": type(exc).__name__})
        self._count("RetryLater")
        raise exc

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._outcomes[outcome] += 1


def parse_message(model: type[BaseModel], body: str) -> Any:
    """Validate an SQS body against the message contract; every failure is an InvalidMessage."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors())
        raise InvalidMessage(f"invalid {model.__name__}: {problems}") from None


class OrderedBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor (partial batch responses), run concurrently across ordering groups."""

    def __init__(self, max_workers: int = 10):
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._max_workers = max(1, max_workers)

    def process(self) -> list[tuple]:
        groups = group_records(self.records)
        if len(groups) == 1 or self._max_workers == 1:
            return [result for group in groups for result in self._process_group(group)]
        with ThreadPoolExecutor(max_workers=min(self._max_workers, len(groups))) as pool:
            return [result for results in pool.map(self._process_group, groups) for result in results]

    def _process_group(self, records: list[dict]) -> list[tuple]:
        results: list[tuple] = []
        for record in records:
            if results and results[-1][0] == "fail":
                results.append(self._skip(record))
            else:
                results.append(self._process_record(record))
        return results

    def _skip(self, record: dict) -> tuple:
        try:
            raise RuntimeError("not tried: an earlier record of the same deferred payment failed in this batch")
        except RuntimeError as exc:
            return self.failure_handler(record=SQSRecord(record), exception=(type(exc), exc, None))


def group_records(records: list[dict]) -> list[list[dict]]:
    """Group by FIFO message group, else by the body's deferred payment id; unparseable records stand alone."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(_ordering_key(record), []).append(record)
    return list(groups.values())


def _ordering_key(record: dict) -> str:
    group = (record.get("attributes") or {}).get("MessageGroupId")
    if group:
        return f"group:{group}"
    try:
        body = json.loads(record.get("body") or "")
        key = body.get("deferred_payment_id") if isinstance(body, dict) else None
    except ValueError:
        key = None
    return f"dp:{key}" if isinstance(key, str) else f"msg:{record.get('messageId')}"


def _deadline(context: Any) -> float:
    remaining = context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + remaining - min(2.0, remaining * 0.1)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, IdempotencyValidationError):
        return "event_id was already used for a message with different content; nothing was applied for this one"
    return str(exc) or type(exc).__name__
