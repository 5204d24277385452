"""Hokodo's answers, as this bundle reads them: a post-sale action's 201, a deferred payment, an order document.

Tolerant in what is read, strict in what is sent. Public material shows less of a deferred payment than Hokodo's guide
describes (no `events` in the official module's sample, no `clawback_amount`, nothing that rules out `null` for a
zero), so a deferred payment is read tolerantly: a `null` total is 0, a missing one is read as its documented default,
an unknown status is kept as it is, and one malformed entry of `events` is left out rather than hiding the totals. Each
tolerance is noted (`DeferredPayment.tolerated`), so it is logged and counted (`HokodoShapeTolerated`) where the
answer is read. Money is an integer number of minor units; a total that is not one is still refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError, model_validator


def _null_is_zero(value: object) -> object:
    return 0 if value is None else value


MinorUnits = Annotated[int, BeforeValidator(_null_is_zero)]  # Hokodo's amounts: `null` read as 0
LEDGER_FIELDS = (
    "authorisation",
    "protected_captures",
    "unprotected_captures",
    "refunds",
    "voided_authorisation",
    "expired_authorisation",
    "clawback_amount",
)
# The totals facts are published from, each only ever growing: the deferred payment's fields it sums, and the keys of an
# event's `changes` that move it. Captures are counted as ever captured (a refund moves value from captures to refunds).
LEDGER_TOTALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "captured": (("protected_captures", "unprotected_captures", "refunds"),) * 2,
    "refunded": (("refunds",), ("refunds",)),
    "voided": (("voided_authorisation",), ("voided_authorisation",)),
    "expired": (("expired_authorisation",), ("expired_authorisation",)),
    "clawed_back": (("clawback_amount",), ("clawback",)),
}
# Every status public material shows (the guide, the official module, api-facts.md); another is kept, and noted.
KNOWN_STATUSES = frozenset(
    {
        "accepted",
        "accepted_pending_payment",
        "pending_review",
        "customer_action_required",
        "rejected",
        "pending_payment",
        "captured",
        "cancelled",
        "reversed",
        "voided",
    }
)


class Changes(BaseModel):
    """Hokodo's signed deltas (minor units) caused by one post-sale event (a key left out is 0: public answers lack
    `clawback`)."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    authorisation: MinorUnits = 0
    protected_captures: MinorUnits = 0
    unprotected_captures: MinorUnits = 0
    refunds: MinorUnits = 0
    voided_authorisation: MinorUnits = 0
    expired_authorisation: MinorUnits = 0
    clawback: MinorUnits = 0


class PostSaleEvent(BaseModel):
    """Hokodo's 201 answer to capture, capture_remaining, refund, void and void_remaining."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    created: str | None = None
    type: str  # a hint only: names are not documented beyond capture and refund
    amount: MinorUnits
    currency: str | None = None
    metadata: dict[str, Any] | None = None
    changes: Changes  # required: the bundle records what an action applied from it


class DeferredPaymentEvent(BaseModel):
    """One entry of a deferred payment's `events`. Public material shows no `id` and no order, and names only
    `capture` and `refund`: what an entry did is read from its `changes`, its `type` is a hint."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    id: str | None = None
    type: str | None = None
    created: str | None = None
    amount: MinorUnits = 0
    currency: str | None = None
    metadata: dict[str, Any] | None = None
    changes: Changes = Field(default_factory=Changes)


class RepaymentInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    status: str | None = None
    outstanding_amount: int | None = None


class DeferredPayment(BaseModel):
    """The parts of Hokodo's deferred payment this bundle reads, read tolerantly (see the module's docstring)."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    id: str
    number: str | None = None
    status: str
    currency: str | None = None
    order: Any = None
    authorisation: MinorUnits = 0
    protected_captures: MinorUnits = 0
    unprotected_captures: MinorUnits = 0
    refunds: MinorUnits = 0
    voided_authorisation: MinorUnits = 0
    expired_authorisation: MinorUnits = 0
    clawback_amount: MinorUnits = 0
    events: list[DeferredPaymentEvent] | None = None  # None: Hokodo's answer had no `events`
    repayment_info: RepaymentInfo | None = None
    _tolerated: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _read_tolerantly(cls, data: Any, handler: Any) -> DeferredPayment:
        notes: list[str] = []
        model: DeferredPayment = handler(_tolerated(data, notes) if isinstance(data, dict) else data)
        model._tolerated = tuple(notes)
        return model

    @property
    def tolerated(self) -> tuple[str, ...]:
        """What this answer needed tolerance for, in words (empty when it was what the guide describes)."""
        return self._tolerated

    @property
    def missing(self) -> frozenset[str]:
        """The ledger totals Hokodo's answer did not carry (read as 0)."""
        return frozenset(LEDGER_FIELDS) - self.model_fields_set

    @property
    def order_id(self) -> str | None:
        """The Hokodo order this deferred payment belongs to (`order` is its id, or the order itself when expanded)."""
        return self.order.get("id") if isinstance(self.order, dict) else self.order

    def totals(self) -> dict[str, int]:
        """Each of LEDGER_TOTALS as this answer gives it. A total whose fields Hokodo left out is the sum of what its
        events show (when it sent events), else 0."""
        found = {}
        for name, (fields, changes) in LEDGER_TOTALS.items():
            if self.events is not None and self.missing & set(fields):
                found[name] = sum(getattr(e.changes, key) for e in self.events for key in changes)
            else:
                found[name] = sum(getattr(self, field) for field in fields)
        return found


def _tolerated(data: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """`data` with what the model cannot take as it is made readable, each change noted."""
    data = dict(data)
    for name in LEDGER_FIELDS:
        if name not in data:
            notes.append(f"{name} missing: read as 0")
        elif data[name] is None:
            notes.append(f"{name} null: read as 0")
    status = data.get("status")
    if isinstance(status, str) and status not in KNOWN_STATUSES:
        notes.append(f"status {status[:40]!r} not known: kept as it is")
    if "events" not in data:
        notes.append("events missing: facts come from the totals alone")
    elif not isinstance(data["events"], list):
        notes.append(f"events is {type(data['events']).__name__}, not a list: facts come from the totals alone")
        data["events"] = None
    else:
        data["events"] = _readable_events(data["events"], notes)
    if "repayment_info" in data and data["repayment_info"] is not None and not isinstance(data["repayment_info"], dict):
        notes.append("repayment_info is not an object: left out")
        data["repayment_info"] = None
    return data


def _readable_events(events: list[Any], notes: list[str]) -> list[DeferredPaymentEvent]:
    kept = []
    for index, event in enumerate(events):
        try:
            kept.append(DeferredPaymentEvent.model_validate(event))
        except ValidationError as exc:
            where = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors()[:2])
            notes.append(f"events[{index}] malformed ({where}): left out")
    return kept


class OrderDocument(BaseModel):
    """Hokodo's answer to an order document upload (201) or read (200)."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    id: str
    order: str
    doc_type: str
    description: str | None = None
    amount: int | None = None
    metadata: dict[str, Any] | None = None
    file: str | None = None
