"""Each row of Hokodo's "Do you have partial order shipment?" table, end to end through the queues."""

from __future__ import annotations

from conftest import ledger, message, zero


def deliver(bundle, *messages):
    bundle.send(*messages)
    bundle.run()


def test_full_shipments_only_then_refunds(make_bundle, hokodo):
    shipments, returns = make_bundle("shipments", policy="full_only"), make_bundle("returns")
    dp = hokodo.create_deferred_payment(80_000)["id"]
    deliver(shipments, message("ship-1", dp, capture_remaining=True))
    deliver(returns, message("credit-note-1", dp, amount=7_500))
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 72_500, "refunds": 7_500}


def test_partial_shipments_then_always_cancel_the_remainder(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_then_cancel")
    dp = hokodo.create_deferred_payment(80_000)["id"]
    deliver(shipments, message("ship-1", dp, amount=50_000))
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 50_000, "voided_authorisation": 30_000}


def test_partial_shipments_then_sometimes_cancel_the_remainder(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_sometimes_cancel")
    cancellations = make_bundle("cancellations")
    dp = hokodo.create_deferred_payment(80_000)["id"]
    deliver(shipments, message("ship-1", dp, amount=30_000))
    deliver(cancellations, message("cancel-1", dp, amount=10_000))
    deliver(shipments, message("ship-2", dp, amount=40_000))
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 70_000, "voided_authorisation": 10_000}


def test_partial_shipments_leaving_the_remainder_open_until_it_expires(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(80_000)["id"]
    deliver(shipments, message("ship-1", dp, amount=30_000))
    deliver(shipments, message("ship-2", dp, amount=20_000))
    assert ledger(hokodo, dp) == {**zero(), "authorisation": 30_000, "protected_captures": 50_000}
    hokodo.advance_clock(days=29)
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 50_000, "expired_authorisation": 30_000}
    assert hokodo.get_deferred_payment(dp)["status"] == "captured"
    deliver(shipments, message("ship-3", dp, amount=5_000))  # after expiry a capture is unprotected
    assert ledger(hokodo, dp)["unprotected_captures"] == 5_000
