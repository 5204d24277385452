"""Message contracts (what upstream systems send) and Hokodo's response shapes.

Money is an integer number of minor units everywhere: strict ints only, so a float, a numeric
string, a boolean, zero or a negative amount is rejected rather than coerced. Bodies are parsed
strictly (no NaN or Infinity, no duplicate keys, bounded size and depth) before the model sees them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from pydantic.config import JsonValue

from ..errors import InvalidMessage
from ..settings import DEFAULT_MAX_AMOUNT
from . import strict_json

MAX_MESSAGE_BYTES = 16 * 1024
MAX_METADATA_BYTES = 4 * 1024
MAX_METADATA_DEPTH = 5
MAX_AFTER = 10


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if strict_json.deeper_than(value, MAX_METADATA_DEPTH):
        raise ValueError(f"metadata is nested deeper than {MAX_METADATA_DEPTH} levels")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes as JSON, more than {MAX_METADATA_BYTES}")
    return value


MinorUnits = Annotated[
    int,
    Field(
        strict=True,
        gt=0,
        json_schema_extra={"maximum": DEFAULT_MAX_AMOUNT},  # the model checks the deployment's own MaxAmount
        description=(
            "A positive amount in integer minor units (pence, cents). JSON numbers with a fraction or an exponent "
            f"(100.0, 1e3) are refused even where JSON Schema calls them integers; above the deployment's MaxAmount "
            f"(default {DEFAULT_MAX_AMOUNT}) is refused."
        ),
    ),
]
EventId = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
DeferredPaymentId = Annotated[
    str, StringConstraints(strict=True, pattern=r"^defpay-[A-Za-z0-9]{1,64}$"), Field(description="Hokodo deferred payment id.")
]
Metadata = Annotated[
    dict[str, Any],
    AfterValidator(_bounded_metadata),
    Field(
        default_factory=dict,
        description=(
            f"Key-value pairs passed to Hokodo as is: at most {MAX_METADATA_BYTES} bytes as JSON, "
            f"nested at most {MAX_METADATA_DEPTH} levels."
        ),
    ),
]
EventKind = Literal["shipment", "return", "cancellation"]


@dataclass(frozen=True)
class Skipped:
    """What a parser gives for a record that carries nothing to apply (S3's test event, a folder key): logged, deleted."""

    reason: str


class EventRef(BaseModel):
    """An earlier upstream event that must have taken effect first."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: EventKind
    event_id: EventId


def _exactly_one(flag: str) -> list[JsonValue]:
    """JSON Schema for "exactly one of `amount` or `<flag>: true`" (a `<flag>: false` beside an amount is allowed)."""
    return [
        {"required": ["amount"], "properties": {flag: {"const": False}}},
        {"required": [flag], "properties": {flag: {"const": True}}, "not": {"required": ["amount"]}},
    ]


class _Message(BaseModel):
    """Common shape of every upstream post-sale message. Unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    # What defines the action: the idempotency payload hash covers these fields only, so an optional field
    # added in a later release does not make an in-flight redelivery look like other content.
    ACTION_FIELDS: ClassVar[tuple[str, ...]] = ("deferred_payment_id", "amount", "metadata")

    event_id: EventId = Field(description="The upstream's own unique id of the business event: the idempotency key.")
    deferred_payment_id: DeferredPaymentId
    metadata: Metadata
    after: Annotated[
        tuple[EventRef, ...],
        Field(
            max_length=MAX_AFTER,
            description=(
                "Earlier upstream events (of any queue) that must have taken effect before this one; the message waits "
                "for them, then is dead-lettered naming the missing one. The queues are not ordered with each other."
            ),
        ),
    ] = ()

    @property
    def ordering_key(self) -> str:
        """Records with the same key are applied in their order within a batch."""
        return self.deferred_payment_id

    @property
    def correlation(self) -> dict[str, str]:
        """What every log line about this message carries."""
        return {"event_id": self.event_id, "deferred_payment_id": self.deferred_payment_id}

    @property
    def amounts(self) -> tuple[int, ...]:
        amount = getattr(self, "amount", None)
        return () if amount is None else (amount,)


class ShipmentMessage(_Message):
    """Goods shipped: capture `amount`, or the remaining authorisation with `capture_remaining: true`."""

    ACTION_FIELDS: ClassVar[tuple[str, ...]] = ("deferred_payment_id", "amount", "capture_remaining", "final", "metadata")
    model_config = ConfigDict(json_schema_extra={"oneOf": _exactly_one("capture_remaining")})

    amount: MinorUnits = None  # type: ignore[assignment]  # absent is None (the validator below); an explicit null is refused
    capture_remaining: Annotated[bool, Field(strict=True)] = False
    final: Annotated[
        bool | None, Field(strict=True, description="Void what is left afterwards; default from the fulfilment policy.")
    ] = None

    @model_validator(mode="after")
    def _amount_xor_remaining(self) -> "ShipmentMessage":
        if (self.amount is None) == (not self.capture_remaining):
            raise ValueError("a shipment needs exactly one of `amount` or `capture_remaining: true`")
        return self


class ReturnMessage(_Message):
    """Goods returned: refund `amount` of what was captured."""

    amount: MinorUnits


class CancellationMessage(_Message):
    """Order (partly) cancelled: void `amount` of the authorisation, or all of it with `remaining: true`."""

    ACTION_FIELDS: ClassVar[tuple[str, ...]] = ("deferred_payment_id", "amount", "remaining", "metadata")
    model_config = ConfigDict(json_schema_extra={"oneOf": _exactly_one("remaining")})

    amount: MinorUnits = None  # type: ignore[assignment]  # absent is None (the validator below); an explicit null is refused
    remaining: Annotated[bool, Field(strict=True)] = False

    @model_validator(mode="after")
    def _amount_xor_remaining(self) -> "CancellationMessage":
        if (self.amount is None) == (not self.remaining):
            raise ValueError("a cancellation needs exactly one of `amount` or `remaining: true`")
        return self


def parse_message(model: type[_Message], body: str, *, max_amount: int = DEFAULT_MAX_AMOUNT) -> Any:
    """Read an SQS body under the message contract; every way it can fail is an InvalidMessage with the reason."""
    size = len(body.encode())
    if size > MAX_MESSAGE_BYTES:
        raise InvalidMessage(f"invalid {model.__name__}: the message is {size} bytes, more than {MAX_MESSAGE_BYTES}")
    try:
        data = strict_json.loads(body)
    except ValueError as exc:
        raise InvalidMessage(f"invalid {model.__name__}: Invalid JSON: {exc}") from None
    try:
        message = model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}" for e in exc.errors())
        raise InvalidMessage(f"invalid {model.__name__}: {problems}") from None
    for amount in message.amounts:
        if amount > max_amount:
            raise InvalidMessage(f"invalid {model.__name__}: amount {amount} is above this deployment's MaxAmount ({max_amount})")
    return message
