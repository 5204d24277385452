"""A deferred payment as Hokodo holds it, turned into facts on the merchant's event bus, each fact once.

Hokodo's notifications are unsigned hints, and its events are thinly documented: the truth is the deferred payment
read back from the API, and above all its ledger totals (facts.py). Every sync (a notification, the bundle's own
action, the reconciliation: all through the sync queue) reads the watermark, reads the deferred payment, derives what
is new (each total's increase, a status change, drift from what the bundle sent), publishes it, and advances the
watermark for what PutEvents accepted, under a lease taken with a conditional write, so two syncs of one deferred
payment at once publish each fact once. A crash after PutEvents and before the watermark write would publish those
facts again on the next sync, under the same ids: consumers dedupe on `detail.id`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aws_lambda_powertools import Logger

from .. import observability
from ..errors import TransientError
from ..hokodo.client import HokodoClient
from ..hokodo.models import DeferredPayment
from . import catalogue
from . import facts as derive
from .bus import EventBus, Fact
from .watermark import LeaseLost, Publication, Watermark, WatermarkStore

logger = Logger()


class SyncBusy(TransientError):
    """Another sync of the same deferred payment holds its lease; try again shortly."""


class EventsNotPublished(TransientError):
    """PutEvents kept refusing some facts; they are published by the next sync of this deferred payment."""


def is_final(dp: DeferredPayment) -> bool:
    """Nothing left to expire (no authorisation) and nothing left to claw back (nothing captured, or repaid)."""
    outstanding = dp.protected_captures + dp.unprotected_captures
    return dp.authorisation == 0 and (outstanding == 0 or (dp.repayment_info is not None and dp.repayment_info.status == "paid"))


class DeferredPaymentSync:
    def __init__(
        self,
        hokodo: Callable[[], HokodoClient],
        store: WatermarkStore,
        bus: EventBus,
        *,
        drift_settle_seconds: float = 900,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._hokodo, self.store, self._bus = hokodo, store, bus
        self._drift_settle_seconds = drift_settle_seconds
        self._sleep = sleep

    def sync(self, deferred_payment_id: str, *, check_drift: bool = False, attempts: int = 5) -> list[Fact]:
        """Publish what is new about one deferred payment; returns the facts published. Raises a TransientError
        (SyncBusy, EventsNotPublished, HokodoUnavailable...) when it must be tried again."""
        for attempt in range(attempts):
            if attempt:
                self._sleep(min(2.0, 0.1 * 2**attempt))
            mark = self.store.read(deferred_payment_id)
            dp = self._hokodo().get_deferred_payment(deferred_payment_id)
            new = self._new_facts(dp, mark, check_drift)
            final = is_final(dp)
            if not new and mark.exists and mark.status == dp.status and mark.watched != final:
                return []  # nothing new, and already on (or off) the reconciliation's list as it should be
            token = self.store.claim(deferred_payment_id, mark)
            if token is None:
                continue  # another sync published meanwhile, or holds the lease: read again
            ids, failed = self._bus.publish(new)
            accepted = set(ids)
            try:
                self.store.release(deferred_payment_id, token, mark, self._publication(dp, mark, new, accepted, final))
            except LeaseLost as lost:
                raise SyncBusy(str(lost)) from None
            if failed:
                raise EventsNotPublished(
                    f"{deferred_payment_id}: {len(failed)} fact(s) not published: {next(iter(failed.values()))}"
                )
            return [f for f in new if f.id in accepted]
        raise SyncBusy(f"{deferred_payment_id}: another sync kept its lease; try again")

    def _new_facts(self, dp: DeferredPayment, mark: Watermark, check_drift: bool) -> list[Fact]:
        found, decreases = derive.ledger_facts(dp, mark.published)
        for decrease in decreases:
            logger.warning(
                "a total of Hokodo's went down: nothing published for it, the watermark kept",
                extra={"deferred_payment_id": dp.id, **decrease.__dict__},
            )
        unknown = derive.unknown_event_types(dp)
        if unknown:
            observability.unknown_event_types(dp.id, unknown)
        if mark.status is not None and mark.status != dp.status:
            found.append(derive.status_changed(dp, mark.status, mark.status_changes + 1))
        if check_drift and mark.sent is not None and self._settled(dp, mark):
            drift = derive.drift(dp, mark.sent)
            if drift is not None and drift.id != mark.drift:
                found.append(drift)
        return found

    def _settled(self, dp: DeferredPayment, mark: Watermark) -> bool:
        """Drift is reported only once neither Hokodo's ledger nor the bundle's record has moved for a while (the
        bundle's record lags its requests by seconds)."""
        settled_after = time.time() - self._drift_settle_seconds
        return max(mark.tracked_at, mark.changed_at, derive.latest_change(dp)) <= settled_after

    @staticmethod
    def _publication(dp: DeferredPayment, mark: Watermark, new: list[Fact], accepted: set[str], final: bool) -> Publication:
        published = derive.published_after(new, lambda f: f.id in accepted, mark.published)
        status_fact = next((f for f in new if f.detail_type == catalogue.DeferredPaymentStatusChanged.DETAIL_TYPE), None)
        status_published = status_fact is None or status_fact.id in accepted
        drift = next((f.id for f in new if f.detail_type == catalogue.DeferredPaymentDriftDetected.DETAIL_TYPE), None)
        return Publication(
            published=published,
            status=dp.status if status_published or mark.status is None else mark.status,
            status_changes=mark.status_changes + (status_fact is not None and status_published),
            changed=published != mark.published,
            drift=drift if drift in accepted else mark.drift,
            final=final and len(accepted) == len(new),
        )
