"""The scheduled reconciliation: a lost notification never hides an expiry or a clawback, the bundle's own record
of what it applied (ledger tracking, fed by the idempotency table's stream) says what to watch, and drift between
that record and Hokodo's ledger is published once. The reconciliation puts every watched deferred payment on the
sync queue; the sync function publishes."""

from __future__ import annotations

import warnings

import boto3
import pytest
from conftest import PROFILES, REGION, capture_elsewhere, emf_metrics, message

pytestmark = pytest.mark.parametrize("profile", PROFILES, indirect=True)


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
    # the capture, from the table's stream: the deferred payment is now watched, and the capture on the bus
    assert [e["detail"]["amount"] for e in notifications.published()] == [40_000]
    assert dp in _open_list()
    hokodo.advance_clock(days=29)  # expires; its notification is lost
    assert notifications.published() == []
    assert notifications.reconcile() == {"watched": 1, "queued": 1}
    [expired] = notifications.published()
    assert expired["detail"]["expired_amount"] == 60_000 and expired["detail"]["final_status"] == "captured"
    notifications.reconcile()
    assert notifications.published() == []


def test_a_final_deferred_payment_leaves_the_watch_list(make_bundle, notifications, hokodo):
    cancellations = make_bundle("cancellations")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    cancellations.send(message("cancel-all", dp, remaining=True))
    cancellations.run()
    notifications.track()
    assert dp in _open_list()
    assert [e["detail-type"] for e in notifications.published()] == ["Deferred Payment Voided"]
    assert dp not in _open_list()  # the sync after the void: nothing left to expire, nothing captured to claw back
    assert notifications.reconcile() == {"watched": 0, "queued": 0}


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
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send(message("ship-1", dp, amount=30_000))
    shipments.run()
    notifications.track()
    # someone else (the merchant's dashboard, another integration) captures 5000 on the same deferred payment
    capture_elsewhere(emulator, dp, 5_000)
    notifications.reconcile()
    [drift] = [e["detail"] for e in notifications.published() if e["detail-type"] == "Deferred Payment Drift Detected"]
    assert drift["sent_by_bundle"]["captured"] == 30_000 and drift["at_hokodo"]["captured"] == 35_000
    assert drift["difference"] == {"captured": 5_000, "refunded": 0, "voided": 0}
    notifications.reconcile()
    assert [e for e in notifications.published() if e["detail-type"] == "Deferred Payment Drift Detected"] == []


def test_a_run_with_nothing_to_watch_still_publishes_its_metrics_and_warns_of_nothing(notifications, hokodo, capsys):
    """Powertools warns "No application metrics to publish" when a handler flushes none: every run says what it did."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert notifications.reconcile() == {"watched": 0, "queued": 0}
    metrics = emf_metrics(capsys.readouterr().out)
    assert "OpenDeferredPayments" in metrics and metrics["OpenDeferredPayments"] == 0
