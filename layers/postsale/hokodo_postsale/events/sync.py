"""A deferred payment as Hokodo holds it, turned into facts on the merchant's event bus, each fact once.

Hokodo's notifications are unsigned hints: the truth is the deferred payment read back from the API.
Every sync (a webhook, or the scheduled reconciliation) reads it, derives its facts (one per entry of its
`events`: captures, refunds, voids, expiration, clawback; a status change; drift from what the bundle
sent), and publishes those its watermark in DynamoDB does not list yet. The watermark advances only for
what PutEvents accepted, under a lease taken with a conditional write, so two syncs of one deferred
payment at once publish each fact once. A crash after PutEvents and before the watermark write would
publish those facts again on the next sync: every fact's `id` is stable so consumers can dedupe.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..errors import TransientError
from ..hokodo.client import HokodoClient
from ..hokodo.models import DeferredPayment, DeferredPaymentEvent
from ..runner.idempotency import KEY_PREFIX
from . import catalogue
from .bus import EventBus, Fact

if TYPE_CHECKING:
    from ..runner.event_state import Item

STATUS_CHANGED = catalogue.DeferredPaymentStatusChanged.DETAIL_TYPE
SYNC_PREFIX = f"{KEY_PREFIX}.sync#"
OPEN_INDEX = "open-deferred-payments"
# Never change: every fact id ever published is derived from it.
_FACT_NAMESPACE = uuid.UUID("0b5a3c1e-8f2d-4a6b-9c7e-2d4f6a8b1c3e")
_LEASE_SECONDS = 30


class SyncBusy(TransientError):
    """Another sync of the same deferred payment holds its lease; try again shortly."""


class EventsNotPublished(TransientError):
    """PutEvents kept refusing some facts; they are published on the next sync (Hokodo retries the webhook)."""


@dataclass(frozen=True)
class Totals:
    captured: int = 0
    refunded: int = 0
    voided: int = 0

    @classmethod
    def at_hokodo(cls, dp: DeferredPayment) -> Totals:
        """What Hokodo's ledger says was ever captured, refunded and voided (refunds reduce the captures)."""
        return cls(dp.protected_captures + dp.unprotected_captures + dp.refunds, dp.refunds, dp.voided_authorisation)


@dataclass
class Watermark:
    """The per-deferred-payment item: what was published, and what the bundle sent (written by ledger tracking)."""

    exists: bool = False
    version: int = 0
    published: set[str] = field(default_factory=set)
    status: str | None = None
    sent: Totals | None = None  # None: the bundle never applied anything to it
    tracked_version: int = 0
    tracked_at: float = 0.0
    watched: bool = False  # on the reconciliation's list of open deferred payments


def is_final(dp: DeferredPayment) -> bool:
    """Nothing left to expire (no authorisation) and nothing left to claw back (nothing captured, or repaid)."""
    outstanding = dp.protected_captures + dp.unprotected_captures
    return dp.authorisation == 0 and (outstanding == 0 or (dp.repayment_info is not None and dp.repayment_info.status == "paid"))


def facts(dp: DeferredPayment, known_status: str | None) -> list[Fact]:
    """Every fact Hokodo's deferred payment shows: one per entry of its events, and the change from `known_status`."""
    found = [_event_fact(dp, i, e) for i, e in enumerate(dp.events) if e.type in catalogue.BY_HOKODO_EVENT_TYPE]
    if known_status is not None and known_status != dp.status:
        when = dp.events[-1].created if dp.events else None
        identity = f"status\x1f{known_status}\x1f{dp.status}\x1f{len(dp.events)}"
        found.append(
            _fact(catalogue.DeferredPaymentStatusChanged, dp, identity, when, old_status=known_status, new_status=dp.status)
        )
    return found


def drift(dp: DeferredPayment, sent: Totals, settled_after: float) -> Fact | None:
    """A fact when Hokodo's totals differ from what the bundle sent, once neither has moved for a while
    (the bundle's own record lags its requests by seconds)."""
    at_hokodo = Totals.at_hokodo(dp)
    if at_hokodo == sent or _last_change(dp) > settled_after:
        return None
    identity = f"drift\x1f{json.dumps(sent.__dict__, sort_keys=True)}\x1f{json.dumps(at_hokodo.__dict__, sort_keys=True)}"
    difference = {k: at_hokodo.__dict__[k] - sent.__dict__[k] for k in sent.__dict__}
    return _fact(
        catalogue.DeferredPaymentDriftDetected,
        dp,
        identity,
        None,
        sent_by_bundle=sent.__dict__,
        at_hokodo=at_hokodo.__dict__,
        difference=difference,
    )


def _event_fact(dp: DeferredPayment, index: int, event: DeferredPaymentEvent) -> Fact:
    model = catalogue.BY_HOKODO_EVENT_TYPE[event.type]
    fields: dict[str, Any] = {
        "hokodo_event_type": event.type,
        "amount": event.amount,
        "changes": event.changes.model_dump(),
        "metadata": event.metadata or None,
    }
    if model is catalogue.DeferredPaymentExpired:
        fields |= {"expired_amount": event.changes.expired_authorisation or event.amount, "final_status": dp.status}
    elif model is catalogue.DeferredPaymentClawback:
        fields["clawback_amount"] = event.changes.clawback or event.amount
    identity = event.id or f"{index}\x1f{event.type}\x1f{event.created}\x1f{event.amount}"
    return _fact(model, dp, identity, event.created, **fields)


def _fact(
    model: type[catalogue.DeferredPaymentFact], dp: DeferredPayment, identity: str, when: str | None, **fields: Any
) -> Fact:
    detail = model(
        id=_fact_id(dp.id, identity),
        deferred_payment_id=dp.id,
        deferred_payment_number=dp.number,
        order_id=dp.order_id,
        currency=dp.currency,
        status=dp.status,
        occurred_at=when,
        **fields,
    )
    published = detail.model_dump(mode="json", exclude={"metadata"} if getattr(detail, "metadata", None) is None else set())
    return Fact(detail.id, model.DETAIL_TYPE, published, when)


def _fact_id(deferred_payment_id: str, identity: str) -> str:
    return str(uuid.uuid5(_FACT_NAMESPACE, f"{deferred_payment_id}\x1f{identity}"))


def _last_change(dp: DeferredPayment) -> float:
    stamps = [_epoch(e.created) for e in dp.events if e.created]
    return max(stamps, default=0.0)


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return 0.0


class WatermarkStore:
    """The per-deferred-payment items `hokodo-postsale.sync#<id>` of the idempotency table."""

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

        tracked = "counted" in item
        return Watermark(
            exists=True,
            version=number("version"),
            published=set(item.get("published", {}).get("SS", [])),
            status=item.get("status", {}).get("S"),
            sent=Totals(number("sent_captured"), number("sent_refunded"), number("sent_voided")) if tracked else None,
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

    def release(
        self, deferred_payment_id: str, token: str, mark: Watermark, *, published: list[str], status: str, final: bool
    ) -> None:
        """Advance the watermark by what was published, and give the lease back. A final deferred payment leaves the
        reconciliation's list, unless ledger tracking recorded something since `mark` was read."""
        values: dict[str, Any] = {
            ":token": {"S": token},
            ":status": {"S": status},
            ":one": {"N": "1"},
            ":now": {"N": str(int(time.time()))},
        }
        update = "SET #status = :status, synced_at = :now ADD version :one"
        if published:
            update += ", published :published"
            values[":published"] = {"SS": sorted(set(published))}
        condition = "lease = :token"
        if final:
            condition += " AND " + ("tracked_version = :tv" if mark.tracked_version else "attribute_not_exists(tracked_version)")
            if mark.tracked_version:
                values[":tv"] = {"N": str(mark.tracked_version)}
            tail = " REMOVE lease, lease_until, #open"
        else:
            update = update.replace("SET ", "SET #open = :one_s, ", 1)
            values[":one_s"] = {"S": "1"}
            tail = " REMOVE lease, lease_until"
        try:
            self._update(deferred_payment_id, update + tail, condition, values)
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            if not final:
                raise SyncBusy(f"{deferred_payment_id}: lost its lease while publishing") from None
            self.release(
                deferred_payment_id, token, mark, published=published, status=status, final=False
            )  # tracked since: keep watching

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


class DeferredPaymentSync:
    def __init__(
        self,
        hokodo: Callable[[], HokodoClient],
        store: WatermarkStore,
        bus: EventBus,
        *,
        drift_settle_seconds: float = 900,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._hokodo, self.store, self._bus = hokodo, store, bus
        self._drift_settle_seconds = drift_settle_seconds
        self._sleep = sleep

    def sync(self, deferred_payment_id: str, *, check_drift: bool = False, attempts: int = 5) -> list[Fact]:
        """Publish what is new about one deferred payment; returns the facts published. Raises a TransientError
        (SyncBusy, EventsNotPublished, HokodoUnavailable...) when it must be tried again."""
        for attempt in range(attempts):
            if attempt:
                self._sleep(min(2.0, 0.1 * 2**attempt))
            mark = self.store.read(deferred_payment_id)
            dp = self._hokodo().get_deferred_payment(deferred_payment_id)
            new = [f for f in self._facts(dp, mark, check_drift) if f.id not in mark.published]
            final = is_final(dp)
            if not new and mark.exists and mark.status == dp.status and mark.watched != final:
                return []  # nothing new, and already on (or off) the reconciliation's list as it should be
            token = self.store.claim(deferred_payment_id, mark)
            if token is None:
                continue  # another sync published meanwhile, or holds the lease: read again
            ids, failed = self._bus.publish(new)
            status_failed = any(f.detail_type == STATUS_CHANGED and f.id in failed for f in new)
            status = mark.status if status_failed and mark.status else dp.status
            self.store.release(deferred_payment_id, token, mark, published=ids, status=status, final=final and not failed)
            if failed:
                raise EventsNotPublished(
                    f"{deferred_payment_id}: {len(failed)} fact(s) not published: {next(iter(failed.values()))}"
                )
            return [f for f in new if f.id in set(ids)]
        raise SyncBusy(f"{deferred_payment_id}: another sync kept its lease; try again")

    def _facts(self, dp: DeferredPayment, mark: Watermark, check_drift: bool) -> list[Fact]:
        found = facts(dp, mark.status)
        if check_drift and mark.sent is not None:
            settled_after = time.time() - self._drift_settle_seconds
            fact = drift(dp, mark.sent, settled_after) if mark.tracked_at <= settled_after else None
            if fact is not None:
                found.append(fact)
        return found
