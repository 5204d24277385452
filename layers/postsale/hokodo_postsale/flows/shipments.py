"""Shipments become captures: capture the shipped amount (or the remaining authorisation) and,
when the order is final, void what is left of the authorisation."""

from __future__ import annotations

# isort: off
from ..runner.batch import QueueFunction  # first: Powertools' batch module loads every parser model if pydantic came before it
# isort: on

from ..contracts.messages import ShipmentMessage
from ..hokodo.models import PostSaleEvent
from ..runner.actions import ApplyContext, PostSaleResult, applied
from ..settings import Settings

KIND = "shipment"


def apply_shipment(message: ShipmentMessage, ctx: ApplyContext) -> PostSaleResult:
    dp, meta, hokodo = message.deferred_payment_id, message.metadata, ctx.hokodo
    if message.capture_remaining:
        action = "capture_remaining"
        capture = ctx.perform(action, lambda key: hokodo.capture_remaining(dp, idempotency_key=key, metadata=meta))
    else:
        action = "capture"
        capture = ctx.perform(
            action, lambda key: hokodo.capture(dp, message.amount, idempotency_key=key, metadata=meta), amount=message.amount
        )
    actions = [applied(action, capture)]
    if _voids_remaining(message, ctx.settings, capture):
        void = ctx.perform("void_remaining", lambda key: hokodo.void_remaining(dp, idempotency_key=key, metadata=meta))
        actions.append(applied("void_remaining", void))
    return {"deferred_payment_id": dp, "actions": actions}


def _voids_remaining(message: ShipmentMessage, settings: Settings, capture: PostSaleEvent) -> bool:
    final = message.final if message.final is not None else settings.fulfilment_policy.voids_remaining_after_capture
    # Nothing is left to void after capture_remaining, or after a capture that went beyond the authorisation.
    return final and not message.capture_remaining and capture.changes.unprotected_captures == 0


def queue_function(settings: Settings | None = None) -> QueueFunction:
    """The shipments queue's Lambda: Shipment messages (SQS) applied through the shared runner."""
    return QueueFunction(kind=KIND, message_model=ShipmentMessage, apply=apply_shipment, settings=settings)
