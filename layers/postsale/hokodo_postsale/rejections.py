"""Counting Hokodo's definite rejections of one event, so a retried request gets a fresh Idempotency-Key.

Whether Hokodo replays a 4xx answer for a reused Idempotency-Key is unconfirmed. If it does, a
return that arrived before its shipment would be refused forever under its first key. So after a
definite rejection (Hokodo said no: nothing was applied) the event moves to the next key
generation. Only definite rejections advance it, never timeouts, so a request that may have been
applied is always retried under its own key. The counter lives in the idempotency table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any


class RejectionCounter:
    """`dynamodb_client` is a factory: only a refused request ever needs the client."""

    def __init__(self, dynamodb_client: Callable[[], Any], table_name: str):
        self._make_client = dynamodb_client
        self._table = table_name

    @cached_property
    def _dynamodb(self) -> Any:
        return self._make_client()

    def generation(self, kind: str, event_id: str) -> int:
        item = self._dynamodb.get_item(TableName=self._table, Key=_key(kind, event_id), ConsistentRead=True).get("Item")
        return int(item["rejections"]["N"]) if item else 0

    def record_rejection(self, kind: str, event_id: str, ttl_epoch_seconds: int) -> None:
        self._dynamodb.update_item(
            TableName=self._table,
            Key=_key(kind, event_id),
            UpdateExpression="ADD rejections :one SET expiration = :ttl",
            ExpressionAttributeValues={":one": {"N": "1"}, ":ttl": {"N": str(ttl_epoch_seconds)}},
        )


def _key(kind: str, event_id: str) -> dict:
    return {"id": {"S": f"hokodo-postsale.{kind}.rejections#{event_id}"}}
