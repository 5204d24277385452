"""Powertools' idempotency records: configured once at cold start, and validated on the fields that define
the action only, so a later release that adds an optional field does not break in-flight redeliveries."""

from __future__ import annotations

import threading
from typing import ClassVar

from conftest import ledger, load_function, message, post_sale_calls
from hokodo_postsale.contracts.messages import ShipmentMessage
from hokodo_postsale.flows.shipments import KIND, apply_shipment
from hokodo_postsale.runner.batch import OrderedBatchProcessor, QueueFunction


def test_the_persistence_layer_is_configured_once_before_any_worker_thread(make_bundle, hokodo, monkeypatch):
    """Built and configured at the start of the first invocation, on its own thread (not at import: its DynamoDB
    client is the largest part of a cold import), before the batch's worker threads start."""
    shipments = make_bundle("shipments", policy="partial_leave_open")
    function = shipments.app.shipments
    assert "_persistence" not in vars(function)  # nothing built at import
    configured_on = []
    real_process = OrderedBatchProcessor.process

    def process(self):
        persistence = function._persistence  # noqa: SLF001
        configured_on.append(
            (persistence.configured, persistence.validation_key_jmespath is not None, threading.current_thread())
        )
        return real_process(self)

    monkeypatch.setattr(OrderedBatchProcessor, "process", process)
    dps = [hokodo.create_deferred_payment(10_000)["id"] for _ in range(10)]
    shipments.send(*(message(f"ship-{dp}", dp, amount=100) for dp in dps))
    [first] = shipments.run()  # the first invocation: ten records on ten worker threads
    assert configured_on == [(True, True, threading.main_thread())]
    assert function._persistence.function_name == "hokodo-postsale.shipment"  # noqa: SLF001
    assert len(first.deleted) == 10 and all(ledger(hokodo, dp)["protected_captures"] == 100 for dp in dps)


class ShipmentMessageOfALaterRelease(ShipmentMessage):
    """What a later release might add: an optional field with a default."""

    gift_wrap: bool = False
    ACTION_FIELDS: ClassVar[tuple[str, ...]] = ShipmentMessage.ACTION_FIELDS


def test_a_redelivery_after_a_release_that_adds_an_optional_field_is_not_other_content(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(message("ship-1", dp, amount=5_000))
    shipments.run()
    later_release = QueueFunction(kind=KIND, message_model=ShipmentMessageOfALaterRelease, apply=apply_shipment)
    shipments.send(message("ship-1", dp, amount=5_000), message("ship-1", dp, amount=5_000, after=[]))
    response = later_release.handle(shipments.source.event(shipments.source.receive()), shipments.context())
    assert response == {"batchItemFailures": []}
    assert len(post_sale_calls(hokodo, dp)) == 1 and shipments.dead_letters() == []


def test_other_content_under_the_same_event_id_is_still_refused(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    for metadata in ({"a": 1}, {"a": 2}):
        shipments.send(message("ship-1", dp, amount=5_000, metadata=metadata))
        shipments.run()
    [dead] = shipments.dead_letters()
    assert dead["error_type"] == "IdempotencyValidationError" and '"a": 2' in dead["body"]
    assert ledger(hokodo, dp)["protected_captures"] == 5_000


def test_each_function_loads_with_its_own_record_prefix(make_bundle):
    for kind, prefix in (("shipments", "shipment"), ("returns", "return"), ("cancellations", "cancellation")):
        make_bundle(kind)
        function = next(v for v in vars(load_function(kind)).values() if isinstance(v, QueueFunction))
        assert function._persistence.function_name == f"hokodo-postsale.{prefix}"  # noqa: SLF001 - built on first use
