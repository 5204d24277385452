"""What every domain function receives and returns."""

from __future__ import annotations

from dataclasses import dataclass

from .hokodo import HokodoClient
from .models import PostSaleEvent
from .rejections import RejectionCounter
from .settings import Settings


@dataclass(frozen=True)
class ApplyContext:
    hokodo: HokodoClient
    settings: Settings
    receive_count: int  # SQS ApproximateReceiveCount of the record being applied
    rejections: RejectionCounter


def applied(action: str, event: PostSaleEvent) -> dict:
    """The record of one Hokodo call, kept as the idempotent result of the message."""
    return {"action": action, "amount": event.amount, "changes": event.changes.model_dump()}
