"""The SQS batch runner every queue function uses.

Per batch: each record is parsed once, up front (a body that breaks the contract, however badly, becomes
that record's reason and never fails the batch), and everything the batch needs from the table is read
in one request (each event's key generation and applied actions, and whether the events named in `after`
lists have taken effect). Per record: apply it once (Powertools idempotency keyed on `event_id`), then:
- applied: success, SQS deletes it;
- already applied (a duplicate in the batch, a redelivery, a redrive of an applied message): Powertools returns
  the stored result without running it again; logged as "already applied" and counted as `<Kind>Duplicate`,
  never as applied again (its amounts were counted when it was applied);
- permanent failure: the record is sent to the queue's DLQ at once with the reason, then deleted;
- transient failure: a batch item failure, so SQS redelivers it; on its last allowed receive
  (MaxReceiveCount) the bundle parks it in the DLQ itself, with its last error as the reason (SQS's
  redrive policy stays as the backstop);
- waiting for an earlier event (`after`, or a refund before its capture): retried until
  OUT_OF_ORDER_MAX_RECEIVES receives, then dead-lettered naming what it waited for.
Records for different deferred payments run concurrently; records for the same deferred payment (or FIFO
message group) run in order, and after one fails the rest of its group is held back, with a reason that
names the blocking event.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn, cast

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyValidationError

from .. import observability
from ..contracts.messages import Skipped, parse_message
from ..errors import (
    AwaitingEarlierEvent,
    HeldBack,
    HokodoAuthenticationFailed,
    InvalidMessage,
    PermanentError,
    PostSaleError,
    TransientError,
)
from ..hokodo.client import HokodoClient
from ..hokodo.credentials import HokodoClientProvider
from ..settings import Settings
from .actions import ApplyContext, failure_context
from .dead_letters import DeadLetterQueue
from .event_state import BatchView, EventStore
from .idempotency import idempotency_config, persistence_layer, record_key, record_prefix

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.base import FailureResponse, SuccessResponse
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# What a queue does with one message: its result (JSON), kept by Powertools as the event's idempotent result.
ApplyFn = Callable[[Any, ApplyContext], Mapping[str, Any]]


class QueueFunction:
    """One queue's Lambda: `kind` names the business event (shipment, return, cancellation)."""

    def __init__(
        self,
        *,
        kind: str,
        message_model: Any,
        apply: ApplyFn,
        settings: Settings | None = None,
        parse: Callable[[str], Any] | None = None,
    ):
        """`parse(body)` reads a record's body into a message (default: `message_model`'s contract), a `Skipped`, or
        raises a PostSaleError (permanent: dead-lettered with its reason; transient: retried)."""
        self.kind = kind
        self.settings = settings or Settings.from_env()
        self.parse = parse or functools.partial(parse_message, message_model, max_amount=self.settings.max_amount)
        self._apply_fn = apply
        self._config = idempotency_config(self.settings.idempotency_ttl_seconds, message_model.ACTION_FIELDS)
        self.dead_letters = DeadLetterQueue(lambda: boto3.client("sqs"), self.settings.dead_letter_queue_url)
        self.hokodo = HokodoClientProvider(self.settings)
        self._batch: Batch | None = None

    # Built at the first invocation, before its worker threads start (Powertools would otherwise configure the
    # persistence on the first call of each thread, and two threads can race): the DynamoDB client they need is
    # the largest part of a cold import (about 80 ms), so the import stays light.
    @cached_property
    def _persistence(self) -> DynamoDBPersistenceLayer:
        return persistence_layer(self.settings.idempotency_table, self.kind, self._config)

    @cached_property
    def _apply_once(self) -> Callable[..., dict[str, Any]]:
        # Powertools' decorator is typed as returning Any; it returns `_apply` wrapped, called as `(message=…)`.
        return cast(
            Callable[..., dict[str, Any]],
            idempotent_function(
                data_keyword_argument="message",
                persistence_store=self._persistence,
                config=self._config,
                key_prefix=record_prefix(self.kind),
            )(self._apply),
        )

    @cached_property
    def events(self) -> EventStore:
        table, ttl = self.settings.idempotency_table, self.settings.idempotency_ttl_seconds
        return EventStore(self._persistence.client, table, record_prefix(self.kind), ttl)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        self._config.register_lambda_context(context)
        self._apply_once, self.events  # noqa: B018 - built now, on this thread, before any worker thread starts
        client = self.hokodo.client()  # one secret look-up (cached) per batch
        client.use_deadline(invocation_deadline(context))
        records = event.get("Records", [])
        self._batch = batch = Batch(self, records, client)
        processor = OrderedBatchProcessor(batch.group_of, max_workers=self.settings.batch_concurrency)
        response = process_partial_response(event=event, record_handler=batch.handle_record, processor=processor, context=context)
        logger.info("batch done", extra={"kind": self.kind, "records": len(records), **batch.outcomes})
        return response

    def record_key(self, kind: str, event_id: str) -> str:
        return record_key(self._persistence, kind, event_id)

    def _apply(self, message: Any) -> dict[str, Any]:
        """Runs under Powertools' lock on the event: only once the event is not already applied or in progress."""
        batch = self._batch
        if batch is None:  # only a batch's records are applied, after `handle` set it
            raise RuntimeError(f"{self.kind} event {message.event_id} applied outside a batch")
        batch.ran_here()
        batch.wait_for_earlier_events(message)
        context = ApplyContext(
            batch.client,
            self.settings,
            kind=self.kind,
            event_id=message.event_id,
            state=batch.view.state(message.event_id),
            store=self.events,
            deferred_payment_id=getattr(message, "deferred_payment_id", None),
        )
        # Kept by Powertools as the event's result; ledger tracking reads it from the table's stream.
        return {"kind": self.kind, "event_id": message.event_id, **self._apply_fn(message, context)}


@dataclass
class Prepared:
    """One record, read once before anything is applied."""

    message_id: str
    receive_count: int
    group: str  # records of one group are applied in order
    message: Any = None  # the validated message, or None when `error` or `skipped` says why not
    error: PostSaleError | None = None
    skipped: str | None = None

    @property
    def group_name(self) -> str:
        """What the records of this group share, in words: `defpay-…`, `order-…`, or a FIFO message group."""
        kind, _, name = self.group.partition(":")
        return {"group": f"FIFO message group {name}", "key": name}.get(kind, "its message")

    @property
    def subject(self) -> str:
        event = f"event {self.message.event_id} " if self.message is not None else ""
        return f"{event}(message {self.message_id})"


class Batch:
    """One invocation's records: parsed, grouped, the table read once, each applied and reported."""

    def __init__(self, function: QueueFunction, records: list[dict[str, Any]], client: HokodoClient):
        self.function, self.client = function, client
        self.prepared = {r.get("messageId", ""): self._prepare(r) for r in records}
        self.outcomes: Counter[str] = Counter()
        self._blocked: dict[str, str] = {}  # group -> why its later records are held back
        self._taken_effect_now: set[str] = set()
        self._lock = threading.Lock()
        self._running = threading.local()  # per worker thread: did Powertools run `_apply` for the current record
        self.view, self._view_error = self._read_table()

    def _prepare(self, record: dict[str, Any]) -> Prepared:
        message_id = record.get("messageId", "")
        attributes = record.get("attributes") or {}
        prepared = Prepared(message_id, int(attributes.get("ApproximateReceiveCount") or 1), f"msg:{message_id}")
        try:
            message = self.function.parse(record.get("body") or "")
        except PostSaleError as exc:
            prepared.error = exc
        except Exception as exc:  # whatever a body does to a parser, it is this record's reason, not the batch's
            prepared.error = InvalidMessage(f"unreadable message: {type(exc).__name__}: {exc}")
        else:
            if isinstance(message, Skipped):
                prepared.skipped = message.reason
            else:
                prepared.message = message
        group = attributes.get("MessageGroupId")
        if group:
            prepared.group = f"group:{group}"
        elif prepared.message is not None:
            prepared.group = f"key:{prepared.message.ordering_key}"
        return prepared

    def _read_table(self) -> tuple[BatchView, Exception | None]:
        messages = [p.message for p in self.prepared.values() if p.message is not None]
        refs = {self.function.record_key(ref.kind, ref.event_id) for m in messages for ref in getattr(m, "after", ())}
        try:
            return self.function.events.read([m.event_id for m in messages], refs), None
        except Exception as exc:  # every record then waits for a later delivery, with this reason
            return BatchView(), exc

    def group_of(self, record: dict[str, Any]) -> str:
        return self.prepared[record.get("messageId", "")].group

    # -- one record ----------------------------------------------------------------------------
    def handle_record(self, record: SQSRecord) -> dict[str, Any]:
        prepared = self.prepared[record.message_id]
        log: dict[str, Any] = {
            "kind": self.function.kind,
            "message_id": record.message_id,
            "receive_count": prepared.receive_count,
        }
        if prepared.message is not None:
            log.update(prepared.message.correlation)
        if prepared.skipped is not None:
            logger.info("skipped", extra={**log, "reason": prepared.skipped})
            self._count("Skipped")
            return {"skipped": prepared.skipped}
        try:
            result, ran = self._apply(prepared)
        except Exception as exc:
            return self._failed(record, prepared, exc, log)
        with self._lock:
            self._taken_effect_now.add(self.function.record_key(self.function.kind, prepared.message.event_id))
        if ran:
            logger.info("applied", extra={**log, "actions": result.get("actions")})
            self._count("Applied", actions=result.get("actions") or [])
        else:  # Powertools returned the result stored when it was applied: nothing was sent to Hokodo now
            logger.info("already applied", extra={**log, "actions": result.get("actions")})
            self._count("Duplicate")
        return result

    def _failed(self, record: SQSRecord, prepared: Prepared, exc: Exception, log: dict[str, Any]) -> dict[str, Any]:
        """Dead-letter a permanent failure (or a wait that lasted too long), else leave it for redelivery (raises)."""
        if isinstance(exc, AwaitingEarlierEvent):
            waited_enough = prepared.receive_count >= self.function.settings.out_of_order_max_receives
            if waited_enough or self._last_receive(prepared):
                return self._dead_letter(record, prepared, exc, log)
            return self._retry_later(prepared, exc, log)
        if isinstance(exc, (PermanentError, IdempotencyValidationError)):
            return self._dead_letter(record, prepared, exc, log)
        if isinstance(exc, HokodoAuthenticationFailed):
            self.function.hokodo.refresh()
        if self._last_receive(prepared):  # transient, in progress elsewhere, or unexpected, for the last time
            return self._dead_letter(record, prepared, exc, log, parked=True)
        return self._retry_later(prepared, exc, log)

    def _apply(self, prepared: Prepared) -> tuple[dict[str, Any], bool]:
        """The record's result, and whether it was applied now (False: already applied, its stored result)."""
        if prepared.error is not None:
            raise prepared.error
        blocker = self._blocked.get(prepared.group)  # only this group's thread writes it
        if blocker is not None:
            raise HeldBack(f"held back behind {blocker}")
        if self._view_error is not None:
            raise TransientError(f"could not read the batch's event state: {type(self._view_error).__name__}: {self._view_error}")
        self._running.ran = False
        result = self.function._apply_once(message=prepared.message)  # noqa: SLF001 - the runner's own idempotent step
        return result, self._running.ran

    def ran_here(self) -> None:
        """Called by `QueueFunction._apply`, on the record's thread: Powertools runs it only for an event not applied yet."""
        self._running.ran = True

    def wait_for_earlier_events(self, message: Any) -> None:
        """Raise AwaitingEarlierEvent while an event named in the message's `after` has not taken effect."""
        for ref in getattr(message, "after", ()):
            key = self.function.record_key(ref.kind, ref.event_id)
            with self._lock:
                done = key in self.view.taken_effect or key in self._taken_effect_now
            if not done:
                raise AwaitingEarlierEvent(
                    f"waiting for {ref.kind} {ref.event_id} (named in `after`), which has not taken effect yet"
                )

    def _last_receive(self, prepared: Prepared) -> bool:
        limit = self.function.settings.max_receive_count
        return bool(limit) and prepared.receive_count >= limit

    # -- outcomes ------------------------------------------------------------------------------
    def _dead_letter(
        self, record: SQSRecord, prepared: Prepared, exc: BaseException, log: dict[str, Any], parked: bool = False
    ) -> dict[str, Any]:
        reason = _reason(exc)
        location = getattr(prepared.message, "location", None)
        if location and location not in reason:
            reason = f"{location}: {reason}"
        if parked:
            limit = self.function.settings.max_receive_count
            reason = f"still failing on its last allowed receive ({prepared.receive_count} of MaxReceiveCount {limit}): {reason}"
        try:
            self.function.dead_letters.send(record, reason=reason, error_type=type(exc).__name__)
        except Exception as failure:  # the record stays on its queue and comes back: nothing is lost
            logger.exception(
                "could not dead-letter; left for redelivery", extra={**log, "reason": reason, "failure": str(failure)}
            )
            self._count("RetryLater")
            raise
        logger.warning("dead-lettered", extra={**log, "reason": reason, "error_type": type(exc).__name__})
        self._count("Parked" if parked else "DeadLettered", error_type=type(exc).__name__)
        return {"dead_lettered": reason}

    def _retry_later(self, prepared: Prepared, exc: BaseException, log: dict[str, Any]) -> NoReturn:
        reason = _reason(exc)
        if not isinstance(exc, HeldBack):
            self._blocked[prepared.group] = (
                f"{prepared.subject}, which came before it for {prepared.group_name} and failed: {reason}"
            )
        logger.warning("will retry", extra={**log, "reason": reason, "error_type": type(exc).__name__})
        self._count("RetryLater")
        raise exc

    def _count(self, outcome: str, *, actions: list[Mapping[str, Any]] | None = None, error_type: str | None = None) -> None:
        with self._lock:
            self.outcomes[outcome] += 1
        if actions is not None:
            observability.applied(self.function.kind, actions)
        else:
            observability.outcome(self.function.kind, outcome, error_type)


class OrderedBatchProcessor(BatchProcessor):
    """Powertools' BatchProcessor (partial batch responses), run concurrently across ordering groups."""

    def __init__(self, group_of: Callable[[dict[str, Any]], str], max_workers: int = 10):
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._group_of = group_of
        self._max_workers = max(1, max_workers)

    def process(self) -> list[SuccessResponse | FailureResponse]:
        groups: dict[str, list[dict[str, Any]]] = {}
        for record in self.records:
            groups.setdefault(self._group_of(record), []).append(record)
        if len(groups) == 1 or self._max_workers == 1:
            return [result for group in groups.values() for result in self._process_group(group)]
        with ThreadPoolExecutor(max_workers=min(self._max_workers, len(groups))) as pool:
            return [result for results in pool.map(self._process_group, groups.values()) for result in results]

    def _process_group(self, records: list[dict[str, Any]]) -> list[SuccessResponse | FailureResponse]:
        return [self._process_record(record) for record in records]


def invocation_deadline(context: LambdaContext) -> float:
    """A `time.monotonic()` instant before the invocation ends, with a margin to report every record."""
    remaining = context.get_remaining_time_in_millis() / 1000
    return time.monotonic() + remaining - min(2.0, remaining * 0.1)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, IdempotencyValidationError):
        return (
            "event_id was already used for a message with different content (deferred payment, amount, flags or "
            "metadata); nothing was applied for this one"
        )
    text = str(exc) or type(exc).__name__
    context = failure_context(exc)
    return f"{text} ({context})" if context else text
