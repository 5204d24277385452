"""Exactly once under duplicates, lost answers, redrives and cross-queue reordering: key generations,
per-action records and `after`, through the real handlers, moto SQS and the emulator over HTTP."""

from __future__ import annotations

import time

import pytest
from conftest import ledger, message, zero


def deliver(bundle, *messages):
    bundle.send(*messages)
    return bundle.run()


def later(bundle):
    """Deliver again once the visibility timeout (1 s in these tests) has let failed records come back."""
    time.sleep(1.05)
    return bundle.run()


def keys_of(hokodo, action: str) -> list[str]:
    return [r["idempotency_key"] for r in hokodo.requests() if r["path"].endswith(f"/{action}")]


# -- 1. one key-generation mechanism for every definitive refusal ---------------------------------
@pytest.mark.parametrize("replay_4xx", [True, False], ids=["hokodo-replays-refusals", "hokodo-forgets-refusals"])
def test_a_duplicate_publish_of_a_refused_then_applied_return_refunds_once(make_bundle, hokodo, replay_4xx):
    hokodo.set_idempotency(replay_4xx=replay_4xx)
    shipments = make_bundle("shipments", policy="partial_leave_open")
    returns = make_bundle("returns", max_receive_count=6, OUT_OF_ORDER_MAX_RECEIVES="5", HOKODO_MAX_ATTEMPTS="1")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    ret = message("ret-1", dp, amount=10_000)
    [early] = deliver(returns, ret)
    assert early.failed  # refused: nothing is captured yet (the generation moves on)
    deliver(shipments, message("ship-1", dp, amount=50_000))
    hokodo.add_faults({"drop_after_apply": True, "path_contains": "/refund"})
    [lost] = later(returns)
    assert lost.failed and ledger(hokodo, dp)["refunds"] == 10_000  # applied, but the answer was lost
    returns.send(ret)  # the upstream publishes the same return again: a new message, received for the first time
    later(returns)
    assert ledger(hokodo, dp) == {**zero(), "authorisation": 50_000, "protected_captures": 40_000, "refunds": 10_000}
    applied_refunds = [r for r in hokodo.requests() if r["path"].endswith("/refund") and r["status"] == 201 and not r["replayed"]]
    assert len(applied_refunds) == 1  # the one whose answer was lost; every later refund request was a replay
    assert returns.dead_letters() == []


# -- 2. a redrive after fixing the cause is applied once ------------------------------------------
UNKNOWN = "defpay-NotYetOnHokodo0000000001"


REFUSED_THEN_FIXED = {
    "capture": ("shipments", {"amount": 30_000}, {"authorisation": 70_000, "protected_captures": 30_000}),
    "void": ("cancellations", {"amount": 25_000}, {"authorisation": 75_000, "voided_authorisation": 25_000}),
}


@pytest.mark.parametrize("action", sorted(REFUSED_THEN_FIXED))
def test_a_refusal_for_an_unknown_deferred_payment_is_applied_once_when_redriven_after_the_fix(make_bundle, hokodo, action):
    kind, body, expected = REFUSED_THEN_FIXED[action]
    bundle = make_bundle(kind, policy="partial_leave_open")
    deliver(bundle, message("evt-1", UNKNOWN, **body))
    [dead] = bundle.dead_letters(keep=True)
    assert dead["error_type"] == "DeferredPaymentNotFound" and "404" in dead["reason"]
    hokodo.create_deferred_payment(100_000, id=UNKNOWN)  # the cause is fixed: the deferred payment exists now
    assert bundle.redrive() == 1
    bundle.run()
    assert ledger(hokodo, UNKNOWN) == {**zero(), **expected}
    first, second = keys_of(hokodo, action)
    assert first != second  # the refused key is never reused: Hokodo would replay its 404
    assert bundle.dead_letters() == []


def test_a_refund_dead_lettered_before_its_shipment_is_applied_once_when_redriven_after_it(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    returns = make_bundle("returns", OUT_OF_ORDER_MAX_RECEIVES="1")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    deliver(returns, message("ret-1", dp, amount=4_000))
    [dead] = returns.dead_letters(keep=True)
    assert dead["error_type"] == "AwaitingEarlierEvent" and "exceeds the 0 captured" in dead["reason"]
    deliver(shipments, message("ship-1", dp, amount=30_000))
    returns.redrive()
    returns.run()
    assert ledger(hokodo, dp) == {**zero(), "authorisation": 70_000, "protected_captures": 26_000, "refunds": 4_000}
    assert len(set(keys_of(hokodo, "refund"))) == 2 and returns.dead_letters() == []


# -- 3. an action that was applied is never repeated ----------------------------------------------
def test_a_shipment_whose_void_was_refused_never_captures_again_when_redriven(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_then_cancel")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"status": 400, "path_contains": "/void_remaining", "body": {"detail": "Voids are paused."}})
    deliver(shipments, message("ship-1", dp, amount=40_000))
    [dead] = shipments.dead_letters(keep=True)
    assert "failed action: void_remaining; applied before it, never repeated: capture" in dead["reason"]
    assert "Voids are paused." in dead["reason"]  # Hokodo's own message
    hokodo.forget_idempotency_keys()  # Hokodo's key retention ran out while the message sat in the DLQ
    shipments.redrive()
    shipments.run()
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 40_000, "voided_authorisation": 60_000}
    assert len(keys_of(hokodo, "capture")) == 1
    assert shipments.dead_letters() == []


# -- 4. cross-queue causality: `after` ------------------------------------------------------------
def test_without_after_a_cancellation_of_the_rest_can_overtake_its_shipment(make_bundle, hokodo):
    """The race `after` exists for: the queues are not ordered with each other."""
    shipments = make_bundle("shipments", policy="partial_sometimes_cancel", HOKODO_MAX_ATTEMPTS="1")
    cancellations = make_bundle("cancellations")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"status": 503, "path_contains": "/capture"})
    deliver(shipments, message("ship-1", dp, amount=60_000))  # Hokodo is briefly unavailable: it will be retried
    deliver(cancellations, message("cancel-rest", dp, remaining=True))
    later(shipments)
    assert ledger(hokodo, dp) == {**zero(), "unprotected_captures": 60_000, "voided_authorisation": 100_000}


def test_a_cancellation_of_the_rest_waits_for_the_shipment_named_in_after(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_sometimes_cancel", HOKODO_MAX_ATTEMPTS="1")
    cancellations = make_bundle("cancellations", max_receive_count=5, OUT_OF_ORDER_MAX_RECEIVES="4")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"status": 503, "path_contains": "/capture"})
    deliver(shipments, message("ship-1", dp, amount=60_000))
    after = [{"kind": "shipment", "event_id": "ship-1"}]
    [waiting] = deliver(cancellations, message("cancel-rest", dp, remaining=True, after=after))
    assert waiting.failed and ledger(hokodo, dp)["voided_authorisation"] == 0
    later(shipments)
    later(cancellations)
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 60_000, "voided_authorisation": 40_000}
    assert cancellations.dead_letters() == []


def test_a_message_whose_after_never_takes_effect_is_dead_lettered_naming_it(make_bundle, hokodo):
    cancellations = make_bundle("cancellations", OUT_OF_ORDER_MAX_RECEIVES="2")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    after = [{"kind": "shipment", "event_id": "ship-that-never-came"}]
    deliver(cancellations, message("cancel-rest", dp, remaining=True, after=after))
    later(cancellations)
    [dead] = cancellations.dead_letters()
    assert dead["error_type"] == "AwaitingEarlierEvent"
    assert "waiting for shipment ship-that-never-came" in dead["reason"]
    assert ledger(hokodo, dp)["voided_authorisation"] == 0


def test_after_naming_an_earlier_record_of_the_same_batch_is_applied_in_that_batch(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    [invocation] = deliver(
        shipments,
        message("ship-1", dp, amount=10_000),
        message("ship-2", dp, amount=20_000, after=[{"kind": "shipment", "event_id": "ship-1"}]),
    )
    assert len(invocation.deleted) == 2 and not invocation.failed
    assert ledger(hokodo, dp)["protected_captures"] == 30_000


def test_a_duplicate_of_an_applied_event_does_not_wait_for_its_after(make_bundle, hokodo):
    cancellations = make_bundle("cancellations")
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    deliver(shipments, message("ship-1", dp, amount=10_000))
    cancel = message("cancel-1", dp, amount=5_000, after=[{"kind": "shipment", "event_id": "ship-1"}])
    deliver(cancellations, cancel)
    [duplicate] = deliver(cancellations, cancel)
    assert duplicate.deleted and ledger(hokodo, dp)["voided_authorisation"] == 5_000
