"""Cancellations become voids: void an amount of the authorisation, or all that remains.
Voiding more than the remaining authorisation is refused by Hokodo and dead-lettered."""

from __future__ import annotations

from .actions import ApplyContext, PostSaleResult, applied
from .models import CancellationMessage

KIND = "cancellation"


def apply_cancellation(message: CancellationMessage, ctx: ApplyContext) -> PostSaleResult:
    dp, meta, hokodo = message.deferred_payment_id, message.metadata, ctx.hokodo
    if message.remaining:
        action = "void_remaining"
        void = ctx.perform(action, lambda key: hokodo.void_remaining(dp, idempotency_key=key, metadata=meta))
    else:
        action = "void"
        void = ctx.perform(action, lambda key: hokodo.void(dp, message.amount, idempotency_key=key, metadata=meta))
    return {"deferred_payment_id": dp, "actions": [applied(action, void)]}
