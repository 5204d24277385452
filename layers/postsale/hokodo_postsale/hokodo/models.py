"""Hokodo's answers, as this bundle reads them: a post-sale action's 201, a deferred payment, an order document.

Money is an integer number of minor units. Read tolerantly (unknown fields are kept), sent nowhere: what the
bundle sends is shaped by the client from the message contracts (contracts/messages.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Changes(BaseModel):
    """Hokodo's signed deltas (minor units) caused by one post-sale event."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    authorisation: int = 0
    protected_captures: int = 0
    unprotected_captures: int = 0
    refunds: int = 0
    voided_authorisation: int = 0
    expired_authorisation: int = 0
    clawback: int = 0


class PostSaleEvent(BaseModel):
    """Hokodo's 201 answer to capture, capture_remaining, refund, void and void_remaining."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    created: str | None = None
    type: str
    amount: int
    currency: str | None = None
    metadata: dict[str, Any] | None = None
    changes: Changes


class DeferredPaymentEvent(BaseModel):
    """One entry of a deferred payment's `events`: a post-sale action, an expiration or a clawback."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    id: str | None = None  # not in the guide's examples; used when Hokodo sends it
    type: str
    created: str | None = None
    amount: int = 0
    currency: str | None = None
    metadata: dict[str, Any] | None = None
    changes: Changes = Field(default_factory=Changes)


class RepaymentInfo(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    status: str | None = None
    outstanding_amount: int | None = None


class DeferredPayment(BaseModel):
    """The parts of Hokodo's deferred payment this bundle reads."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    id: str
    number: str | None = None
    status: str
    currency: str | None = None
    order: Any = None
    authorisation: int = 0
    protected_captures: int = 0
    unprotected_captures: int = 0
    refunds: int = 0
    voided_authorisation: int = 0
    expired_authorisation: int = 0
    clawback_amount: int = 0
    events: list[DeferredPaymentEvent] = Field(default_factory=list)
    repayment_info: RepaymentInfo | None = None

    @property
    def order_id(self) -> str | None:
        """The Hokodo order this deferred payment belongs to (`order` is its id, or the order itself when expanded)."""
        return self.order.get("id") if isinstance(self.order, dict) else self.order


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
