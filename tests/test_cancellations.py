"""Cancellations become voids of the authorisation."""

from __future__ import annotations

import pytest
from conftest import ledger, message, post_sale_calls, zero


@pytest.fixture
def cancellations(make_bundle):
    return make_bundle("cancellations")


def test_void_part_of_the_authorisation(cancellations, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    cancellations.send(message("cancel-1", dp, amount=15_000, metadata={"reason": "out of stock"}))
    cancellations.run()
    assert ledger(hokodo, dp) == {**zero(), "authorisation": 85_000, "voided_authorisation": 15_000}
    [call] = post_sale_calls(hokodo, dp)
    assert call["body"] == {"amount": 15_000, "metadata": {"reason": "out of stock"}}


def test_void_remaining_after_a_partial_capture(make_bundle, cancellations, hokodo):
    shipments = make_bundle("shipments", policy="partial_sometimes_cancel")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(message("ship-1", dp, amount=35_000))
    shipments.run()
    cancellations.send(message("cancel-1", dp, remaining=True))
    cancellations.run()
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 35_000, "voided_authorisation": 65_000}


def test_over_void_is_dead_lettered_with_hokodos_reason(cancellations, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    cancellations.send(message("cancel-1", dp, amount=10_001), message("cancel-2", dp, amount=1_000))
    cancellations.run()
    assert ledger(hokodo, dp) == {**zero(), "authorisation": 9_000, "voided_authorisation": 1_000}
    [dead] = cancellations.dead_letters()
    assert dead["error_type"] == "HokodoRejected"
    assert "400" in dead["reason"] and "exceeds the remaining authorisation" in dead["reason"]


def test_duplicates_are_voided_once_and_a_reused_event_id_is_refused(cancellations, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    cancellations.send(message("cancel-1", dp, amount=1_000), message("cancel-1", dp, amount=1_000))
    cancellations.run()
    cancellations.send(message("cancel-1", dp, remaining=True))
    cancellations.run()
    assert ledger(hokodo, dp)["voided_authorisation"] == 1_000
    [dead] = cancellations.dead_letters()
    assert dead["error_type"] == "IdempotencyValidationError"


@pytest.mark.parametrize("bad", [{"amount": 10.0}, {"amount": 0}, {"amount": 5, "remaining": True}, {}, {"remaining": "yes"}])
def test_bad_cancellations_are_dead_lettered(cancellations, hokodo, bad):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    cancellations.send(message("cancel-bad", dp, **bad))
    cancellations.run()
    [dead] = cancellations.dead_letters()
    assert dead["error_type"] == "InvalidMessage" and dead["reason"].startswith("invalid CancellationMessage")
    assert hokodo.requests() == []
