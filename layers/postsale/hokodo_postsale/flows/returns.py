"""Returns become refunds. Refunds only reduce what is captured and not yet refunded.

A refund Hokodo refuses because it exceeds that amount is either wrong (dead-lettered) or early: the
shipment it reverses has not been captured yet (the returns and shipments queues are not ordered with
each other). Upstreams that know should say so with `after`; as a fallback, such a refusal is retried,
as AwaitingEarlierEvent, until the record has been received OUT_OF_ORDER_MAX_RECEIVES times, then
dead-lettered with the reason. The refusal moved the event to its next key generation (see actions.py),
so the retry is really sent again.
"""

from __future__ import annotations

# isort: off
from ..runner.batch import QueueFunction  # first: Powertools' batch module loads every parser model if pydantic came before it
# isort: on

from ..contracts.messages import ReturnMessage
from ..errors import AwaitingEarlierEvent, HokodoRejected
from ..runner.actions import ApplyContext, PostSaleResult, applied
from ..settings import Settings

KIND = "return"


def apply_return(message: ReturnMessage, ctx: ApplyContext) -> PostSaleResult:
    dp, hokodo = message.deferred_payment_id, ctx.hokodo
    try:
        refund = ctx.perform(
            "refund",
            lambda key: hokodo.refund(dp, message.amount, idempotency_key=key, metadata=message.metadata),
            amount=message.amount,
        )
    except HokodoRejected as rejection:
        deferred_payment = hokodo.get_deferred_payment(dp)
        refundable = deferred_payment.protected_captures + deferred_payment.unprotected_captures
        if message.amount <= refundable:
            raise
        raise AwaitingEarlierEvent(
            f"refund of {message.amount} exceeds the {refundable} captured and not yet refunded on {dp} "
            f"(Hokodo: {rejection.detail}); it may be waiting for the shipment it reverses"
        ) from None
    return {"deferred_payment_id": dp, "actions": [applied("refund", refund)]}


def queue_function(settings: Settings | None = None) -> QueueFunction:
    """The returns queue's Lambda: Return messages (SQS) applied through the shared runner."""
    return QueueFunction(kind=KIND, message_model=ReturnMessage, apply=apply_return, settings=settings)
