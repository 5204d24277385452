"""Each deferred payment's records keep their order in a batch; one failure holds back the rest of its group only."""

from __future__ import annotations

import time

import pytest
from conftest import ledger, message


@pytest.mark.parametrize("fifo", [False, True], ids=["standard", "fifo"])
def test_a_failed_record_holds_back_later_records_of_its_deferred_payment_only(make_bundle, hokodo, fifo):
    shipments = make_bundle("shipments", fifo=fifo, policy="partial_leave_open", HOKODO_MAX_ATTEMPTS="1")
    held, other = hokodo.create_deferred_payment(100_000)["id"], hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"status": 503, "path_contains": held})
    shipments.send(
        message("a-1", held, amount=10_000), message("b-1", other, amount=1_000), message("a-2", held, capture_remaining=True)
    )
    [first] = shipments.run()
    assert len(first.event["Records"]) == 3 and len(first.failed) == 2 and len(first.deleted) == 1
    assert ledger(hokodo, held)["protected_captures"] == 0 and ledger(hokodo, other)["protected_captures"] == 1_000
    time.sleep(1.1)
    shipments.run()
    # both held-back records are applied on redelivery (in which order is SQS's business: moto 5.2.5 redelivers
    # a FIFO group out of order after a visibility timeout, which real SQS FIFO does not)
    applied = [r for r in hokodo.requests() if held in r["path"] and r["status"] == 201]
    assert sorted(r["path"].rsplit("/", 1)[1] for r in applied) == ["capture", "capture_remaining"]
    assert shipments.dead_letters() == []
