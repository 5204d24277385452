"""Message contracts (what upstream systems send) and Hokodo's response shapes.

Money is an integer number of minor units everywhere: strict ints only, so a float, a numeric
string, a boolean, zero or a negative amount is rejected rather than coerced.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MinorUnits = Annotated[int, Field(strict=True, gt=0, description="A positive amount in integer minor units (pence, cents).")]
EventId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
DeferredPaymentId = Annotated[
    str, StringConstraints(strict=True, pattern=r"^defpay-[A-Za-z0-9]{1,64}$"), Field(description="Hokodo deferred payment id.")
]
Metadata = Annotated[dict[str, Any], Field(default_factory=dict, description="Key-value pairs passed to Hokodo as is.")]


class _Message(BaseModel):
    """Common shape of every upstream post-sale message. Unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    event_id: EventId = Field(description="The upstream's own unique id of the business event: the idempotency key.")
    deferred_payment_id: DeferredPaymentId
    metadata: Metadata


class ShipmentMessage(_Message):
    """Goods shipped: capture `amount`, or the remaining authorisation with `capture_remaining: true`."""

    amount: MinorUnits | None = None
    capture_remaining: Annotated[bool, Field(strict=True)] = False
    final: Annotated[
        bool | None, Field(strict=True, description="Void what is left afterwards; default from the fulfilment policy.")
    ] = None

    @model_validator(mode="after")
    def _amount_xor_remaining(self) -> "ShipmentMessage":
        if (self.amount is None) == (not self.capture_remaining):
            raise ValueError("a shipment needs exactly one of `amount` or `capture_remaining: true`")
        return self


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


class DeferredPayment(BaseModel):
    """The parts of Hokodo's deferred payment this bundle reads."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    id: str
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


class ReturnMessage(_Message):
    """Goods returned: refund `amount` of what was captured."""

    amount: MinorUnits


class CancellationMessage(_Message):
    """Order (partly) cancelled: void `amount` of the authorisation, or all of it with `remaining: true`."""

    amount: MinorUnits | None = None
    remaining: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="after")
    def _amount_xor_remaining(self) -> "CancellationMessage":
        if (self.amount is None) == (not self.remaining):
            raise ValueError("a cancellation needs exactly one of `amount` or `remaining: true`")
        return self
