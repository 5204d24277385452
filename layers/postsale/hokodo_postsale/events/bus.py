"""Publishing facts to the merchant's EventBridge bus: PutEvents in tens, and only the entries that failed
are sent again (a whole-call retry would publish the others twice)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, NotRequired, TypedDict

_PER_CALL = 10  # PutEvents' limit
_ATTEMPTS = 3
MAX_DETAIL_BYTES = 256 * 1024


@dataclass(frozen=True)
class Fact:
    """One thing that happened to a deferred payment, as an EventBridge event. `id` is stable: the same fact
    always has the same id, so consumers can dedupe on `detail.id`."""

    id: str
    detail_type: str
    detail: dict[str, Any]
    time: str | None = None  # Hokodo's own timestamp of the fact, ISO 8601
    total: tuple[str, int] | None = None  # a ledger fact: (its total's name, the total reached after it)


class PutEventsEntry(TypedDict):
    """One entry of PutEvents' `Entries`, as this bus sends it."""

    Source: str
    DetailType: str
    Detail: str  # JSON
    EventBusName: str
    Time: NotRequired[datetime]  # the fact's own time, when it has a readable one


class EventBus:
    """`events_client` is a factory: the client is made on the first publish, not at cold start."""

    def __init__(self, events_client: Callable[[], Any], bus_name: str, source: str, sleep: Callable[[float], None] = time.sleep):
        self._make_client = events_client
        self.bus_name, self.source = bus_name, source
        self._sleep = sleep

    @cached_property
    def _events(self) -> Any:
        return self._make_client()

    def publish(self, facts: Sequence[Fact]) -> tuple[list[str], dict[str, str]]:
        """(ids published, {id: why not} for those that still failed after retries)."""
        published: list[str] = []
        failed: dict[str, str] = {}
        for start in range(0, len(facts), _PER_CALL):
            done, errors = self._publish_some(list(facts[start : start + _PER_CALL]))
            published += done
            failed.update(errors)
        return published, failed

    def _publish_some(self, facts: list[Fact]) -> tuple[list[str], dict[str, str]]:
        published: list[str] = []
        errors: dict[str, str] = {}
        pending = facts
        for attempt in range(_ATTEMPTS):
            if attempt:
                self._sleep(0.1 * 2**attempt)
            try:
                results = self._events.put_events(Entries=[self._entry(f) for f in pending])["Entries"]
            except Exception as exc:  # the whole call failed: none of these was published
                errors = {f.id: f"PutEvents failed: {type(exc).__name__}: {exc}" for f in pending}
                continue
            errors = {}
            for fact, result in zip(pending, results, strict=True):
                if result.get("EventId") and not result.get("ErrorCode"):
                    published.append(fact.id)
                else:
                    errors[fact.id] = f"{result.get('ErrorCode')}: {result.get('ErrorMessage')}"
            pending = [f for f in pending if f.id in errors]
            if not pending:
                break
        return published, errors

    def _entry(self, fact: Fact) -> PutEventsEntry:
        detail = json.dumps(fact.detail, separators=(",", ":"), sort_keys=True)
        if len(detail.encode()) > MAX_DETAIL_BYTES:
            raise ValueError(f"the detail of fact {fact.id} is larger than EventBridge accepts")
        entry: PutEventsEntry = {
            "Source": self.source,
            "DetailType": fact.detail_type,
            "Detail": detail,
            "EventBusName": self.bus_name,
        }
        if fact.time:
            try:
                entry["Time"] = datetime.fromisoformat(fact.time)
            except ValueError:
                pass
        return entry
