"""Returns become refunds: refunds only reduce what is captured and not yet refunded."""

from __future__ import annotations

import time

import pytest
from conftest import ledger, message, post_sale_calls, zero


@pytest.fixture
def shipments(make_bundle):
    return make_bundle("shipments", policy="partial_leave_open")


@pytest.fixture
def returns(make_bundle):
    return make_bundle("returns", max_receive_count=5, OUT_OF_ORDER_MAX_RECEIVES="3")


def shipped(shipments, hokodo, authorisation, captured):
    dp = hokodo.create_deferred_payment(authorisation)["id"]
    shipments.send(message(f"ship-{dp}", dp, amount=captured))
    shipments.run()
    return dp


def test_partial_then_full_refund(shipments, returns, hokodo):
    dp = shipped(shipments, hokodo, 100_000, 60_000)
    returns.send(message("ret-1", dp, amount=10_000, metadata={"rma": "RMA-1"}))
    returns.run()
    assert ledger(hokodo, dp)["protected_captures"] == 50_000 and ledger(hokodo, dp)["refunds"] == 10_000
    returns.send(message("ret-2", dp, amount=50_000))
    returns.run()
    assert ledger(hokodo, dp) == {**zero(), "authorisation": 40_000, "refunds": 60_000}
    assert returns.dead_letters() == []


def test_refund_after_capture_above_the_authorisation_releases_the_unprotected_part_first(shipments, returns, hokodo):
    dp = shipped(shipments, hokodo, 10_000, 12_000)
    returns.send(message("ret-1", dp, amount=2_500))
    returns.run()
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 9_500, "unprotected_captures": 0, "refunds": 2_500}


def test_duplicates_are_refunded_once_and_a_reused_event_id_is_refused(shipments, returns, hokodo):
    dp = shipped(shipments, hokodo, 100_000, 50_000)
    returns.send(message("ret-1", dp, amount=5_000), message("ret-1", dp, amount=5_000))
    returns.run()
    returns.send(message("ret-1", dp, amount=5_000), message("ret-1", dp, amount=7_000))
    returns.run()
    assert ledger(hokodo, dp)["refunds"] == 5_000
    assert len([c for c in post_sale_calls(hokodo, dp) if c["path"].endswith("/refund")]) == 1
    [dead] = returns.dead_letters()
    assert "7000" in dead["body"] and dead["error_type"] == "IdempotencyValidationError"


def test_over_refund_is_dead_lettered_with_the_reason(shipments, returns, hokodo):
    dp = shipped(shipments, hokodo, 100_000, 20_000)
    returns.send(message("ret-1", dp, amount=20_001))
    for _ in range(3):  # an over-refund may be an early one: it waits OUT_OF_ORDER_MAX_RECEIVES receives
        returns.run()
        time.sleep(1.05)
    assert ledger(hokodo, dp)["refunds"] == 0
    [dead] = returns.dead_letters()
    assert dead["error_type"] == "AwaitingEarlierEvent"
    assert "refund of 20001 exceeds the 20000 captured and not yet refunded" in dead["reason"]


def test_a_return_that_arrives_before_its_shipment_waits_for_it(shipments, returns, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    returns.send(message("ret-early", dp, amount=4_000))
    [early] = returns.run()
    assert early.failed  # refused by Hokodo for now: left on the queue
    shipments.send(message("ship-late", dp, amount=30_000))
    shipments.run()
    time.sleep(1.05)
    [retry] = returns.run()
    assert retry.deleted
    assert ledger(hokodo, dp)["refunds"] == 4_000 and ledger(hokodo, dp)["protected_captures"] == 26_000
    refund_keys = [r["idempotency_key"] for r in hokodo.requests() if r["path"].endswith("/refund")]
    assert len(refund_keys) == 2 and refund_keys[0] != refund_keys[1]  # a definite rejection moves to a new key
    assert returns.dead_letters() == []
