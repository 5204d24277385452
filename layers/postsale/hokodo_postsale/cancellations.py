"""Cancellations become voids: void an amount of the authorisation, or all that remains.
Voiding more than the remaining authorisation is refused by Hokodo and dead-lettered."""

from __future__ import annotations

from .actions import ApplyContext, applied
from .idempotency import hokodo_idempotency_key
from .models import CancellationMessage

KIND = "cancellation"


def apply_cancellation(message: CancellationMessage, ctx: ApplyContext) -> dict:
    dp, meta = message.deferred_payment_id, message.metadata
    if message.remaining:
        key = hokodo_idempotency_key(KIND, message.event_id, "void_remaining")
        return {
            "deferred_payment_id": dp,
            "actions": [applied("void_remaining", ctx.hokodo.void_remaining(dp, idempotency_key=key, metadata=meta))],
        }
    key = hokodo_idempotency_key(KIND, message.event_id, "void")
    return {
        "deferred_payment_id": dp,
        "actions": [applied("void", ctx.hokodo.void(dp, message.amount, idempotency_key=key, metadata=meta))],
    }
