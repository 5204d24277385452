"""Hokodo's notifications become trusted EventBridge events: real API Gateway v2 events (through a local HTTP
route) to the real handler, moto's EventBridge with a rule to a queue to read back what was published, and the
emulator sending its notifications as Hokodo does."""

from __future__ import annotations

import threading

import pytest
from conftest import message
from notifications_support import payload_of


def deliveries(hokodo, dp: str, count: int) -> list[dict]:
    return hokodo.wait_for_webhooks(count, timeout=10, where=lambda w: w["deferred_payment"] == dp)


def by_type(events: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for event in events:
        found.setdefault(event["detail-type"], []).append(event["detail"])
    return found


@pytest.mark.parametrize(
    ("refunded", "final_status"),
    [(None, "cancelled"), (30_000, "reversed"), (10_000, "captured")],
    ids=["cancelled", "reversed", "captured"],
)
def test_an_expiry_is_published_with_its_amount_and_final_status(make_bundle, notifications, hokodo, refunded, final_status):
    dp = hokodo.create_deferred_payment(100_000, notification_url=notifications.url())["id"]
    if refunded is not None:  # captured by the bundle, then partly or wholly refunded
        shipments, returns = make_bundle("shipments", policy="partial_leave_open"), make_bundle("returns")
        shipments.send(message("ship-1", dp, amount=30_000))
        shipments.run()
        returns.send(message("ret-1", dp, amount=refunded))
        returns.run()
    hokodo.advance_clock(days=29)
    assert all(w["status"] == 200 for w in deliveries(hokodo, dp, 1 if refunded is None else 3))
    published = by_type(notifications.published())
    [expired] = published["Deferred Payment Expired"]
    remaining = 100_000 if refunded is None else 70_000
    assert (expired["expired_amount"], expired["final_status"], expired["deferred_payment_id"]) == (remaining, final_status, dp)
    assert expired["currency"] == "GBP" and expired["order_id"].startswith("order-") and expired["occurred_at"]
    assert expired["deferred_payment_number"].startswith("P-") and type(expired["expired_amount"]) is int
    if refunded is not None:
        assert [c["amount"] for c in published["Deferred Payment Captured"]] == [30_000]
        assert [r["amount"] for r in published["Deferred Payment Refunded"]] == [refunded]


def test_a_clawback_is_published(notifications, hokodo):
    dp = hokodo.create_deferred_payment(50_000, notification_url=notifications.url())["id"]
    hokodo.clawback(dp, 1_250)
    deliveries(hokodo, dp, 1)
    [clawback] = by_type(notifications.published())["Deferred Payment Clawback"]
    assert clawback["clawback_amount"] == 1_250 and clawback["deferred_payment_id"] == dp


def test_a_status_change_seen_since_the_last_sync_is_published_with_old_and_new_status(make_bundle, notifications, hokodo):
    dp = hokodo.create_deferred_payment(100_000, notification_url=notifications.url())["id"]
    assert notifications.post(payload_of(hokodo, dp)).status_code == 200  # first sight: its status is recorded
    assert notifications.published() == []
    shipments = make_bundle("shipments", policy="partial_leave_open")
    shipments.send(message("ship-1", dp, amount=20_000))
    shipments.run()
    deliveries(hokodo, dp, 1)
    published = by_type(notifications.published())
    [change] = published["Deferred Payment Status Changed"]
    assert (change["old_status"], change["new_status"]) == ("accepted", "captured")
    assert [c["amount"] for c in published["Deferred Payment Captured"]] == [20_000]


def test_the_same_notification_twice_publishes_once(notifications, hokodo):
    dp = hokodo.create_deferred_payment(50_000, notification_url=notifications.url())["id"]
    hokodo.add_webhook_faults({"duplicate": True, "deferred_payment": dp})
    hokodo.clawback(dp, 700)
    assert [w["status"] for w in deliveries(hokodo, dp, 2)] == [200, 200]
    assert notifications.post(payload_of(hokodo, dp)).status_code == 200  # and once more, by hand
    events = notifications.published()
    assert [e["detail-type"] for e in events] == ["Deferred Payment Clawback"]


def test_two_concurrent_notifications_for_one_deferred_payment_publish_each_fact_once(notifications, hokodo):
    dp = hokodo.create_deferred_payment(50_000)["id"]
    for amount in (100, 200, 300):
        hokodo.clawback(dp, amount)
    payload, answers = payload_of(hokodo, dp), []
    posts = [threading.Thread(target=lambda: answers.append(notifications.post(payload).status_code)) for _ in range(4)]
    for post in posts:
        post.start()
    for post in posts:
        post.join()
    assert set(answers) <= {200, 503} and 200 in answers
    events = notifications.published()
    ids = [e["detail"]["id"] for e in events]
    assert len(ids) == 3 == len(set(ids)) and sorted(e["detail"]["clawback_amount"] for e in events) == [100, 200, 300]


def test_a_forged_notification_publishes_only_what_the_api_shows(notifications, hokodo):
    dp = hokodo.create_deferred_payment(50_000)
    forged = {
        "created": "2030-01-01T00:00:00Z",
        "data": {
            "order": {
                "id": dp["order"],
                "status": "cancelled",
                "deferred_payment": {
                    "id": dp["id"],
                    "status": "cancelled",
                    "expired_authorisation": 50_000,
                    "events": [{"type": "expiration", "amount": 50_000}],
                },
            }
        },
    }
    assert notifications.post(forged).status_code == 200
    assert notifications.published() == []  # the API shows an accepted deferred payment with no events
    unknown = {"data": {"order": {"deferred_payment": {"id": "defpay-NotKnownToHokodo0000000"}}}}
    assert notifications.post(unknown).status_code == 200 and notifications.published() == []


def test_a_wrong_or_missing_secret_looks_like_an_unknown_route(notifications, hokodo):
    dp = hokodo.create_deferred_payment(50_000)["id"]
    hokodo.clawback(dp, 100)
    unknown_route = notifications.post(payload_of(hokodo, dp), secret="x/unknown/route")
    for secret in ("wrong", notifications.current[:-1], notifications.current + "x", ""):
        answer = notifications.post(payload_of(hokodo, dp), secret=secret)
        assert (
            (answer.status_code, answer.json())
            == (unknown_route.status_code, unknown_route.json())
            == (404, {"message": "Not Found"})
        )
    assert notifications.published() == []


def test_a_rotated_secret_accepts_the_previous_until_it_is_removed(notifications, hokodo):
    dp = hokodo.create_deferred_payment(50_000)["id"]
    old = notifications.current
    notifications.rotate(current="the-new-secret-0123456789", previous=old)
    assert notifications.post(payload_of(hokodo, dp), secret=old).status_code == 200
    assert notifications.post(payload_of(hokodo, dp), secret="the-new-secret-0123456789").status_code == 200
    notifications.rotate(current="the-new-secret-0123456789", previous="")
    assert notifications.post(payload_of(hokodo, dp), secret=old).status_code == 404


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"x" * (64 * 1024 + 1), 413),
        (b"{not json", 400),
        (b'{"data": {"order": {"id": "order-1"}}}', 400),
        (b'{"data": {"order": {"deferred_payment": {"id": "../../etc"}}}}', 400),
        (b'{"data": {"order": {"deferred_payment": {"id": "defpay-a", "id": "defpay-b"}}}}', 400),
        (b"[1, 2, 3]", 400),
    ],
    ids=["oversized", "not-json", "no-deferred-payment", "bad-id", "duplicate-keys", "not-an-object"],
)
def test_bad_bodies_are_refused_with_4xx_and_publish_nothing(notifications, raw, status):
    assert notifications.post(None, raw=raw).status_code == status
    assert notifications.published() == []


def test_put_events_failing_for_one_entry_retries_that_entry_only(notifications, hokodo):
    """moto cannot fail one entry of a PutEvents: botocore's own hooks hold the first entry back once and report it
    failed, as EventBridge does (FailedEntryCount, ErrorCode)."""
    import boto3

    held = []

    def hold_first(params, **_):
        if not held:
            held.append(params["Entries"].pop(0))

    def report_it(parsed, **_):
        if len(held) == 1:
            parsed["Entries"].insert(0, {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            parsed["FailedEntryCount"] = 1
            held.append("reported")

    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    hooks = boto3.DEFAULT_SESSION.events  # the session boto3.client("events") builds the bus's client from
    hooks.register("before-parameter-build.events.PutEvents", hold_first)
    hooks.register("after-call.events.PutEvents", report_it)
    dp = hokodo.create_deferred_payment(50_000)["id"]
    hokodo.clawback(dp, 100)
    hokodo.clawback(dp, 200)
    try:
        assert notifications.post(payload_of(hokodo, dp)).status_code == 200
    finally:
        hooks.unregister("before-parameter-build.events.PutEvents", hold_first)
        hooks.unregister("after-call.events.PutEvents", report_it)
    amounts = sorted(e["detail"]["clawback_amount"] for e in notifications.published())
    assert amounts == [100, 200] and len(held) == 2


def test_hokodo_unavailable_answers_503_and_the_retry_publishes_once(notifications, hokodo):
    dp = hokodo.create_deferred_payment(50_000, notification_url=notifications.url())["id"]
    hokodo.add_faults({"status": 503, "path_contains": dp, "count": 2})
    hokodo.clawback(dp, 900)
    [delivery] = deliveries(hokodo, dp, 1)
    assert delivery["status"] == 503 and notifications.published() == []
    assert notifications.post(payload_of(hokodo, dp)).status_code == 200  # Hokodo's retry
    assert notifications.post(payload_of(hokodo, dp)).status_code == 200
    assert [e["detail"]["clawback_amount"] for e in notifications.published()] == [900]
