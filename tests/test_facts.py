"""Facts from Hokodo's ledger totals (events/facts.py), read from deferred payments as public material shows them: with
or without `events`, their entries with or without ids, in either order, under any type names, with nulls for zero
totals. The same Hokodo history must give the same facts, with the same ids, however it is shown."""

from __future__ import annotations

import random

import pytest
from hokodo_postsale.events.facts import fact_id, ledger_facts, published_after, unknown_event_types
from hokodo_postsale.hokodo.models import DeferredPayment

DP = "defpay-FactsFromTotals0000001"
ZERO = dict.fromkeys(("authorisation", "protected_captures", "unprotected_captures", "refunds"), 0) | dict.fromkeys(
    ("voided_authorisation", "expired_authorisation", "clawback_amount"), 0
)


def event(kind: str, amount: int, at: str, **changes: int) -> dict:
    return {
        "id": f"dpevt-{kind}-{at}",
        "type": kind,
        "created": f"2026-01-0{at}T10:00:00.000Z",
        "amount": amount,
        "changes": changes,
    }


# A history: 100000 authorised; capture 30000, capture 20000, refund 5000, void 10000, expiry of the remaining 40000,
# a clawback of 700.
HISTORY = [
    event("capture", 30_000, "1", authorisation=-30_000, protected_captures=30_000),
    event("capture", 20_000, "2", authorisation=-20_000, protected_captures=20_000),
    event("refund", 5_000, "3", protected_captures=-5_000, refunds=5_000),
    event("void", 10_000, "4", authorisation=-10_000, voided_authorisation=10_000),
    event("expiration", 40_000, "5", authorisation=-40_000, expired_authorisation=40_000),
    event("clawback", 700, "6", clawback=700),
]
TOTALS = {
    "protected_captures": 45_000,
    "refunds": 5_000,
    "voided_authorisation": 10_000,
    "expired_authorisation": 40_000,
    "clawback_amount": 700,
}
EXPECTED = {  # (detail-type, amount, total after it) of each fact, whatever the reading
    ("Deferred Payment Captured", 30_000, 30_000),
    ("Deferred Payment Captured", 20_000, 50_000),
    ("Deferred Payment Refunded", 5_000, 5_000),
    ("Deferred Payment Voided", 10_000, 10_000),
    ("Deferred Payment Expired", 40_000, 40_000),
    ("Deferred Payment Clawback", 700, 700),
}


def deferred_payment(events: list[dict] | None, **fields) -> DeferredPayment:
    body = {"id": DP, "number": "P-TEST-0001", "order": "order-1", "status": "captured", "currency": "GBP", **ZERO, **TOTALS}
    body |= fields
    if events is not None:
        body["events"] = events
    return DeferredPayment.model_validate(body)


def summary(facts) -> set[tuple[str, int, int]]:
    return {(f.detail_type, f.detail["amount"], f.detail["total_after"]) for f in facts}


def ids(facts) -> dict[tuple[str, int], str]:
    return {(f.detail_type, f.detail["total_after"]): f.id for f in facts}


def test_every_fact_of_a_history_is_derived_once_from_its_events():
    facts, decreases = ledger_facts(deferred_payment(HISTORY), {})
    assert summary(facts) == EXPECTED and decreases == []
    assert all(f.detail["derived_from"] == "event" and f.detail["occurred_at"] for f in facts)
    names = {"captured": "Deferred Payment Captured", "expired": "Deferred Payment Expired"}
    assert ids(facts)[(names["captured"], 50_000)] == fact_id(DP, "captured\x1f50000")
    assert ids(facts)[(names["expired"], 40_000)] == fact_id(DP, "expired\x1f40000")


def unnamed(events):
    return [{k: v for k, v in e.items() if k != "id"} for e in events]


def renamed(events):
    names = {"expiration": "expiry", "void": "capture", "capture": "capture_remaining"}  # the guide's void says "capture"
    return [{**e, "type": names.get(e["type"], e["type"])} for e in events]


READINGS = {
    "as the guide shows them": lambda events: events,
    "without ids": unnamed,
    "newest first": lambda events: list(reversed(events)),
    "shuffled": lambda events: random.Random(7).sample(events, len(events)),
    "under other type names": renamed,
    "all of that": lambda events: renamed(unnamed(list(reversed(events)))),
}


@pytest.mark.parametrize("reading", READINGS)
def test_the_same_history_gives_the_same_facts_and_ids_however_its_events_are_listed_or_named(reading):
    expected = ids(ledger_facts(deferred_payment(HISTORY), {})[0])
    facts, _ = ledger_facts(deferred_payment(READINGS[reading](HISTORY)), {})
    assert summary(facts) == EXPECTED and ids(facts) == expected


def test_without_events_each_total_is_one_fact_with_the_id_of_the_total_it_reached():
    split = ids(ledger_facts(deferred_payment(HISTORY), {})[0])
    facts, _ = ledger_facts(deferred_payment(None), {})
    assert summary(facts) == {
        ("Deferred Payment Captured", 50_000, 50_000),  # two captures, one fact: the events would have split it
        ("Deferred Payment Refunded", 5_000, 5_000),
        ("Deferred Payment Voided", 10_000, 10_000),
        ("Deferred Payment Expired", 40_000, 40_000),
        ("Deferred Payment Clawback", 700, 700),
    }
    assert all(f.detail["derived_from"] == "totals" and f.detail["occurred_at"] is None for f in facts)
    assert ids(facts) == {key: split[key] for key in ids(facts)}  # the fact reaching a total has one id either way


def test_nulls_for_zero_totals_are_zero_and_noted():
    dp = deferred_payment(HISTORY, authorisation=None, unprotected_captures=None)
    assert (dp.authorisation, dp.unprotected_captures) == (0, 0)
    assert dp.tolerated == ("authorisation null: read as 0", "unprotected_captures null: read as 0")
    assert summary(ledger_facts(dp, {})[0]) == EXPECTED


def test_a_malformed_event_never_hides_the_totals():
    broken = [*HISTORY[:5], {"type": "clawback", "changes": "not an object"}]
    dp = deferred_payment(broken)
    assert dp.tolerated == ("events[5] malformed (changes: Input should be a valid dictionary or instance of Changes): left out",)
    facts, _ = ledger_facts(dp, {})
    assert summary(facts) == EXPECTED  # the clawback, from clawback_amount, as one fact from the totals
    [clawback] = [f for f in facts if f.detail_type == "Deferred Payment Clawback"]
    assert clawback.detail["derived_from"] == "totals" and clawback.id == fact_id(DP, "clawed_back\x1f700")


def test_a_total_hokodo_leaves_out_is_what_its_events_show_and_is_noted():
    dp = deferred_payment(HISTORY)
    without = DeferredPayment.model_validate({k: v for k, v in dp.model_dump().items() if k != "clawback_amount"})
    assert "clawback_amount missing: read as 0" in without.tolerated
    assert summary(ledger_facts(without, {})[0]) == EXPECTED


def test_an_unknown_status_is_kept_and_noted_and_unknown_event_types_are_named():
    dp = deferred_payment([*HISTORY, event("interest_free_extension", 0, "7")], status="on_hold")
    assert dp.status == "on_hold" and "status 'on_hold' not known: kept as it is" in dp.tolerated
    assert unknown_event_types(dp) == {"interest_free_extension"}
    assert summary(ledger_facts(dp, {})[0]) == EXPECTED  # a type the bundle does not know never hides a change


@pytest.mark.parametrize("reading", READINGS)
def test_a_sync_publishes_what_grew_since_the_last_publication_under_the_same_ids(reading):
    """Two syncs: after the first captures, then after everything else; new events were added in between."""
    before = {"refunds": 0, "voided_authorisation": 0, "expired_authorisation": 0, "clawback_amount": 0}
    first = deferred_payment(READINGS[reading](HISTORY[:2]), protected_captures=50_000, **before)
    facts, _ = ledger_facts(first, {})
    published = published_after(facts, lambda f: True, {})
    assert published == {"captured": 50_000}
    later, _ = ledger_facts(deferred_payment(READINGS[reading](HISTORY)), published)
    everything = ids(ledger_facts(deferred_payment(HISTORY), {})[0])
    assert summary(facts) | summary(later) == EXPECTED and not summary(facts) & summary(later)
    assert ids(facts) | ids(later) == everything


def test_an_increase_the_events_cannot_split_from_the_last_publication_is_one_fact():
    # published up to 40000 (say, from totals alone): no event boundary there, so 10000 more is one fact from totals
    facts, _ = ledger_facts(deferred_payment(HISTORY), {"captured": 40_000, "refunded": 5_000, "voided": 10_000})
    captured = [f for f in facts if f.detail_type == "Deferred Payment Captured"]
    assert [(c.detail["amount"], c.detail["total_after"], c.detail["derived_from"]) for c in captured] == [
        (10_000, 50_000, "totals")
    ]


def test_a_total_lower_than_what_was_published_publishes_nothing_and_is_reported():
    facts, decreases = ledger_facts(deferred_payment(HISTORY), {"clawed_back": 900})
    assert "Deferred Payment Clawback" not in {f.detail_type for f in facts}
    assert [(d.total, d.published, d.at_hokodo) for d in decreases] == [("clawed_back", 900, 700)]


def test_the_watermark_stops_at_the_first_fact_put_events_refused():
    facts, _ = ledger_facts(deferred_payment(HISTORY), {})
    refused = next(f.id for f in facts if f.detail.get("total_after") == 30_000 and f.detail_type.endswith("Captured"))
    advanced = published_after(facts, lambda f: f.id != refused, {})
    assert advanced == {"refunded": 5_000, "voided": 10_000, "expired": 40_000, "clawed_back": 700}  # captured: not moved
