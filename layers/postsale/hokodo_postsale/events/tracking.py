"""What the bundle applied to each deferred payment, kept for the reconciliation, off the hot path.

The idempotency table's stream carries every record the queue functions write: a Powertools record that
became COMPLETED holds an event's applied actions (its result), and an event state item holds the
actions applied before a later one failed. Each applied action is added once (keyed kind/event/action)
to the deferred payment's sync item: totals sent (captured, refunded, voided), and the mark that puts it
on the reconciliation's list of open deferred payments. Then every deferred payment the stream batch
touched is put on the sync queue (one request per deferred payment per batch), so the facts of the bundle's own
actions reach the bus within seconds, under the ids any other sync would give them. The queue functions themselves
write nothing more than Powertools' two requests per event for this.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from .. import observability
from ..errors import InvalidMessage
from ..runner.event_state import SYNC_PREFIX
from ..runner.idempotency import KEY_PREFIX
from ..settings import Settings
from .sync_requests import SyncRequests, sync_requests

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from ..runner.event_state import Item

POST_SALE_KINDS = ("shipment", "return", "cancellation")
_RECORD = re.compile(rf"^{re.escape(KEY_PREFIX)}\.({'|'.join(POST_SALE_KINDS)})#")
_STATE = re.compile(rf"^{re.escape(KEY_PREFIX)}\.({'|'.join(POST_SALE_KINDS)})\.state#(.+)$", re.DOTALL)
# Which of Hokodo's signed deltas (an action's `changes`) an action adds to which total the bundle sent (`sent_<total>`,
# SENT_TOTALS: what an action in doubt is compared with, and drift).
_TOTAL_OF: dict[str, Callable[[dict[str, int]], tuple[str, int]]] = {
    "capture": lambda c: ("captured", c.get("protected_captures", 0) + c.get("unprotected_captures", 0)),
    "capture_remaining": lambda c: ("captured", c.get("protected_captures", 0) + c.get("unprotected_captures", 0)),
    "refund": lambda c: ("refunded", c.get("refunds", 0)),
    "void": lambda c: ("voided", c.get("voided_authorisation", 0)),
    "void_remaining": lambda c: ("voided", c.get("voided_authorisation", 0)),
}


class LedgerTracking:
    def __init__(self, dynamodb: Callable[[], Any], table_name: str, requests: SyncRequests):
        self._make_client, self._table, self._requests = dynamodb, table_name, requests
        self._processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

    @cached_property
    def _dynamodb(self) -> Any:  # made on first use, not at cold start
        return self._make_client()

    def handle(self, event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        """A stream batch: each record tracked (partial batch failures), then the deferred payments it touched synced.
        If the sync queue refuses, the batch fails as a whole and the stream delivers it again (tracking is idempotent)."""
        touched: set[str] = set()
        response = process_partial_response(
            event=event,
            record_handler=lambda record: self.track(record.raw_event, touched),
            processor=self._processor,
            context=context,
        )
        self._requests.request(sorted(touched), "applied")
        return response

    def track(self, stream_record: dict[str, Any], touched: set[str] | None = None) -> int:
        """Add the actions one stream record shows applied; returns how many were new. The deferred payments they
        belong to are added to `touched` (already counted or not: a retried batch must still ask for their sync)."""
        applied = list(applied_actions(stream_record))
        added = sum(self._add(*action) for action in applied)
        if touched is not None:
            touched.update(deferred_payment_id for deferred_payment_id, *_ in applied)
        observability.tracked(added)
        return added

    def _add(self, deferred_payment_id: str, key: str, action: str, changes: dict[str, int]) -> bool:
        total, amount = _TOTAL_OF[action](changes)
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": SYNC_PREFIX + deferred_payment_id}},
                UpdateExpression=(
                    f"ADD counted :key, sent_{total} :amount, tracked_version :one "
                    "SET tracked_at = :now, #open = :open, synced_at = if_not_exists(synced_at, :zero)"
                ),
                ConditionExpression="NOT contains(counted, :counted)",
                ExpressionAttributeNames={"#open": "open"},
                ExpressionAttributeValues={
                    ":key": {"SS": [key]},
                    ":counted": {"S": key},
                    ":amount": {"N": str(int(amount))},
                    ":one": {"N": "1"},
                    ":now": {"N": str(int(time.time()))},
                    ":open": {"S": "1"},
                    ":zero": {"N": "0"},
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False  # already added (the stream delivers at least once; an action shows in two items)
        return True


def applied_actions(stream_record: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, int]]]:
    """(deferred payment, kind/event/action, action, changes) for each action a stream record shows applied."""
    if stream_record.get("eventName") not in ("INSERT", "MODIFY"):
        return
    new, old = (
        (stream_record.get("dynamodb") or {}).get("NewImage") or {},
        (stream_record.get("dynamodb") or {}).get("OldImage") or {},
    )
    key = new.get("id", {}).get("S", "")
    if _RECORD.match(key) and _string(new, "status") == "COMPLETED" and _string(old, "status") != "COMPLETED":
        result = json.loads(_string(new, "data") or "{}")
        for action in result.get("actions") or []:
            if action.get("action") in _TOTAL_OF and result.get("deferred_payment_id"):
                yield (
                    result["deferred_payment_id"],
                    f"{result['kind']}/{result['event_id']}/{action['action']}",
                    action["action"],
                    action.get("changes") or {},
                )
    elif (state := _STATE.match(key)) and (deferred_payment_id := _string(new, "deferred_payment_id")):
        for name in new.keys() - old.keys():
            action = name.removeprefix("applied_")
            if name.startswith("applied_") and action in _TOTAL_OF:
                text = _string(new, name)
                if text is None:  # event_state writes each applied action as a string: Hokodo's answer as JSON
                    raise InvalidMessage(f"stream record of {key}: {name} is not a string attribute")
                answer = json.loads(text)
                yield deferred_payment_id, f"{state[1]}/{state[2]}/{action}", action, answer.get("changes") or {}


def _string(image: Item, name: str) -> str | None:
    return (image.get(name) or {}).get("S")


def tracking(settings: Settings | None = None) -> LedgerTracking:
    settings = settings or Settings.from_env()
    return LedgerTracking(lambda: boto3.client("dynamodb"), settings.idempotency_table, sync_requests(settings))
