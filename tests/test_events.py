"""The sample events in events/: what `python events/generate.py` writes, in Lambda's shapes, with bodies that
pass their contracts (and a correct md5OfBody), and taken as they are by the real handlers."""

from __future__ import annotations

import hashlib
import importlib.util
import json

import pytest
from conftest import ROOT, ledger, zero
from hokodo_postsale.contracts.document_drops import DocumentDrop, parse_notification
from hokodo_postsale.contracts.messages import CancellationMessage, ReturnMessage, ShipmentMessage, parse_message
from hokodo_postsale.events.notifications import deferred_payment_id
from hokodo_postsale.events.sync_requests import SyncRequest
from hokodo_postsale.events.tracking import applied_actions

spec = importlib.util.spec_from_file_location("generate_events", ROOT / "events" / "generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)
CONTRACTS = {"shipment": ShipmentMessage, "return": ReturnMessage, "cancellation": CancellationMessage}


@pytest.mark.parametrize("name", sorted(generate.SAMPLES))
def test_committed_sample_is_what_the_generator_writes(name):
    assert (ROOT / "events" / name).read_text() == generate.render(generate.SAMPLES[name]), "run: python events/generate.py"


@pytest.mark.parametrize("name", sorted(n for n, e in generate.SAMPLES.items() if "Records" in e and "body" in e["Records"][0]))
def test_sqs_samples_carry_their_bodys_md5_and_pass_their_contract(name):
    [record] = json.loads((ROOT / "events" / name).read_text())["Records"]
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324
    if name == "document-drop.json":
        drop = parse_notification(record["body"])
        assert (
            isinstance(drop, DocumentDrop)
            and drop.key == f"invoices/{generate.ORDER}/INV 1001.pdf"
            and drop.doc_type == "invoice"
        )
    elif name == "sync-request.json":
        request = SyncRequest.model_validate_json(record["body"])
        assert (request.deferred_payment_id, request.reason) == (generate.DP, "notification")
    else:
        message = parse_message(CONTRACTS[name.split("-")[0].split(".")[0]], record["body"])
        assert message.deferred_payment_id == generate.DP


def test_webhook_and_stream_samples_carry_what_their_functions_read():
    webhook = json.loads((ROOT / "events" / "webhook.json").read_text())
    assert deferred_payment_id(webhook["body"].encode()) == generate.DP
    [record] = json.loads((ROOT / "events" / "tracking.json").read_text())["Records"]
    assert [a[1:3] for a in applied_actions(record)] == [("shipment/ship-1001/capture", "capture")]


def test_the_shipment_sample_is_applied_by_the_real_handler(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    hokodo.create_deferred_payment(150_000, id=generate.DP)
    event = json.loads((ROOT / "events" / "shipment.json").read_text())
    assert shipments.app.lambda_handler(event, shipments.context()) == {"batchItemFailures": []}
    assert ledger(hokodo, generate.DP) == {**zero(), "authorisation": 50_000, "protected_captures": 100_000}


def test_the_sync_request_sample_is_synced_by_the_real_handler(notifications, hokodo):
    hokodo.create_deferred_payment(150_000, id=generate.DP)
    hokodo.clawback(generate.DP, 2_500)
    event = json.loads((ROOT / "events" / "sync-request.json").read_text())
    handler = notifications.sync_function.lambda_handler
    assert handler(event, notifications.context("sync", 30)) == {"batchItemFailures": []}
    [clawback] = notifications.published(settle=False)
    assert (clawback["detail-type"], clawback["detail"]["clawback_amount"]) == ("Deferred Payment Clawback", 2_500)
