"""No record reaches a DLQ without a reason, and every DLQ copy is a message SQS accepts: at most ten
attributes, Binary ones kept, body plus attributes within 1 MiB, the reason shortened (never the body)."""

from __future__ import annotations

import base64
import json
import time

from conftest import API_KEY, ledger, message

MIB = 1024 * 1024


def attribute_bytes(attributes: dict) -> int:
    total = 0
    for name, value in attributes.items():
        data = value["StringValue"].encode() if "StringValue" in value else value["BinaryValue"]
        total += len(name.encode()) + len(value["DataType"].encode()) + len(data)
    return total


def test_a_record_held_back_on_its_last_receive_is_parked_naming_the_blocking_event(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open", max_receive_count=3, HOKODO_MAX_ATTEMPTS="1")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"status": 503, "path_contains": dp})
    shipments.send(message("ship-a", dp, amount=1_000), message("ship-b", dp, amount=2_000))
    received = sorted(shipments.source.receive(), key=lambda m: m["Body"])  # ship-a first: it blocks ship-b
    # ship-b was received twice before (e.g. behind other failures); this is its last allowed receive
    response = shipments.invoke(received, receive_counts=[1, 3])
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == [received[0]["MessageId"]]
    [parked] = shipments.dead_letters()
    assert json.loads(parked["body"])["event_id"] == "ship-b" and parked["error_type"] == "HeldBack"
    assert "still failing on its last allowed receive (3 of MaxReceiveCount 3)" in parked["reason"]
    assert "held back behind event ship-a" in parked["reason"] and "503" in parked["reason"]
    assert ledger(hokodo, dp)["protected_captures"] == 0


def test_a_record_still_failing_on_its_last_receive_is_parked_with_its_last_error(make_bundle, hokodo):
    shipments = make_bundle("shipments", max_receive_count=2, HOKODO_MAX_ATTEMPTS="1")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"status": 503, "path_contains": dp}, {"status": 502, "path_contains": dp})
    shipments.send(message("ship-1", dp, amount=1_000))
    shipments.run()
    time.sleep(1.05)
    [last] = shipments.run()
    assert last.deleted  # parked by the function, not left for SQS's redrive policy
    [parked] = shipments.dead_letters()
    assert parked["error_type"] == "HokodoUnavailable"
    assert "still failing on its last allowed receive (2 of MaxReceiveCount 2)" in parked["reason"] and "502" in parked["reason"]
    assert parked["attributes"]["hokodo_postsale.receive_count"]["StringValue"] == "2"


def upstream_attributes(count: int) -> dict:
    attributes = {f"upstream-{i}": {"DataType": "String", "StringValue": f"value {i}"} for i in range(count - 2)}
    attributes["trace"] = {"DataType": "Binary", "BinaryValue": b"\x00\x01binary\xff"}
    attributes["priority"] = {"DataType": "Number", "StringValue": "7"}
    return attributes


def test_upstream_attributes_are_kept_as_they_are_when_they_fit(make_bundle):
    shipments = make_bundle("shipments")
    shipments.sqs.send_message(QueueUrl=shipments.queue_url, MessageBody="{not json", MessageAttributes=upstream_attributes(5))
    shipments.run()
    [dead] = shipments.dead_letters()
    attributes = dead["attributes"]
    assert len(attributes) == 10 and attributes["trace"]["BinaryValue"] == b"\x00\x01binary\xff"
    assert attributes["priority"] == {"DataType": "Number", "StringValue": "7"}


def test_more_than_five_upstream_attributes_are_packed_into_one_so_the_copy_has_at_most_ten(make_bundle):
    shipments = make_bundle("shipments")
    sent = upstream_attributes(6)
    shipments.sqs.send_message(QueueUrl=shipments.queue_url, MessageBody="{not json", MessageAttributes=sent)
    shipments.run()
    [dead] = shipments.dead_letters()
    assert len(dead["attributes"]) == 6 and "Invalid JSON" in dead["reason"]
    packed = json.loads(dead["attributes"]["hokodo_postsale.upstream_attributes"]["StringValue"])
    assert set(packed) == set(sent)
    assert base64.b64decode(packed["trace"]["BinaryValue"]) == b"\x00\x01binary\xff"
    assert packed["upstream-0"] == {"DataType": "String", "StringValue": "value 0"}


def test_a_near_one_mib_body_is_copied_whole_with_a_shortened_reason_within_one_mib(make_bundle):
    shipments = make_bundle("shipments")
    upstream = upstream_attributes(3)
    body = "{" + "x" * (MIB - attribute_bytes(upstream) - 150)  # not JSON; with its attributes, 150 bytes short of 1 MiB
    shipments.sqs.send_message(QueueUrl=shipments.queue_url, MessageBody=body, MessageAttributes=upstream)
    shipments.run()
    [dead] = shipments.dead_letters()
    assert dead["body"] == body
    assert len(body.encode()) + attribute_bytes(dead["attributes"]) <= MIB
    assert dead["reason"].startswith("[the upstream's message attributes were dropped") and dead["reason"].endswith("…")
    assert dead["error_type"] == "InvalidMessage"


def test_the_reason_carries_hokodos_message_and_nothing_of_the_request(make_bundle, hokodo):
    cancellations = make_bundle("cancellations")
    dp = hokodo.create_deferred_payment(10_000)["id"]
    cancellations.send(message("cancel-1", dp, amount=10_001, metadata={"note": "do-not-echo"}))
    cancellations.run()
    [dead] = cancellations.dead_letters()
    assert "Void amount exceeds the remaining authorisation (10000)" in dead["reason"]
    everything = json.dumps({k: v.get("StringValue") for k, v in dead["attributes"].items()})
    assert API_KEY not in everything and "Authorization" not in everything and "Token" not in everything
    assert "do-not-echo" not in dead["reason"]
