"""In-memory state of one emulator: deferred payments, orders, documents, logs.

Everything that touches a ledger runs under one re-entrant lock. Webhooks are queued to the
dispatcher (which delivers them in its own thread) while the lock is held, so their order
matches the order of the changes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from . import ledger
from .clock import Clock, iso
from .idempotency import IdempotencyStore
from .ids import new_id, new_number

Notifier = Callable[..., None]


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


@dataclass
class Document:
    id: str
    order_id: str
    doc_type: str
    description: str
    amount: int | None
    metadata: dict[str, Any]
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    created: datetime

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def file_path(self) -> str:
        return f"/files/{self.id}/{quote(self.filename, safe='')}"

    def to_api(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "order": self.order_id,
            "doc_type": self.doc_type,
            "description": self.description,
            "amount": self.amount,
            "metadata": dict(self.metadata),
            "file": base_url + self.file_path(),
        }

    def to_admin(self, base_url: str) -> dict[str, Any]:
        return {
            **self.to_api(base_url),
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": self.sha256,
            "created": iso(self.created),
        }


class State:
    def __init__(
        self,
        clock: Clock,
        notify: Notifier,
        expiry_days: float = 28,
        notification_url: str | None = None,
    ) -> None:
        self.clock = clock
        self._notify_raw = notify
        self.expiry_days = expiry_days
        self.notification_url = notification_url
        self.lock = threading.RLock()
        self.idempotency = IdempotencyStore()
        self._dps: dict[str, ledger.DeferredPayment] = {}
        self._orders: dict[str, str] = {}  # order id -> deferred payment id
        self._documents: dict[str, Document] = {}
        self._payout_items: dict[str, list[dict[str, Any]]] = {}  # order id -> its payout items
        self._requests: list[dict[str, Any]] = []

    # -- deferred payments ------------------------------------------------------------------
    def create_deferred_payment(
        self,
        authorisation: int,
        *,
        currency: str = "GBP",
        id: str | None = None,
        order_id: str | None = None,
        notification_url: str | None = None,
        expiry_days: float | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.sweep()
            dp_id = id or new_id("defpay")
            order = order_id or new_id("order")
            if dp_id in self._dps:
                raise Conflict(f"deferred payment {dp_id} already exists")
            if order in self._orders:
                raise Conflict(f"order {order} already exists")
            now = self.clock.now()
            days = self.expiry_days if expiry_days is None else expiry_days
            dp = ledger.DeferredPayment(
                id=dp_id,
                number=new_number(),
                order_id=order,
                currency=currency,
                created=now,
                expires_at=now + timedelta(days=days) if days else None,
                authorisation=authorisation,
                notification_url=notification_url,
            )
            self._dps[dp_id] = dp
            self._orders[order] = dp_id
            return dp.to_dict()

    def _dp(self, dp_id: str) -> ledger.DeferredPayment:
        self.sweep()
        dp = self._dps.get(dp_id)
        if dp is None:
            raise NotFound(dp_id)
        return dp

    def get_deferred_payment(self, dp_id: str) -> dict[str, Any]:
        with self.lock:
            return self._dp(dp_id).to_dict()

    def list_deferred_payments(self) -> list[dict[str, Any]]:
        with self.lock:
            self.sweep()
            return [dp.to_dict() for dp in self._dps.values()]

    def act(self, dp_id: str, action: str, amount: Any, metadata: dict[str, Any]) -> dict[str, Any]:
        """Apply a merchant action. Raises NotFound or ledger.LedgerError."""
        with self.lock:
            dp = self._dp(dp_id)
            before = dp.status
            event, recorded = ledger.apply(dp, action, amount, metadata, now=self.clock.now(), event_id=new_id("dpevt"))
            if recorded and event.kind in ledger.CAPTURES:
                self._add_payout_item(dp, event)
            if dp.status != before:
                self._notify(dp, "status_change")
            return event.to_dict()

    def clawback(self, dp_id: str, amount: Any, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.lock:
            dp = self._dp(dp_id)
            event = ledger.clawback(dp, amount, self.clock.now(), new_id("dpevt"), metadata)
            self._notify(dp, "clawback")
            return event.to_dict()

    def sweep(self) -> None:
        """Expire every deferred payment whose expiry time has passed (once each)."""
        with self.lock:
            now = self.clock.now()
            for dp in self._dps.values():
                if ledger.is_due(dp, now):
                    before = dp.status
                    event = ledger.expire(dp, dp.expires_at or now, new_id("dpevt"))
                    if event is not None:
                        self._notify(dp, "expiration")
                    elif dp.status != before:
                        self._notify(dp, "status_change")

    def advance_clock(self, delta: timedelta) -> datetime:
        with self.lock:
            now = self.clock.advance(delta)
            self.sweep()
            return now

    def _notify(self, dp: ledger.DeferredPayment, reason: str) -> None:
        url = dp.notification_url or self.notification_url
        if not url:
            return
        payload = {
            "created": iso(self.clock.now()),
            "data": {"order": {"id": dp.order_id, "status": dp.status, "deferred_payment": dp.to_dict()}},
        }
        self._notify_raw(url, payload, reason=reason, deferred_payment=dp.id)

    # -- documents --------------------------------------------------------------------------
    def has_order(self, order_id: str) -> bool:
        with self.lock:
            return order_id in self._orders

    def add_document(self, order_id: str, **fields: Any) -> Document:
        with self.lock:
            if order_id not in self._orders:
                raise NotFound(order_id)
            doc = Document(id=new_id("odoc"), order_id=order_id, created=self.clock.now(), **fields)
            self._documents[doc.id] = doc
            if doc.doc_type == "invoice":  # the guide: payout items wait in awaiting_document for the order's invoice
                for item in self._payout_items.get(order_id, []):
                    if item["status"] == "awaiting_document":
                        item["status"] = "payable"
            return doc

    def _add_payout_item(self, dp: ledger.DeferredPayment, event: ledger.Event) -> None:
        """What a capture owes the merchant. Held in `awaiting_document` until the order has an invoice."""
        invoiced = any(d.order_id == dp.order_id and d.doc_type == "invoice" for d in self._documents.values())
        self._payout_items.setdefault(dp.order_id, []).append(
            {
                "id": new_id("poitem"),
                "order": dp.order_id,
                "deferred_payment": dp.id,
                "event": event.id,
                "amount": event.amount,
                "currency": dp.currency,
                "status": "payable" if invoiced else "awaiting_document",
            }
        )

    def payout_items(self, order_id: str) -> list[dict[str, Any]]:
        with self.lock:
            if order_id not in self._orders:
                raise NotFound(order_id)
            return [dict(item) for item in self._payout_items.get(order_id, [])]

    def order_documents(self, order_id: str) -> list[Document]:
        """Every document uploaded to an order, oldest first (what Hokodo's dashboard shows of it)."""
        with self.lock:
            if order_id not in self._orders:
                raise NotFound(order_id)
            return sorted((d for d in self._documents.values() if d.order_id == order_id), key=lambda d: d.created)

    def document(self, doc_id: str, order_id: str | None = None) -> Document:
        with self.lock:
            doc = self._documents.get(doc_id)
            if doc is None or (order_id is not None and doc.order_id != order_id):
                raise NotFound(doc_id)
            return doc

    # -- request log ------------------------------------------------------------------------
    def log_request(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append an entry now (arrival order); the caller fills in status etc. later."""
        with self.lock:
            self._requests.append(entry)
            return entry

    def update_request(self, entry: dict[str, Any], **fields: Any) -> None:
        with self.lock:
            entry.update(fields)

    def clear_requests(self) -> None:
        with self.lock:
            self._requests.clear()

    def exists(self, dp_id: str) -> bool:
        with self.lock:
            self.sweep()
            return dp_id in self._dps

    def requests(self) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(e) for e in self._requests]

    def reset(self) -> None:
        with self.lock:
            self._dps.clear()
            self._orders.clear()
            self._documents.clear()
            self._payout_items.clear()
            self._requests.clear()
            self.idempotency.reset()
            self.clock.reset()
