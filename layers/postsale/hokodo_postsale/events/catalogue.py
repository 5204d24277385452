"""The events the bundle publishes to the merchant's EventBridge bus: one model per detail-type, so the
published JSON Schemas (schemas/events/*.schema.json) and what is published come from the same place.

Every detail carries the deferred payment (id, number, order, currency, status now) and a stable `id`: the same fact
always has the same id, whichever path published it first and however Hokodo lists or names its events, so consumers
dedupe on it. A ledger fact is an increase of one of Hokodo's ledger totals (ever captured, refunded, voided, expired,
clawed back); its id is derived from the deferred payment, the fact's type and the total reached after it
(`total_after`). Amounts are integers in minor units.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..hokodo.models import Changes


class DeferredPaymentFact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    DETAIL_TYPE: ClassVar[str] = ""

    id: str = Field(
        description=(
            "Stable id of this fact: a UUID derived from the deferred payment, the fact's type and, for a ledger fact, "
            "the total reached after it. The same fact always has the same id: dedupe on it."
        )
    )
    deferred_payment_id: str = Field(description="Hokodo deferred payment id, defpay-….")
    deferred_payment_number: str | None = Field(description="Hokodo's human number of the deferred payment, e.g. P-7WR2-PR0S.")
    order_id: str | None = Field(description="Hokodo order id, order-….")
    currency: str | None = Field(description="ISO 4217 code of every amount in this detail.")
    status: str = Field(description="The deferred payment's status when the fact was published.")
    occurred_at: str | None = Field(
        description="Hokodo's own timestamp of the fact (ISO 8601), when one of its events accounts for it; else null."
    )


class LedgerFact(DeferredPaymentFact):
    amount: int = Field(description="How much this fact added to its total, integer minor units (always positive).")
    total_after: int = Field(
        description=(
            "The deferred payment's total of this kind after this fact (ever captured, refunded, voided, expired or "
            "clawed back), integer minor units: with the deferred payment id and the detail-type it identifies the fact."
        )
    )
    derived_from: Literal["event", "totals"] = Field(
        description=(
            "`event`: one of Hokodo's events accounts for this fact exactly (its time, type, changes and metadata are "
            "given). `totals`: the increase of Hokodo's total since the last publication, which its events did not "
            "account for (absent, unordered, or not adding up): it may stand for several of Hokodo's actions."
        )
    )
    hokodo_event_type: str | None = Field(
        description="The `type` Hokodo gave its event (a hint: capture, refund, void, expiry...); null when derived from totals."
    )
    changes: Changes | None = Field(
        description="Hokodo's signed deltas of the deferred payment's ledger for its event, minor units; null from totals."
    )
    metadata: dict[str, Any] | None = Field(default=None, description="The metadata the action was sent with, if any.")


class DeferredPaymentCaptured(LedgerFact):
    """Hokodo recorded a capture (whoever sent it): the deferred payment's ever-captured total grew."""

    DETAIL_TYPE: ClassVar[str] = "Deferred Payment Captured"


class DeferredPaymentRefunded(LedgerFact):
    """Hokodo recorded a refund (whoever sent it)."""

    DETAIL_TYPE: ClassVar[str] = "Deferred Payment Refunded"


class DeferredPaymentVoided(LedgerFact):
    """Hokodo recorded a void (whoever sent it)."""

    DETAIL_TYPE: ClassVar[str] = "Deferred Payment Voided"


class DeferredPaymentExpired(LedgerFact):
    """The remaining authorisation expired."""

    DETAIL_TYPE: ClassVar[str] = "Deferred Payment Expired"
    expired_amount: int = Field(description="Authorisation that expired, minor units (the same as `amount`).")
    final_status: str = Field(description="The deferred payment's status after expiry: cancelled, reversed or captured.")


class DeferredPaymentClawback(LedgerFact):
    """Hokodo clawed money back from the merchant's payouts."""

    DETAIL_TYPE: ClassVar[str] = "Deferred Payment Clawback"
    clawback_amount: int = Field(description="Amount clawed back, minor units (the same as `amount`).")


class DeferredPaymentStatusChanged(DeferredPaymentFact):
    """The status changed since the bundle last saw the deferred payment (the first sight records it, publishes nothing)."""

    DETAIL_TYPE: ClassVar[str] = "Deferred Payment Status Changed"
    old_status: str
    new_status: str


class Totals(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    captured: int = Field(description="Ever captured (refunds included), minor units.")
    refunded: int = Field(description="Refunded, minor units.")
    voided: int = Field(description="Voided, minor units.")


class DeferredPaymentDriftDetected(DeferredPaymentFact):
    """Hokodo's ledger disagrees with what the bundle sent (found by the reconciliation, once both were still)."""

    DETAIL_TYPE: ClassVar[str] = "Deferred Payment Drift Detected"
    sent_by_bundle: Totals
    at_hokodo: Totals
    difference: Totals = Field(description="at_hokodo minus sent_by_bundle.")


CATALOGUE: tuple[type[DeferredPaymentFact], ...] = (
    DeferredPaymentExpired,
    DeferredPaymentClawback,
    DeferredPaymentCaptured,
    DeferredPaymentRefunded,
    DeferredPaymentVoided,
    DeferredPaymentStatusChanged,
    DeferredPaymentDriftDetected,
)
