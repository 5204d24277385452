"""The scheduled reconciliation: a lost notification never hides an expiry or a clawback, the bundle's own record
of what it applied (ledger tracking, fed by the idempotency table's stream) says what to watch, and drift between
that record and Hokodo's ledger is published once."""

from __future__ import annotations

import json
import warnings

import boto3
from conftest import REGION, message


def _open_list() -> list[str]:
    items = boto3.client("dynamodb", region_name=REGION).query(
        TableName="idempotency",
        IndexName="open-deferred-payments",
        KeyConditionExpression="#open = :one",
        ExpressionAttributeNames={"#open": "open"},
        ExpressionAttributeValues={":one": {"S": "1"}},
    )["Items"]
    return [i["id"]["S"].split("#", 1)[1] for i in items]


def sent(deferred_payment_id: str) -> dict:
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName="idempotency", Key={"id": {"S": f"hokodo-postsale.sync#{deferred_payment_id}"}}
    )["Item"]
    return {k: int(item[f"sent_{k}"]["N"]) for k in ("captured", "refunded", "voided") if f"sent_{k}" in item}


def test_a_lost_expiry_notification_is_published_by_the_reconciliation_once(make_bundle, notifications, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000, notification_url=notifications.url())["id"]
    hokodo.add_webhook_faults({"drop": True, "deferred_payment": dp}, {"drop": True, "deferred_payment": dp})
    shipments.send(message("ship-1", dp, amount=40_000))
    shipments.run()
    notifications.track()  # the capture, from the table's stream: the deferred payment is now watched
    assert dp in _open_list()
    hokodo.advance_clock(days=29)  # expires; both notifications (captured, expired) are lost
    assert notifications.published() == []
    report = notifications.reconcile()
    assert report["synced"] == 1 and report["published"]["Deferred Payment Expired"] == 1
    published = {e["detail-type"]: e["detail"] for e in notifications.published()}
    assert published["Deferred Payment Expired"]["expired_amount"] == 60_000
    assert published["Deferred Payment Expired"]["final_status"] == "captured"
    assert published["Deferred Payment Captured"]["amount"] == 40_000
    notifications.reconcile()
    assert notifications.published() == []


def test_a_final_deferred_payment_leaves_the_watch_list(make_bundle, notifications, hokodo):
    cancellations = make_bundle("cancellations")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    cancellations.send(message("cancel-all", dp, remaining=True))
    cancellations.run()
    notifications.track()
    assert dp in _open_list()
    notifications.reconcile()  # nothing left to expire, nothing captured to claw back
    assert dp not in _open_list()
    assert [e["detail-type"] for e in notifications.published()] == ["Deferred Payment Voided"]


def test_every_applied_action_is_tracked_once_whatever_the_stream_repeats(make_bundle, notifications, hokodo):
    shipments = make_bundle("shipments", policy="partial_then_cancel")
    returns = make_bundle("returns")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(message("ship-1", dp, amount=30_000))  # a capture, then a void of the rest
    shipments.run()
    returns.send(message("ret-1", dp, amount=5_000))
    returns.run()
    notifications.track()
    assert sent(dp) == {"captured": 30_000, "refunded": 5_000, "voided": 70_000}
    notifications.stream._iterators.clear()  # the stream delivered again from its start
    notifications.track()
    assert sent(dp) == {"captured": 30_000, "refunded": 5_000, "voided": 70_000}


def test_drift_between_what_the_bundle_sent_and_hokodos_ledger_is_published_once(make_bundle, notifications, hokodo, emulator):
    import httpx
    from conftest import API_KEY

    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(message("ship-1", dp, amount=30_000))
    shipments.run()
    notifications.track()
    # someone else (the merchant's dashboard, another integration) captures 5000 on the same deferred payment
    httpx.post(
        f"{emulator.api_url}payment/deferred_payments/{dp}/capture",
        json={"amount": 5_000},
        headers={"Authorization": f"Token {API_KEY}"},
    ).raise_for_status()
    notifications.reconcile()
    [drift] = [e["detail"] for e in notifications.published() if e["detail-type"] == "Deferred Payment Drift Detected"]
    assert drift["sent_by_bundle"]["captured"] == 30_000 and drift["at_hokodo"]["captured"] == 35_000
    assert drift["difference"] == {"captured": 5_000, "refunded": 0, "voided": 0}
    notifications.reconcile()
    assert [e for e in notifications.published() if e["detail-type"] == "Deferred Payment Drift Detected"] == []


def test_a_run_with_nothing_to_watch_still_publishes_its_metrics_and_warns_of_nothing(notifications, capsys):
    """Powertools warns "No application metrics to publish" when a handler flushes none: every run says what it did."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert notifications.reconcile()["watched"] == 0
    [blob] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert {k: blob[k] for k in ("ReconciliationWatched", "ReconciliationSynced", "ReconciliationFailed")} == {
        "ReconciliationWatched": [0.0],
        "ReconciliationSynced": [0.0],
        "ReconciliationFailed": [0.0],
    }
