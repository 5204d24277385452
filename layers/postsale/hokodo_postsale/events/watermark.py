"""The per-deferred-payment item `hokodo-postsale.sync#<id>` of the idempotency table: what was published (as totals),
the status last seen, the lease a sync holds while it publishes, the mark that keeps it on the reconciliation's list of
open deferred payments, and (written by ledger tracking) what the bundle itself applied."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..runner.event_state import SENT_TOTALS, SYNC_PREFIX
from .facts import TOTAL_NAMES

if TYPE_CHECKING:
    from ..runner.event_state import Item

OPEN_INDEX = "open-deferred-payments"
_LEASE_SECONDS = 30


class LeaseLost(Exception):
    """Another sync took the item over while this one published (its lease had run out)."""


@dataclass
class Watermark:
    exists: bool = False
    version: int = 0
    published: dict[str, int] = field(default_factory=dict)  # total -> the total already published
    status: str | None = None
    status_changes: int = 0
    changed_at: float = 0.0  # when a sync last saw a total grow
    drift: str | None = None  # the id of the last Drift Detected published
    sent: dict[str, int] | None = None  # what the bundle applied (ledger tracking); None: it never applied anything
    tracked_version: int = 0
    tracked_at: float = 0.0
    watched: bool = False  # on the reconciliation's list of open deferred payments


@dataclass(frozen=True)
class Publication:
    """What one sync published: the watermark's new values."""

    published: dict[str, int]
    status: str
    status_changes: int
    changed: bool
    drift: str | None
    final: bool


class WatermarkStore:
    def __init__(self, dynamodb: Callable[[], Any], table_name: str):
        self._make_client, self._table = dynamodb, table_name

    @cached_property
    def _dynamodb(self) -> Any:  # made on first use, not at cold start
        return self._make_client()

    def read(self, deferred_payment_id: str) -> Watermark:
        item: Item | None = self._dynamodb.get_item(
            TableName=self._table, Key=_key(deferred_payment_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            return Watermark()

        def number(name: str) -> int:
            return int(item.get(name, {}).get("N", "0"))

        return Watermark(
            exists=True,
            version=number("version"),
            published={name: number(f"published_{name}") for name in TOTAL_NAMES},
            status=item.get("status", {}).get("S"),
            status_changes=number("status_changes"),
            changed_at=float(item.get("changed_at", {}).get("N", "0")),
            drift=item.get("drift", {}).get("S"),
            sent={name: number(f"sent_{name}") for name in SENT_TOTALS} if "counted" in item else None,
            tracked_version=number("tracked_version"),
            tracked_at=float(item.get("tracked_at", {}).get("N", "0")),
            watched="open" in item,
        )

    def claim(self, deferred_payment_id: str, mark: Watermark) -> str | None:
        """A lease on the item if nobody published since `mark` was read and no other sync holds one; else None."""
        token, now = uuid.uuid4().hex, time.time()
        version = "version = :v" if mark.version else "attribute_not_exists(version)"
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(deferred_payment_id),
                UpdateExpression="SET lease = :token, lease_until = :until",
                ConditionExpression=f"{version} AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                ExpressionAttributeValues={
                    ":token": {"S": token},
                    ":until": {"N": str(now + _LEASE_SECONDS)},
                    ":now": {"N": str(now)},
                    **({":v": {"N": str(mark.version)}} if mark.version else {}),
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        return token

    def release(self, deferred_payment_id: str, token: str, mark: Watermark, publication: Publication) -> None:
        """Advance the watermark to what was published and give the lease back. A final deferred payment leaves the
        reconciliation's list, unless ledger tracking recorded something since `mark` was read. Raises LeaseLost."""
        now = time.time()
        values: dict[str, Any] = {
            ":token": {"S": token},
            ":status": {"S": publication.status},
            ":changes": {"N": str(publication.status_changes)},
            ":one": {"N": "1"},
            ":now": {"N": str(int(now))},
            **{f":p_{name}": {"N": str(publication.published.get(name, 0))} for name in TOTAL_NAMES},
        }
        sets = [
            "#status = :status",
            "status_changes = :changes",
            "synced_at = :now",
            *(f"published_{name} = :p_{name}" for name in TOTAL_NAMES),
        ]
        if publication.changed:
            sets.append("changed_at = :changed_at")
            values[":changed_at"] = {"N": str(now)}
        if publication.drift:
            sets.append("drift = :drift")
            values[":drift"] = {"S": publication.drift}
        removes = ["lease", "lease_until", "published"]  # `published`: the fact ids a pre-release build kept
        condition = "lease = :token"
        if publication.final:
            condition += " AND " + ("tracked_version = :tv" if mark.tracked_version else "attribute_not_exists(tracked_version)")
            if mark.tracked_version:
                values[":tv"] = {"N": str(mark.tracked_version)}
            removes.append("#open")
        else:
            sets.append("#open = :open")
            values[":open"] = {"S": "1"}
        update = f"SET {', '.join(sets)} ADD version :one REMOVE {', '.join(removes)}"
        try:
            self._update(deferred_payment_id, update, condition, values)
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            if not publication.final:
                raise LeaseLost(f"{deferred_payment_id}: lost its lease while publishing") from None
            # tracked since `mark` was read: something new was applied, so keep watching it
            self.release(deferred_payment_id, token, mark, replace(publication, final=False))

    def watch(self, deferred_payment_id: str) -> None:
        """Put a deferred payment on the reconciliation's list (a notification was accepted for it); its next sync
        takes it off again if nothing is left to happen to it."""
        self._dynamodb.update_item(
            TableName=self._table,
            Key=_key(deferred_payment_id),
            UpdateExpression="SET #open = :open, synced_at = if_not_exists(synced_at, :zero)",
            ExpressionAttributeNames={"#open": "open"},
            ExpressionAttributeValues={":open": {"S": "1"}, ":zero": {"N": "0"}},
        )

    def unwatch(self, deferred_payment_id: str) -> None:
        """Take a deferred payment Hokodo does not know off the reconciliation's list."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=_key(deferred_payment_id),
                UpdateExpression="REMOVE #open",
                ConditionExpression="attribute_exists(id)",
                ExpressionAttributeNames={"#open": "open"},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            pass

    def open_deferred_payments(self) -> list[str]:
        """Every deferred payment the reconciliation watches, the least recently synced first."""
        found: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": OPEN_INDEX,
            "KeyConditionExpression": "#open = :one",
            "ExpressionAttributeNames": {"#open": "open"},
            "ExpressionAttributeValues": {":one": {"S": "1"}},
        }
        while True:
            page = self._dynamodb.query(**kwargs)
            found += [item["id"]["S"].removeprefix(SYNC_PREFIX) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _update(self, deferred_payment_id: str, update: str, condition: str, values: dict[str, Any]) -> None:
        names = {n: n[1:] for n in ("#status", "#open") if n in update or n in condition}
        self._dynamodb.update_item(
            TableName=self._table,
            Key=_key(deferred_payment_id),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": names} if names else {}),
        )


def _key(deferred_payment_id: str) -> dict[str, Any]:
    return {"id": {"S": SYNC_PREFIX + deferred_payment_id}}
