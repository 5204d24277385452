"""The scheduled reconciliation: every open deferred payment the bundle watches is synced like a webhook
would (so a lost notification never hides an expiry or a clawback), and checked for drift between what
the bundle sent and what Hokodo's ledger holds. The least recently synced go first, and the run stops
starting syncs when the invocation's time is nearly up: the rest are first next time."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools import Logger

from .. import observability
from ..errors import HokodoAuthenticationFailed
from ..hokodo.credentials import HokodoClientProvider
from ..settings import Settings
from .bus import Fact
from .sync import DeferredPaymentSync
from .webhooks import deferred_payment_sync

logger = Logger()
_MARGIN_SECONDS = 10.0


class Reconciliation:
    def __init__(self, sync: DeferredPaymentSync, hokodo: HokodoClientProvider, workers: int = 8):
        self._sync, self._hokodo, self._workers = sync, hokodo, workers

    def run(self, remaining_seconds: Callable[[], float]) -> dict[str, Any]:
        watched = self._sync.store.open_deferred_payments()
        self._hokodo.client().use_deadline(time.monotonic() + remaining_seconds() - _MARGIN_SECONDS / 2)

        def one(deferred_payment_id: str) -> tuple[str, list[Fact]]:
            if remaining_seconds() < _MARGIN_SECONDS:
                return "deferred", []
            try:
                return "synced", self._sync.sync(deferred_payment_id, check_drift=True)
            except Exception as exc:  # one deferred payment's trouble never stops the others
                if isinstance(exc, HokodoAuthenticationFailed):
                    self._hokodo.refresh()
                logger.warning("not reconciled", extra={"deferred_payment_id": deferred_payment_id, "reason": str(exc)})
                return "failed", []

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            results = list(pool.map(one, watched))
        observability.published([fact for _, facts in results for fact in facts])
        observability.reconciled(len(watched), Counter(outcome for outcome, _ in results))
        report = {
            "watched": len(watched),
            **Counter(outcome for outcome, _ in results),
            "published": dict(Counter(f.detail_type for _, facts in results for f in facts)),
        }
        logger.info("reconciliation done", extra=report)
        return report


def reconciliation(settings: Settings | None = None) -> Reconciliation:
    settings = settings or Settings.from_env()
    hokodo = HokodoClientProvider(settings)
    return Reconciliation(deferred_payment_sync(settings, hokodo), hokodo)
