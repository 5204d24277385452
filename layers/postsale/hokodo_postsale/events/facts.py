"""Facts from Hokodo's ledger totals, which are the truth; events only enrich them.

A deferred payment's totals (ever captured, refunded, voided, expired, clawed back) only grow. What was published is
remembered as totals too (the watermark), so every sync publishes each total's increase since the last publication,
whether or not Hokodo's `events` are present, ordered, identified or named as the guide suggests. When `events` is
present, its entries split an increase into Hokodo's individual events (with their times and metadata) if they account
for it exactly: what each entry did is read from its `changes`, never from its `type` or its place in the list (events
are ordered by their time); otherwise one fact stands for the whole increase, and says so (`derived_from: totals`).

A fact's id is derived from (deferred payment, fact type, total reached after it), so it is the same however Hokodo
lists or names its events and whichever path (a notification, the reconciliation, the bundle's own action) publishes
it first. Pure functions: no I/O.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..hokodo.models import LEDGER_TOTALS, Changes, DeferredPayment, DeferredPaymentEvent
from . import catalogue
from .bus import Fact

# Never change: every fact id ever published is derived from it.
_FACT_NAMESPACE = uuid.UUID("0b5a3c1e-8f2d-4a6b-9c7e-2d4f6a8b1c3e")
# The `type`s public material shows or describes, and the names the remaining actions may be recorded under. Another is
# logged and counted (UnknownHokodoEventType); it never changes what is published, which `changes` decides.
KNOWN_EVENT_TYPES = frozenset(
    {"capture", "capture_remaining", "refund", "void", "void_remaining", "expiration", "expiry", "expired", "clawback"}
)


@dataclass(frozen=True)
class LedgerTotal:
    """One of the totals facts are published from (hokodo/models.py LEDGER_TOTALS), and the fact its increase is."""

    name: str
    model: type[catalogue.LedgerFact]

    def moved_by(self, changes: Changes) -> int:
        return sum(getattr(changes, key) for key in LEDGER_TOTALS[self.name][1])


TOTALS = (
    LedgerTotal("captured", catalogue.DeferredPaymentCaptured),
    LedgerTotal("refunded", catalogue.DeferredPaymentRefunded),
    LedgerTotal("voided", catalogue.DeferredPaymentVoided),
    LedgerTotal("expired", catalogue.DeferredPaymentExpired),
    LedgerTotal("clawed_back", catalogue.DeferredPaymentClawback),
)
TOTAL_NAMES = tuple(t.name for t in TOTALS)
_BY_NAME = {t.name: t for t in TOTALS}


@dataclass(frozen=True)
class Decrease:
    """A total lower than what was already published: never published, never lowered; the caller logs it."""

    total: str
    published: int
    at_hokodo: int


def ledger_facts(dp: DeferredPayment, published: dict[str, int]) -> tuple[list[Fact], list[Decrease]]:
    """The facts Hokodo's deferred payment shows beyond the `published` totals, oldest first where known."""
    facts: list[Fact] = []
    decreases: list[Decrease] = []
    for name, current in dp.totals().items():
        before = published.get(name, 0)
        if current < before:
            decreases.append(Decrease(name, before, current))
        elif current > before:
            total = _BY_NAME[name]
            split = _split(dp.events, total, before, current)
            if split is None:
                facts.append(_ledger_fact(dp, total, current - before, current, None))
            else:
                facts += [_ledger_fact(dp, total, moved, after, event) for event, moved, after in split]
    facts.sort(key=lambda f: f.time or "")
    return facts, decreases


def unknown_event_types(dp: DeferredPayment) -> set[str]:
    return {str(e.type) for e in dp.events or () if e.type not in KNOWN_EVENT_TYPES}


def _split(
    events: list[DeferredPaymentEvent] | None, total: LedgerTotal, before: int, current: int
) -> list[tuple[DeferredPaymentEvent, int, int]] | None:
    """(event, what it added, the total after it) for each event that took `total` from `before` to `current`, or None
    when the events do not account for it exactly: no events, an event without a readable time, one that lowers the
    total, a sum other than `current`, or no event boundary at `before`."""
    moves = [(e, total.moved_by(e.changes)) for e in events or ()]
    moves = [(e, moved) for e, moved in moves if moved]
    if not moves or any(moved < 0 for _, moved in moves) or sum(moved for _, moved in moves) != current:
        return None
    stamped = [(_instant(e.created), e, moved) for e, moved in moves]
    if any(stamp is None for stamp, _, _ in stamped):
        return None
    stamped.sort(key=lambda s: (s[0], s[2], _tie_break(s[1])))  # time, then content: never the list's own order
    running, found, boundary = 0, [], before == 0
    for _, event, moved in stamped:
        running += moved
        if running <= before:
            boundary |= running == before
        else:
            found.append((event, moved, running))
    return found if boundary else None


def _ledger_fact(dp: DeferredPayment, total: LedgerTotal, moved: int, after: int, event: DeferredPaymentEvent | None) -> Fact:
    fields: dict[str, Any] = {
        "amount": moved,
        "total_after": after,
        "derived_from": "totals" if event is None else "event",
        "hokodo_event_type": None if event is None else event.type,
        "changes": None if event is None else event.changes.model_dump(),
        "metadata": (event.metadata or None) if event is not None else None,
    }
    if total.model is catalogue.DeferredPaymentExpired:
        fields |= {"expired_amount": moved, "final_status": dp.status}
    elif total.model is catalogue.DeferredPaymentClawback:
        fields["clawback_amount"] = moved
    fact = build(total.model, dp, f"{total.name}\x1f{after}", None if event is None else event.created, **fields)
    return Fact(fact.id, fact.detail_type, fact.detail, fact.time, total=(total.name, after))


def status_changed(dp: DeferredPayment, old_status: str, change_number: int) -> Fact:
    """The `change_number`-th status change the bundle saw of this deferred payment (its id is stable on every path:
    the count is kept with the watermark)."""
    identity = f"status\x1f{change_number}\x1f{old_status}\x1f{dp.status}"
    return build(catalogue.DeferredPaymentStatusChanged, dp, identity, None, old_status=old_status, new_status=dp.status)


def drift(dp: DeferredPayment, sent: dict[str, int]) -> Fact | None:
    """A fact when Hokodo's captured, refunded or voided total differs from what the bundle sent."""
    totals = dp.totals()
    at_hokodo = {name: totals[name] for name in sent}
    if at_hokodo == sent:
        return None
    identity = f"drift\x1f{json.dumps(sent, sort_keys=True)}\x1f{json.dumps(at_hokodo, sort_keys=True)}"
    difference = {name: at_hokodo[name] - sent[name] for name in at_hokodo}
    return build(
        catalogue.DeferredPaymentDriftDetected,
        dp,
        identity,
        None,
        sent_by_bundle=sent,
        at_hokodo=at_hokodo,
        difference=difference,
    )


def build(
    model: type[catalogue.DeferredPaymentFact], dp: DeferredPayment, identity: str, when: str | None, **fields: Any
) -> Fact:
    detail = model(
        id=fact_id(dp.id, identity),
        deferred_payment_id=dp.id,
        deferred_payment_number=dp.number,
        order_id=dp.order_id,
        currency=dp.currency,
        status=dp.status,
        occurred_at=when,
        **fields,
    )
    published = detail.model_dump(mode="json", exclude={"metadata"} if getattr(detail, "metadata", None) is None else set())
    return Fact(detail.id, model.DETAIL_TYPE, published, when)


def fact_id(deferred_payment_id: str, identity: str) -> str:
    return str(uuid.uuid5(_FACT_NAMESPACE, f"{deferred_payment_id}\x1f{identity}"))


def latest_change(dp: DeferredPayment) -> float:
    """The time of the latest of Hokodo's events (epoch seconds), 0 when none has a readable one."""
    return max((s.timestamp() for s in map(_instant, (e.created for e in dp.events or ())) if s is not None), default=0.0)


def _instant(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _tie_break(event: DeferredPaymentEvent) -> str:
    """Two events at the same instant and of the same size: ordered by what they did, never by id, name or position."""
    return json.dumps([event.changes.model_dump(), event.metadata or {}], sort_keys=True, default=str)


def published_after(facts: Iterable[Fact], accepted: Callable[[Fact], bool], published: dict[str, int]) -> dict[str, int]:
    """The totals a watermark may advance to: for each total, up to the last of its facts (in increasing order) before
    the first one PutEvents did not accept. A later fact accepted after a refused one is published again next time,
    under the same id."""
    advanced = dict(published)
    blocked: set[str] = set()
    for fact in sorted((f for f in facts if f.total), key=lambda f: f.total[1] if f.total else 0):
        name, after = fact.total  # type: ignore[misc]  # filtered above: a ledger fact has its total
        if name in blocked:
            continue
        if accepted(fact):
            advanced[name] = max(advanced.get(name, 0), after)
        else:
            blocked.add(name)
    return advanced
