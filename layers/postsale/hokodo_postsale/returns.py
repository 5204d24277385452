"""Returns become refunds. Refunds only reduce what is captured and not yet refunded.

A refund Hokodo refuses because it exceeds that amount is either wrong (dead-lettered) or early:
the shipment it reverses has not been captured yet (the returns and shipments queues are not
ordered with each other). So such a refusal is retried, as AwaitingEarlierEvent, until the record
has been received OUT_OF_ORDER_MAX_RECEIVES times, and dead-lettered with the reason after that.
"""

from __future__ import annotations

import time

from .actions import ApplyContext, applied
from .errors import AwaitingEarlierEvent, HokodoRejected
from .idempotency import hokodo_idempotency_key
from .models import ReturnMessage

KIND = "return"


def apply_return(message: ReturnMessage, ctx: ApplyContext) -> dict:
    dp = message.deferred_payment_id
    generation = ctx.rejections.generation(KIND, message.event_id) if ctx.receive_count > 1 else 0
    action = "refund" if generation == 0 else f"refund#{generation}"
    try:
        refund = ctx.hokodo.refund(
            dp, message.amount, idempotency_key=hokodo_idempotency_key(KIND, message.event_id, action), metadata=message.metadata
        )
    except HokodoRejected as rejection:
        refundable = _captured_not_refunded(ctx, dp)
        if message.amount <= refundable:
            raise
        ctx.rejections.record_rejection(KIND, message.event_id, int(time.time()) + ctx.settings.idempotency_ttl_seconds)
        raise AwaitingEarlierEvent(
            f"refund of {message.amount} exceeds the {refundable} captured and not yet refunded on {dp} "
            f"(Hokodo: {rejection.detail}); it may be waiting for the shipment it reverses"
        ) from None
    return {"deferred_payment_id": dp, "actions": [applied("refund", refund)]}


def _captured_not_refunded(ctx: ApplyContext, deferred_payment_id: str) -> int:
    deferred_payment = ctx.hokodo.get_deferred_payment(deferred_payment_id)
    return deferred_payment.protected_captures + deferred_payment.unprotected_captures
