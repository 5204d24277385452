"""What operators see must be true: a message that was already applied (a duplicate in its batch, an SQS
redelivery, the same event published again, a redrive of an applied message) is logged as "already applied" and
counted as `<Kind>Duplicate`, never as applied again: the amounts in the EMF metrics the handlers print add up
exactly to the emulator's ledger. Real handlers, moto SQS and the emulator over HTTP."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections import Counter

from conftest import emf_metrics, ledger, message
from hokodo_postsale.runner.batch import logger as batch_logger

AMOUNTS = ("CaptureAmount", "CaptureRemainingAmount", "RefundAmount", "VoidAmount", "VoidRemainingAmount")


def redeliver(bundle, times: int = 2) -> None:
    """SQS at least once: the same received messages invoked `times` times (the first invocation's deletes lost),
    with a higher receive count each time, then deleted."""
    received = bundle.source.receive()
    assert received
    for count in range(1, times + 1):
        response = bundle.invoke(received, receive_counts=[count] * len(received))
        assert response == {"batchItemFailures": []}
    for m in received:
        bundle.sqs.delete_message(QueueUrl=bundle.queue_url, ReceiptHandle=m["ReceiptHandle"])


@contextlib.contextmanager
def batch_log_lines():
    """The batch runner's JSON lines, as Lambda would ship them to CloudWatch, parsed when the block ends."""
    buffer, lines = io.StringIO(), []
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(batch_logger.registered_formatter)
    batch_logger.addHandler(handler)
    try:
        yield lines
    finally:
        batch_logger.removeHandler(handler)
        lines.extend(json.loads(line) for line in buffer.getvalue().splitlines())


def play_with_duplicates(shipments, returns, cancellations, hokodo) -> list[str]:
    """Each event applied once, and delivered again in every way SQS and upstreams do; the deferred payments."""
    dp1, dp2, dp3 = (hokodo.create_deferred_payment(a)["id"] for a in (100_000, 50_000, 80_000))
    ship_1 = message("ship-1", dp1, amount=30_000)  # capture 30000, then void_remaining 70000 (the policy)
    ship_2 = message("ship-2", dp2, capture_remaining=True)  # capture_remaining 50000
    # One batch: ship-1 three times and ship-2 twice (three duplicates in the batch).
    shipments.send(ship_1, ship_1, ship_2, ship_1, ship_2)
    [first] = shipments.run()
    assert len(first.event["Records"]) == 5 and not first.failed
    # Across batches: the same event published again, and an SQS redelivery (twice) of one already applied.
    shipments.send(ship_1)
    shipments.run()
    shipments.send(ship_2)
    redeliver(shipments)

    returns.send(message("ret-1", dp1, amount=10_000), message("ret-2", dp2, amount=5_000))
    returns.run()
    # A redrive of a message that was applied (say SQS's redrive policy moved it after a lost delete).
    returns.sqs.send_message(QueueUrl=returns.dlq_url, MessageBody=json.dumps(message("ret-1", dp1, amount=10_000)))
    assert returns.redrive() == 1
    returns.run()

    cancel = message("cancel-1", dp3, amount=20_000)
    cancel_rest = message("cancel-2", dp3, remaining=True, after=[{"kind": "cancellation", "event_id": "cancel-1"}])
    cancellations.send(cancel, cancel, cancel_rest)
    cancellations.run()
    cancellations.send(cancel_rest)
    redeliver(cancellations, times=3)
    return [dp1, dp2, dp3]


def test_duplicates_redeliveries_and_redrives_are_counted_as_duplicates_and_their_amounts_never_twice(
    make_bundle, hokodo, capsys
):
    shipments = make_bundle("shipments", policy="partial_then_cancel")
    returns, cancellations = make_bundle("returns"), make_bundle("cancellations")
    with batch_log_lines() as lines:
        deferred_payments = play_with_duplicates(shipments, returns, cancellations, hokodo)

    metrics = emf_metrics(capsys.readouterr().out)
    ledgers = [ledger(hokodo, dp) for dp in deferred_payments]
    captured = sum(lg["protected_captures"] + lg["unprotected_captures"] + lg["refunds"] for lg in ledgers)
    refunded = sum(lg["refunds"] for lg in ledgers)
    voided = sum(lg["voided_authorisation"] for lg in ledgers)
    assert (captured, refunded, voided) == (80_000, 15_000, 150_000)
    assert metrics["CaptureAmount"] + metrics["CaptureRemainingAmount"] == captured
    assert metrics["RefundAmount"] == refunded
    assert metrics["VoidAmount"] + metrics["VoidRemainingAmount"] == voided
    assert {name: metrics[name] for name in AMOUNTS} == {
        "CaptureAmount": 30_000,
        "CaptureRemainingAmount": 50_000,
        "RefundAmount": 15_000,
        "VoidAmount": 20_000,
        "VoidRemainingAmount": 130_000,  # 70000 after ship-1, 60000 by cancel-2
    }
    # Applied once each; every other delivery a duplicate: 3 in the first batch, 1 published again, 2 redeliveries.
    assert (metrics["ShipmentApplied"], metrics["ShipmentDuplicate"]) == (2, 6)
    assert (metrics["ReturnApplied"], metrics["ReturnDuplicate"]) == (2, 1)
    assert (metrics["CancellationApplied"], metrics["CancellationDuplicate"]) == (2, 1 + 3)

    applied = Counter(line["event_id"] for line in lines if line["message"] == "applied")
    again = [line for line in lines if line["message"] == "already applied"]
    assert applied == {"ship-1": 1, "ship-2": 1, "ret-1": 1, "ret-2": 1, "cancel-1": 1, "cancel-2": 1}
    expected_again = {"ship-1": 2 + 1, "ship-2": 1 + 2, "ret-1": 1, "cancel-1": 1, "cancel-2": 3}
    assert Counter(line["event_id"] for line in again) == expected_again
    # An already applied message says what it applied the first time.
    ship_1_again = next(line for line in again if line["event_id"] == "ship-1")
    assert [(a["action"], a["amount"]) for a in ship_1_again["actions"]] == [("capture", 30_000), ("void_remaining", 70_000)]
    assert all(not r.get("replayed") for r in hokodo.requests())  # nothing was sent again, not even as a replay
