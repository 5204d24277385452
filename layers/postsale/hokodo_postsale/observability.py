"""What the bundle tells CloudWatch beyond its logs (Powertools Metrics, namespace HokodoPostSale): Hokodo's latency
and answers, amounts applied by action, and dead letters by reason class. Every function's handler flushes them
(`@metrics.log_metrics`)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from .events.bus import Fact

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


def reconciled(watched: int, outcomes: Mapping[str, int]) -> None:
    """One reconciliation run: the open deferred payments it watched, and how many were synced, failed or deferred to
    the next run (every run says so, zeros included: an idle run still shows that it ran)."""
    with _lock:
        metrics.add_metric(name="ReconciliationWatched", unit=MetricUnit.Count, value=watched)
        for outcome in ("synced", "failed", "deferred"):
            count = outcomes.get(outcome, 0)
            metrics.add_metric(name=f"Reconciliation{outcome.capitalize()}", unit=MetricUnit.Count, value=count)


def answered(status: int) -> None:
    """A webhook answer, by class (Webhook2xx, Webhook4xx, Webhook5xx)."""
    with _lock:
        metrics.add_metric(name=f"Webhook{status // 100}xx", unit=MetricUnit.Count, value=1)


def tracked(actions: int) -> None:
    """Applied actions ledger tracking added to its per-deferred-payment totals (0 for records that carry none)."""
    with _lock:
        metrics.add_metric(name="ActionsTracked", unit=MetricUnit.Count, value=actions)
