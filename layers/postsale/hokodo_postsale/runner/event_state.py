"""What the bundle remembers about each upstream event besides Powertools' record, in the same table:

- its **key generation**: the Idempotency-Key of each Hokodo action is derived from (kind, event_id, action,
  generation). It moves on only after Hokodo definitively refused an action (nothing was applied), with a
  conditional update from the generation that was refused, so a message fixed and redriven is sent under a
  fresh key, while a request that timed out (and may have been applied) is always retried under its own;
- the **actions already applied** of an event that needs several Hokodo calls (a capture, then a
  void_remaining), so no later delivery or redrive repeats one, even after Hokodo forgot its key;
- the **actions in doubt**: sent, and answered with nothing that says whether Hokodo applied them (a timeout, a
  5xx, a dropped connection), with the time of that first attempt (actions.py decides from it).

Beside them, per deferred payment, the totals the bundle applied (`sent_*` on its sync item, written by ledger
tracking): what an in-doubt action is compared with.

Everything a batch needs is read at its start in one BatchGetItem (the state of each of its events, and the
Powertools records of the events their `after` lists name), so the happy path adds one request per batch
to Powertools' two per event.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import KeyGenerationMoved, TransientError
from .idempotency import KEY_PREFIX

_BATCH_GET_LIMIT = 100
_APPLIED = "applied_"
_DOUBT = "doubt_"
SYNC_PREFIX = f"{KEY_PREFIX}.sync#"  # the per-deferred-payment item (events/watermark.py)
SENT_TOTALS = ("captured", "refunded", "voided")  # what ledger tracking adds up on it (`sent_<total>`)
# A DynamoDB item in the low-level client's spelling: attribute name -> {"S": "…"}, {"N": "…"}, {"SS": […]}…
AttributeValue = dict[str, Any]
Item = dict[str, AttributeValue]


@dataclass
class EventState:
    generation: int = 0
    applied: dict[str, str] = field(default_factory=dict)  # action -> Hokodo's answer, as JSON
    doubts: dict[str, float] = field(default_factory=dict)  # action -> epoch of its first attempt left in doubt


@dataclass
class BatchView:
    """The table as a batch found it when it started."""

    states: dict[str, EventState] = field(default_factory=dict)  # event_id -> its state
    taken_effect: set[str] = field(default_factory=set)  # Powertools record keys that are COMPLETED and not expired

    def state(self, event_id: str) -> EventState:
        return self.states.setdefault(event_id, EventState())


class EventStore:
    """One kind's event states. `dynamodb` is a boto3 DynamoDB client (Powertools' own, so cold start makes no other)."""

    def __init__(self, dynamodb: Any, table_name: str, kind_prefix: str, ttl_seconds: int):
        self._dynamodb = dynamodb
        self._table = table_name
        self._prefix = f"{kind_prefix}.state#"
        self._ttl_seconds = ttl_seconds

    def read(self, event_ids: Iterable[str], record_keys: Iterable[str]) -> BatchView:
        """The state of each event, and which of the given Powertools records have taken effect."""
        event_ids, record_keys = sorted(set(event_ids)), sorted(set(record_keys))
        keys = [self._prefix + e for e in event_ids] + record_keys
        items = {item["id"]["S"]: item for item in self._batch_get(keys)}
        view = BatchView()
        for event_id in event_ids:
            item = items.get(self._prefix + event_id)
            if item is not None:
                view.states[event_id] = EventState(
                    generation=int(item.get("generation", {}).get("N", "0")),
                    applied={name.removeprefix(_APPLIED): v["S"] for name, v in item.items() if name.startswith(_APPLIED)},
                    doubts={name.removeprefix(_DOUBT): float(v["N"]) for name, v in item.items() if name.startswith(_DOUBT)},
                )
        now = time.time()
        view.taken_effect = {
            key
            for key in record_keys
            if (item := items.get(key)) is not None
            and item.get("status", {}).get("S") == "COMPLETED"
            and float(item.get("expiration", {}).get("N", "0")) > now
        }
        return view

    def advance_generation(self, event_id: str, refused: int) -> int:
        """Move the event from the generation Hokodo refused to the next; raises KeyGenerationMoved when another
        delivery moved it first (the refusal seen here may then be stale)."""
        condition = "generation = :refused" + (" OR attribute_not_exists(generation)" if refused == 0 else "")
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": self._prefix + event_id}},
                UpdateExpression="SET generation = :next, expiration = :ttl",
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    ":refused": {"N": str(refused)},
                    ":next": {"N": str(refused + 1)},
                    ":ttl": {"N": str(self._expiration())},
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            raise KeyGenerationMoved(
                f"another delivery of this event moved its key generation on from {refused}; it is read again on retry"
            ) from None
        return refused + 1

    def record_applied(self, event_id: str, applied: dict[str, str], deferred_payment_id: str | None = None) -> None:
        """Remember actions Hokodo applied (before the event's next action is sent). Ledger tracking reads them from the
        table's stream, with the deferred payment they belong to."""
        names = {f"#a{i}": _APPLIED + action for i, action in enumerate(applied)}
        values = {f":a{i}": {"S": answer} for i, answer in enumerate(applied.values())}
        update = ", ".join(f"#a{i} = :a{i}" for i in range(len(applied)))
        if deferred_payment_id:
            update += ", deferred_payment_id = :dp"
            values[":dp"] = {"S": deferred_payment_id}
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"id": {"S": self._prefix + event_id}},
            UpdateExpression=f"SET {update}, generation = if_not_exists(generation, :zero), expiration = :ttl",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":zero": {"N": "0"}, ":ttl": {"N": str(self._expiration())}},
        )

    def record_doubt(self, event_id: str, action: str, attempted_at: float) -> None:
        """Remember that `action` was sent at `attempted_at` and its outcome is unknown (kept if already recorded)."""
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"id": {"S": self._prefix + event_id}},
            UpdateExpression="SET #d = if_not_exists(#d, :at), generation = if_not_exists(generation, :zero), expiration = :ttl",
            ExpressionAttributeNames={"#d": _DOUBT + action},
            ExpressionAttributeValues={
                ":at": {"N": str(attempted_at)},
                ":zero": {"N": "0"},
                ":ttl": {"N": str(self._expiration())},
            },
        )

    def sent(self, deferred_payment_id: str) -> dict[str, int]:
        """What the bundle applied to a deferred payment, by total, as ledger tracking recorded it (0 when nothing)."""
        item: Item = self._dynamodb.get_item(
            TableName=self._table,
            Key={"id": {"S": SYNC_PREFIX + deferred_payment_id}},
            ConsistentRead=True,
            ProjectionExpression=", ".join(f"sent_{name}" for name in SENT_TOTALS),
        ).get("Item", {})
        return {name: int(item.get(f"sent_{name}", {}).get("N", "0")) for name in SENT_TOTALS}

    def _expiration(self) -> int:
        return int(time.time()) + self._ttl_seconds

    def _batch_get(self, keys: list[str]) -> list[Item]:
        found: list[Item] = []
        for start in range(0, len(keys), _BATCH_GET_LIMIT):
            request = {
                self._table: {"Keys": [{"id": {"S": k}} for k in keys[start : start + _BATCH_GET_LIMIT]], "ConsistentRead": True}
            }
            for attempt in range(4):
                response = self._dynamodb.batch_get_item(RequestItems=request)
                found += response.get("Responses", {}).get(self._table, [])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2**attempt)
            if request:
                raise TransientError("DynamoDB left part of the batch's event state unread (throttled); retried later")
        return found
