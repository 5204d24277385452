"""Shipments become captures, exactly once: the real handler, real SQS deliveries (moto server),
the Hokodo emulator over real HTTP, and the emulator's ledger checked afterwards."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from conftest import API_KEY, ledger, message, post_sale_calls, zero
from hokodo_postsale.runner.batch import logger as batch_logger


@pytest.fixture
def shipments(make_bundle):
    return make_bundle("shipments")


shipment = message


def test_partial_capture_moves_authorisation_to_protected_captures(shipments, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(shipment("ship-1", dp, amount=30_001, metadata={"shipment": "SH-1"}))
    shipments.run()
    assert ledger(hokodo, dp) == {**zero(), "authorisation": 69_999, "protected_captures": 30_001}
    [call] = post_sale_calls(hokodo, dp)
    assert call["path"].endswith("/capture") and call["body"] == {"amount": 30_001, "metadata": {"shipment": "SH-1"}}
    assert shipments.dead_letters() == []


def test_capture_above_the_authorisation_is_unprotected_beyond_it(shipments, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    shipments.send(shipment("ship-1", dp, amount=10_250, final=True))
    shipments.run()
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 10_000, "unprotected_captures": 250}
    # nothing left to void after going beyond the authorisation, so no void_remaining call is made
    assert [c["path"].rsplit("/", 1)[1] for c in post_sale_calls(hokodo, dp)] == ["capture"]


def test_capture_remaining_captures_what_is_left(shipments, hokodo):
    dp = hokodo.create_deferred_payment(50_000)["id"]
    shipments.send(shipment("ship-1", dp, amount=20_000))
    shipments.run()
    shipments.send(shipment("ship-2", dp, capture_remaining=True))
    shipments.run()
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 50_000}


@pytest.mark.parametrize(
    ("policy", "voided"),
    [("full_only", 70_000), ("partial_then_cancel", 70_000), ("partial_sometimes_cancel", 0), ("partial_leave_open", 0)],
)
def test_fulfilment_policy_decides_whether_the_remainder_is_voided(make_bundle, hokodo, policy, voided):
    shipments = make_bundle("shipments", policy=policy)
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(shipment("ship-1", dp, amount=30_000))
    shipments.run()
    assert ledger(hokodo, dp) == {
        **zero(),
        "authorisation": 70_000 - voided,
        "protected_captures": 30_000,
        "voided_authorisation": voided,
    }


@pytest.mark.parametrize(("policy", "final", "voided"), [("partial_leave_open", True, 60_000), ("partial_then_cancel", False, 0)])
def test_a_message_final_overrides_the_policy(make_bundle, hokodo, policy, final, voided):
    shipments = make_bundle("shipments", policy=policy)
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(shipment("ship-1", dp, amount=40_000, final=final))
    shipments.run()
    assert ledger(hokodo, dp)["voided_authorisation"] == voided


def test_duplicate_in_the_same_batch_is_applied_once(shipments, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(shipment("ship-1", dp, amount=25_000), shipment("ship-1", dp, amount=25_000))
    invocations = shipments.run()
    assert len(invocations[0].event["Records"]) == 2
    assert ledger(hokodo, dp)["protected_captures"] == 25_000
    assert len(post_sale_calls(hokodo, dp)) == 1
    assert shipments.dead_letters() == []


def test_duplicate_in_a_later_batch_is_applied_once(shipments, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(shipment("ship-1", dp, amount=25_000))
    shipments.run()
    shipments.send(shipment("ship-1", dp, amount=25_000))
    [later] = shipments.run()
    assert later.deleted and not later.failed
    assert ledger(hokodo, dp)["protected_captures"] == 25_000
    assert len(hokodo.requests()) == 1  # the duplicate never reached Hokodo


def test_same_event_id_with_a_different_amount_is_dead_lettered_and_not_applied(shipments, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(shipment("ship-1", dp, amount=25_000))
    shipments.run()
    shipments.send(shipment("ship-1", dp, amount=26_000))
    shipments.run()
    assert ledger(hokodo, dp)["protected_captures"] == 25_000
    [dead] = shipments.dead_letters()
    assert '"amount": 26000' in dead["body"] or '"amount":26000' in dead["body"]
    assert dead["error_type"] == "IdempotencyValidationError"
    assert "different content" in dead["reason"]


def test_crash_after_hokodo_answered_then_redelivery_applies_nothing_new(shipments, hokodo, monkeypatch):
    """The capture and the void reach Hokodo, then the DynamoDB write that completes the idempotency record fails
    (as if the container died). The redelivery skips the capture (recorded as applied before the void was sent)
    and resends the void under the same Idempotency-Key, so Hokodo replays it."""
    dp = hokodo.create_deferred_payment(100_000)["id"]
    real_update = DynamoDBPersistenceLayer._update_record
    crashes = []

    def crash_once(self, data_record):
        if not crashes:
            crashes.append(data_record.idempotency_key)
            raise ConnectionError("container died before saving the result")
        return real_update(self, data_record)

    warm = hokodo.create_deferred_payment(1_000)["id"]
    shipments.send(shipment("warm-up", warm, amount=100))  # the cold start (clients, secret) is not in the short invocation
    shipments.run()
    monkeypatch.setattr(DynamoDBPersistenceLayer, "_update_record", crash_once)
    shipments.timeout_seconds = 1.5  # the in-progress record expires with the invocation, as on Lambda
    shipments.send(shipment("ship-1", dp, amount=25_000, final=True))
    [first] = shipments.run()
    assert first.failed and crashes
    time.sleep(1.6)  # visibility timeout and in-progress expiry lapse
    [redelivery] = shipments.run()
    assert redelivery.deleted
    assert ledger(hokodo, dp) == {**zero(), "protected_captures": 25_000, "voided_authorisation": 75_000}
    assert len([r for r in hokodo.requests() if r["path"].endswith(f"{dp}/capture")]) == 1
    voids = [r for r in hokodo.requests() if r["path"].endswith(f"{dp}/void_remaining")]
    assert len(voids) == 2 and voids[1]["replayed"] and voids[0]["idempotency_key"] == voids[1]["idempotency_key"]


def test_transient_hokodo_failures_are_retried_and_applied_once(shipments, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"status": 503}, {"status": 429, "retry_after": 0}, {"drop_after_apply": True})
    shipments.send(shipment("ship-1", dp, amount=12_345))
    [invocation] = shipments.run()
    assert invocation.deleted and not invocation.failed
    assert ledger(hokodo, dp)["protected_captures"] == 12_345
    keys = {r["idempotency_key"] for r in hokodo.requests()}
    assert len(hokodo.requests()) == 4 and len(keys) == 1


def test_hokodo_down_for_the_whole_invocation_leaves_the_record_for_redelivery(make_bundle, hokodo):
    shipments = make_bundle("shipments", HOKODO_MAX_ATTEMPTS="2")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"status": 503}, {"status": 503})
    shipments.send(shipment("ship-1", dp, amount=5_000))
    [first] = shipments.run()
    assert first.failed and not first.deleted
    time.sleep(1.1)
    [second] = shipments.run()
    assert second.deleted
    assert ledger(hokodo, dp)["protected_captures"] == 5_000


def test_bad_messages_are_dead_lettered_with_reasons_and_the_rest_of_the_batch_applied(shipments, hokodo):
    dp = hokodo.create_deferred_payment(100_000)["id"]
    unknown = "defpay-DoesNotExist0000000000"
    shipments.send(
        "{not json",
        shipment("s-float", dp, amount=100.5),
        shipment("s-negative", dp, amount=-100),
        shipment("s-string", dp, amount="100"),
        shipment("s-unknown", unknown, amount=100),
        shipment("s-good", dp, amount=1_000),
    )
    [invocation] = shipments.run()
    assert len(invocation.event["Records"]) == 6 and len(invocation.deleted) == 6
    assert ledger(hokodo, dp)["protected_captures"] == 1_000
    dead = {d["body"]: d for d in shipments.dead_letters()}
    assert len(dead) == 5
    assert "Invalid JSON" in dead["{not json"]["reason"]
    by_event = {json.loads(body)["event_id"]: d for body, d in dead.items() if body != "{not json"}
    assert "amount: Input should be a valid integer" in by_event["s-float"]["reason"]
    assert "amount: Input should be greater than 0" in by_event["s-negative"]["reason"]
    assert "amount: Input should be a valid integer" in by_event["s-string"]["reason"]
    assert by_event["s-unknown"]["error_type"] == "DeferredPaymentNotFound" and "404" in by_event["s-unknown"]["reason"]


def test_the_api_key_never_reaches_the_logs(make_bundle, hokodo, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx and botocore included, at its most verbose
    shipments = make_bundle("shipments", POWERTOOLS_LOG_LEVEL="DEBUG")
    json_lines = io.StringIO()
    handler = logging.StreamHandler(json_lines)
    handler.setFormatter(batch_logger.registered_formatter)  # the JSON lines Lambda would ship to CloudWatch
    batch_logger.addHandler(handler)
    try:
        dp = hokodo.create_deferred_payment(100_000)["id"]
        hokodo.add_faults({"status": 503})
        shipments.send(shipment("ship-1", dp, amount=1_000), shipment("ship-2", "defpay-Unknown00000000000000", amount=1))
        shipments.run()
    finally:
        batch_logger.removeHandler(handler)
    assert '"message":"applied"' in json_lines.getvalue() and "dead-lettered" in json_lines.getvalue()
    assert API_KEY not in json_lines.getvalue() + caplog.text
