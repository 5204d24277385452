"""Pure domain logic of a deferred payment's post-sale ledger. No HTTP, no threads, no I/O.

All money is integer minor units. Every function that changes a deferred payment returns the
event it recorded (or ``None``), and callers compare ``status`` before/after to spot changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .clock import iso

CHANGE_KEYS = (
    "authorisation",
    "protected_captures",
    "unprotected_captures",
    "refunds",
    "voided_authorisation",
    "expired_authorisation",
    "clawback",
)

# The post-sale actions (the last part of their URL). Each records an event of its own *kind*.
ACTIONS = ("capture", "capture_remaining", "refund", "void", "void_remaining")
AMOUNT_ACTIONS = frozenset({"capture", "refund", "void"})
CAPTURES = frozenset({"capture", "capture_remaining"})
VOIDS = frozenset({"void", "void_remaining"})

# Every internal event kind (the actions, and the two the emulator records itself), and the `type` it is shown as
# by default. The ledger only ever looks at kinds; a profile may show other type names (see profile.py).
TYPES = {
    "capture": "capture",
    "capture_remaining": "capture",
    "refund": "refund",
    "void": "void",
    "void_remaining": "void",
    "expiration": "expiration",
    "clawback": "clawback",
}

AMOUNT_INVALID = "A valid positive integer is required."
AMOUNT_REQUIRED = "This field is required."


class LedgerError(Exception):
    """A validation error, reported DRF-style as ``{field: [message]}`` with status 400."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message

    def body(self) -> dict[str, list[str]]:
        return {self.field: [self.message]}


def parse_amount(value: Any) -> int:
    """A JSON integer > 0. Rejects bools, floats (even ``100.0``), strings, zero, negatives."""
    if type(value) is not int or value <= 0:
        raise LedgerError("amount", AMOUNT_INVALID)
    return value


def zero_changes() -> dict[str, int]:
    return dict.fromkeys(CHANGE_KEYS, 0)


@dataclass
class Event:
    id: str
    kind: str  # one of TYPES' keys: what the ledger rules look at
    created: datetime
    amount: int
    currency: str
    metadata: dict[str, Any]
    changes: dict[str, int]

    @property
    def type(self) -> str:
        """The type shown by default (``capture_remaining`` is a ``capture``)."""
        return TYPES[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """The default view, plus ``kind``, which profile.show_event turns into the ``type`` shown and drops."""
        return {
            "id": self.id,
            "created": iso(self.created),
            "type": self.type,
            "amount": self.amount,
            "currency": self.currency,
            "metadata": dict(self.metadata),
            "changes": dict(self.changes),
            "kind": self.kind,
        }


@dataclass
class DeferredPayment:
    id: str
    number: str
    order_id: str
    currency: str
    created: datetime
    expires_at: datetime | None
    authorisation: int
    notification_url: str | None = None
    protected_captures: int = 0
    unprotected_captures: int = 0
    refunds: int = 0
    voided_authorisation: int = 0
    expired_authorisation: int = 0
    clawback_amount: int = 0
    status: str = "accepted"
    expired: bool = False
    events: list[Event] = field(default_factory=list)

    @property
    def captured_not_refunded(self) -> int:
        return self.protected_captures + self.unprotected_captures

    @property
    def ever_captured(self) -> bool:
        return any(e.kind in CAPTURES and e.amount > 0 for e in self.events)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "order": self.order_id,
            "status": self.status,
            "currency": self.currency,
            "authorisation": self.authorisation,
            "protected_captures": self.protected_captures,
            "unprotected_captures": self.unprotected_captures,
            "refunds": self.refunds,
            "voided_authorisation": self.voided_authorisation,
            "expired_authorisation": self.expired_authorisation,
            "clawback_amount": self.clawback_amount,
            "events": [e.to_dict() for e in self.events],
            "created": iso(self.created),
            "expires_at": iso(self.expires_at) if self.expires_at else None,
            "repayment_info": {
                "status": "unpaid",
                # What the buyer is still charged. Clawback moves money between Hokodo and the
                # merchant, not the buyer's debt, so it does not reduce this.
                "outstanding_amount": self.captured_not_refunded,
            },
        }


def final_status(dp: DeferredPayment) -> str:
    """The guide's status after expiry."""
    if dp.captured_not_refunded > 0:
        return "captured"
    if dp.ever_captured:
        return "reversed"
    return "cancelled"


def plan(dp: DeferredPayment, action: str, amount: int | None) -> tuple[int, dict[str, int]]:
    """Compute (amount, changes) of an action without touching ``dp``. Raises LedgerError."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    changes = zero_changes()
    if action in AMOUNT_ACTIONS:
        if amount is None:
            raise LedgerError("amount", AMOUNT_REQUIRED)
        amount = parse_amount(amount)
    if action in ("capture", "capture_remaining"):
        a = dp.authorisation if action == "capture_remaining" else amount
        protected = min(a, dp.authorisation)
        changes["authorisation"] = -protected
        changes["protected_captures"] = protected
        changes["unprotected_captures"] = a - protected
        return a, changes
    if action == "refund":
        available = dp.captured_not_refunded
        if amount > available:
            raise LedgerError(
                "amount",
                f"Refund amount exceeds the captured amount not yet refunded ({available}).",
            )
        # The unprotected excess is the merchant's own risk, so it is released first.
        unprotected = min(amount, dp.unprotected_captures)
        changes["unprotected_captures"] = -unprotected
        changes["protected_captures"] = -(amount - unprotected)
        changes["refunds"] = amount
        return amount, changes
    # void / void_remaining
    a = dp.authorisation if action == "void_remaining" else amount
    if a > dp.authorisation:
        raise LedgerError("amount", f"Void amount exceeds the remaining authorisation ({dp.authorisation}).")
    changes["authorisation"] = -a
    changes["voided_authorisation"] = a
    return a, changes


def _apply_changes(dp: DeferredPayment, changes: dict[str, int]) -> None:
    dp.authorisation += changes["authorisation"]
    dp.protected_captures += changes["protected_captures"]
    dp.unprotected_captures += changes["unprotected_captures"]
    dp.refunds += changes["refunds"]
    dp.voided_authorisation += changes["voided_authorisation"]
    dp.expired_authorisation += changes["expired_authorisation"]
    dp.clawback_amount += changes["clawback"]


def apply(
    dp: DeferredPayment,
    action: str,
    amount: int | None,
    metadata: dict[str, Any],
    *,
    now: datetime,
    event_id: str,
) -> tuple[Event, bool]:
    """Apply a merchant action. Returns (event, recorded); a zero no-op is not recorded."""
    amount, changes = plan(dp, action, amount)
    event = Event(event_id, action, now, amount, dp.currency, dict(metadata), changes)
    if amount == 0:
        return event, False
    _apply_changes(dp, changes)
    dp.events.append(event)
    if dp.expired:
        dp.status = final_status(dp)
    elif event.kind in CAPTURES:
        dp.status = "captured"
    elif event.kind in VOIDS and dp.authorisation == 0 and not dp.ever_captured:
        dp.status = "voided"
    return event, True


def is_due(dp: DeferredPayment, now: datetime) -> bool:
    return not dp.expired and dp.expires_at is not None and now >= dp.expires_at


def expire(dp: DeferredPayment, now: datetime, event_id: str) -> Event | None:
    """Expire once. Records an ``expiration`` event only if some authorisation was left.

    A fully voided deferred payment (status ``voided``) keeps its status: nothing is left to
    expire and nothing was ever captured.
    """
    dp.expired = True
    if dp.status == "voided":
        return None
    event = None
    if dp.authorisation > 0:
        changes = zero_changes()
        changes["authorisation"] = -dp.authorisation
        changes["expired_authorisation"] = dp.authorisation
        event = Event(event_id, "expiration", now, dp.authorisation, dp.currency, {}, changes)
        _apply_changes(dp, changes)
        dp.events.append(event)
    dp.status = final_status(dp)
    return event


def clawback(dp: DeferredPayment, amount: Any, now: datetime, event_id: str, metadata: dict | None = None) -> Event:
    amount = parse_amount(amount)
    changes = zero_changes()
    changes["clawback"] = amount
    event = Event(event_id, "clawback", now, amount, dp.currency, dict(metadata or {}), changes)
    _apply_changes(dp, changes)
    dp.events.append(event)
    return event
