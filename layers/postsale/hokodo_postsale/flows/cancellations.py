"""Cancellations become voids: void an amount of the authorisation, or all that remains.
Voiding more than the remaining authorisation is refused by Hokodo and dead-lettered."""

from __future__ import annotations

# isort: off
from ..runner.batch import QueueFunction  # first: Powertools' batch module loads every parser model if pydantic came before it
# isort: on

from ..contracts.messages import CancellationMessage
from ..runner.actions import ApplyContext, PostSaleResult, applied
from ..settings import Settings

KIND = "cancellation"


def apply_cancellation(message: CancellationMessage, ctx: ApplyContext) -> PostSaleResult:
    dp, meta, hokodo = message.deferred_payment_id, message.metadata, ctx.hokodo
    if message.remaining:
        action = "void_remaining"
        void = ctx.perform(action, lambda key: hokodo.void_remaining(dp, idempotency_key=key, metadata=meta))
    else:
        action = "void"
        void = ctx.perform(
            action, lambda key: hokodo.void(dp, message.amount, idempotency_key=key, metadata=meta), amount=message.amount
        )
    return {"deferred_payment_id": dp, "actions": [applied(action, void)]}


def queue_function(settings: Settings | None = None) -> QueueFunction:
    """The cancellations queue's Lambda: Cancellation messages (SQS) applied through the shared runner."""
    return QueueFunction(kind=KIND, message_model=CancellationMessage, apply=apply_cancellation, settings=settings)
