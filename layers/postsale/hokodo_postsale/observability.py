"""What the bundle tells CloudWatch beyond its logs (Powertools Metrics, namespace HokodoPostSale): Hokodo's latency
and answers, amounts applied by action, and dead letters by reason class. Every function's handler flushes them
(`@metrics.log_metrics`)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from .events.bus import Fact

logger = Logger()
metrics = Metrics()
_lock = threading.Lock()  # records of a batch are applied on several threads


def hokodo_attempt(action: str, status: int | None, seconds: float) -> None:
    """One HTTP attempt to Hokodo: its latency, and its answer's class (2xx, 4xx, 429, 5xx, or no answer)."""
    answer = "NoAnswer" if status is None else "429" if status == 429 else f"{status // 100}xx"
    with _lock:
        metrics.add_metric(name="HokodoLatency", unit=MetricUnit.Milliseconds, value=round(seconds * 1000, 1))
        metrics.add_metric(name=f"HokodoAnswer{answer}", unit=MetricUnit.Count, value=1)


def applied(kind: str, actions: Sequence[Mapping[str, Any]]) -> None:
    """An event applied: a count per kind, and the amount (minor units) of each Hokodo action."""
    with _lock:
        metrics.add_metric(name=f"{kind.capitalize()}Applied", unit=MetricUnit.Count, value=1)
        for action in actions:
            name = "".join(part.capitalize() for part in str(action.get("action", "")).split("_"))
            if isinstance(action.get("amount"), int):
                metrics.add_metric(name=f"{name}Amount", unit=MetricUnit.NoUnit, value=action["amount"])


def outcome(kind: str, name: str, error_type: str | None = None) -> None:
    """A record dead-lettered, parked, retried, skipped or already applied (`Duplicate`: counted, its amounts never added
    again); dead letters and parks also by reason class."""
    with _lock:
        metrics.add_metric(name=f"{kind.capitalize()}{name}", unit=MetricUnit.Count, value=1)
        if error_type and name in ("DeadLettered", "Parked"):
            metrics.add_metric(name=f"DeadLettered{error_type}", unit=MetricUnit.Count, value=1)


def published(facts: Sequence[Fact]) -> None:
    """Events published to the bus, by detail-type (`EventsPublished` in all, and e.g. `PublishedDeferredPaymentExpired`)."""
    with _lock:
        for fact in facts:
            metrics.add_metric(name="EventsPublished", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="Published" + fact.detail_type.replace(" ", ""), unit=MetricUnit.Count, value=1)


def answered(status: int) -> None:
    """A webhook answer, by class (Webhook2xx, Webhook4xx, Webhook5xx)."""
    with _lock:
        metrics.add_metric(name=f"Webhook{status // 100}xx", unit=MetricUnit.Count, value=1)


def tracked(actions: int) -> None:
    """Applied actions ledger tracking added to its per-deferred-payment totals (0 for records that carry none)."""
    with _lock:
        metrics.add_metric(name="ActionsTracked", unit=MetricUnit.Count, value=actions)


def shape_tolerated(deferred_payment_id: str, notes: Sequence[str]) -> None:
    """Hokodo's deferred payment was not what the guide describes and was read tolerantly (hokodo/models.py): a warning
    naming what, and `HokodoShapeTolerated`, so a change on Hokodo's side shows on the dashboard."""
    logger.warning(
        "Hokodo's answer read tolerantly", extra={"deferred_payment_id": deferred_payment_id, "tolerated": list(notes)}
    )
    with _lock:
        metrics.add_metric(name="HokodoShapeTolerated", unit=MetricUnit.Count, value=1)


def unknown_event_types(deferred_payment_id: str, types: set[str]) -> None:
    """Event types the bundle does not know (they never hide a change in the totals: facts come from those)."""
    logger.warning("unknown Hokodo event types", extra={"deferred_payment_id": deferred_payment_id, "types": sorted(types)})
    with _lock:
        metrics.add_metric(name="UnknownHokodoEventType", unit=MetricUnit.Count, value=len(types))


def queued(count: int) -> None:
    """Syncs requested on the sync queue (`SyncsQueued`): by notifications, applied actions and the reconciliation."""
    with _lock:
        metrics.add_metric(name="SyncsQueued", unit=MetricUnit.Count, value=count)


def watched(count: int) -> None:
    """Deferred payments on the reconciliation's watch list at a run (`OpenDeferredPayments`: 0 is a value too)."""
    with _lock:
        metrics.add_metric(name="OpenDeferredPayments", unit=MetricUnit.Count, value=count)
