"""Hokodo's notifications become trusted EventBridge events: real API Gateway v2 events (through a local HTTP
route) to the real handler, which acknowledges a notification once its deferred payment is on the sync queue; the
sync function reads it back and publishes to moto's EventBridge (a rule to a queue to read back what was published);
the emulator sends its notifications as Hokodo does, read the guide's way and the sparsest way public evidence allows."""

from __future__ import annotations

import threading

import boto3
import pytest
from conftest import PROFILES, REGION, message
from hokodo_postsale.events.facts import fact_id
from notifications_support import payload_of

pytestmark = pytest.mark.parametrize("profile", PROFILES, indirect=True)


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
    assert all(w["status"] == 202 for w in deliveries(hokodo, dp, 1 if refunded is None else 3))
    published = by_type(notifications.published())
    [expired] = published["Deferred Payment Expired"]
    remaining = 100_000 if refunded is None else 70_000
    assert (expired["expired_amount"], expired["final_status"], expired["deferred_payment_id"]) == (remaining, final_status, dp)
    assert (
        expired["currency"] == "GBP"
        and expired["order_id"].startswith("order-")
        and expired["id"] == fact_id(dp, f"expired\x1f{remaining}")
    )
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
    assert clawback["id"] == fact_id(dp, "clawed_back\x1f1250") and clawback["total_after"] == 1_250


def test_a_status_change_seen_since_the_last_sync_is_published_with_old_and_new_status(make_bundle, notifications, hokodo):
    dp = hokodo.create_deferred_payment(100_000, notification_url=notifications.url())["id"]
    assert notifications.post(payload_of(hokodo, dp)).status_code == 202  # first sight: its status is recorded
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
    assert [w["status"] for w in deliveries(hokodo, dp, 2)] == [202, 202]
    assert notifications.post(payload_of(hokodo, dp)).status_code == 202  # and once more, by hand
    events = notifications.published()
    assert [e["detail-type"] for e in events] == ["Deferred Payment Clawback"]


def test_concurrent_syncs_of_one_deferred_payment_publish_each_fact_once(notifications, hokodo):
    dp = hokodo.create_deferred_payment(50_000)["id"]
    for amount in (100, 200, 300):
        hokodo.clawback(dp, amount)
    payload = payload_of(hokodo, dp)
    assert {notifications.post(payload).status_code for _ in range(4)} == {202}
    # four sync functions take the four requests at once (Lambda scales a queue's consumers out)
    pollers = [
        threading.Thread(target=notifications.syncs.poll_once, args=(notifications.context("sync", 30),)) for _ in range(4)
    ]
    for poller in pollers:
        poller.start()
    for poller in pollers:
        poller.join()
    events = notifications.published()
    ids = [e["detail"]["id"] for e in events]
    assert len(ids) == len(set(ids)) and sum(e["detail"]["amount"] for e in events) == 600  # each clawed back once
    assert max(e["detail"]["total_after"] for e in events) == 600


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
    assert notifications.post(forged).status_code == 202
    assert notifications.published() == []  # the API shows an accepted deferred payment with no events


def test_a_notification_for_a_deferred_payment_hokodo_does_not_know_is_dead_lettered_and_not_watched(notifications, hokodo):
    unknown = {"data": {"order": {"deferred_payment": {"id": "defpay-NotKnownToHokodo0000000"}}}}
    assert notifications.post(unknown).status_code == 202
    assert notifications.published() == []
    [dead] = notifications.dead_letters()
    assert dead["error_type"] == "DeferredPaymentNotFound" and "defpay-NotKnownToHokodo0000000" in dead["reason"]
    assert "taken off the reconciliation's list" in dead["reason"]
    assert notifications.reconcile() == {"watched": 0, "queued": 0}


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
    assert notifications.post(payload_of(hokodo, dp), secret=old).status_code == 202
    assert notifications.post(payload_of(hokodo, dp), secret="the-new-secret-0123456789").status_code == 202
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
def test_bad_bodies_are_refused_with_4xx_and_publish_nothing(notifications, hokodo, raw, status):
    assert notifications.post(None, raw=raw).status_code == status
    assert notifications.published() == [] and notifications.in_flight() == 0


def test_put_events_failing_for_one_entry_retries_that_entry_only(notifications, hokodo):
    """moto cannot fail one entry of a PutEvents: botocore's own hooks hold the first entry back once and report it
    failed, as EventBridge does (FailedEntryCount, ErrorCode)."""
    held = []

    def hold_first(params, **_):
        if not held:
            held.append(params["Entries"].pop(0))

    def report_it(parsed, **_):
        if len(held) == 1:
            parsed["Entries"].insert(0, {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            parsed["FailedEntryCount"] = 1
            held.append("reported")

    hooks = default_session_events()
    hooks.register("before-parameter-build.events.PutEvents", hold_first)
    hooks.register("after-call.events.PutEvents", report_it)
    dp = hokodo.create_deferred_payment(50_000)["id"]
    hokodo.clawback(dp, 100)
    try:
        assert notifications.post(payload_of(hokodo, dp)).status_code == 202
        events = notifications.published()
    finally:
        hooks.unregister("before-parameter-build.events.PutEvents", hold_first)
        hooks.unregister("after-call.events.PutEvents", report_it)
    assert [e["detail"]["clawback_amount"] for e in events] == [100] and len(held) == 2


def test_hokodo_unreadable_for_longer_than_its_notification_retries_publishes_once_after_recovery(notifications, hokodo):
    """Hokodo retries a failed notification for seconds at most (3 times, at 0, 2 and 4 s in its older docs): the
    notification is answered 2xx the first time, and the sync queue retries the read for as long as it fails."""
    dp = hokodo.create_deferred_payment(50_000, notification_url=notifications.url())["id"]
    hokodo.add_faults({"status": 503, "path_contains": dp, "count": 6})  # 3 syncs of 2 attempts each
    hokodo.clawback(dp, 900)
    [delivery] = deliveries(hokodo, dp, 1)
    assert delivery["status"] == 202 and delivery["attempt"] == 1
    events = notifications.published()
    assert [e["detail"]["clawback_amount"] for e in events] == [900]
    assert [r["status"] for r in hokodo.requests() if r["method"] == "GET"] == [503] * 6 + [200]
    assert notifications.dead_letters() == []


def test_a_notification_the_sync_could_not_read_is_published_by_the_reconciliation(notifications, hokodo, monkeypatch):
    """A deferred payment the bundle never acted on joins the watch list when its notification is accepted: even when
    its sync requests are parked (Hokodo unreadable through every receive), the reconciliation publishes its expiry."""
    dp = hokodo.create_deferred_payment(50_000, notification_url=notifications.url())["id"]
    hokodo.add_faults({"status": 503, "path_contains": dp, "count": 10})  # 5 receives of 2 attempts
    hokodo.advance_clock(days=29)
    deliveries(hokodo, dp, 1)
    assert notifications.published() == []
    [parked] = notifications.dead_letters()
    assert parked["error_type"] == "HokodoUnavailable" and "last allowed receive" in parked["reason"]
    assert notifications.reconcile() == {"watched": 1, "queued": 1}
    [expired] = notifications.published()
    assert expired["detail"]["expired_amount"] == 50_000 and expired["detail"]["final_status"] == "cancelled"
    notifications.reconcile()
    assert notifications.published() == []  # and it left the watch list: nothing more can happen to it
    assert notifications.reconcile() == {"watched": 0, "queued": 0}


def test_a_notification_is_not_acknowledged_while_the_sync_queue_refuses(notifications, hokodo):
    """The sync queue refuses every attempt of the first notification's request (botocore's hooks, on the client the
    webhooks function builds after they are registered, which keeps them: they refuse three times, then let through)."""
    refused = []

    def refuse(**_):
        if len(refused) < 3:
            refused.append(True)
            raise RuntimeError("SQS unavailable")

    hooks = default_session_events()
    hooks.register("before-call.sqs.SendMessageBatch", refuse)
    dp = hokodo.create_deferred_payment(50_000)["id"]
    hokodo.clawback(dp, 400)
    try:
        answer = notifications.post(payload_of(hokodo, dp))
    finally:
        hooks.unregister("before-call.sqs.SendMessageBatch", refuse)
    assert (answer.status_code, answer.json()) == (503, {"message": "Service Unavailable: try again later"})
    assert notifications.post(payload_of(hokodo, dp)).status_code == 202  # Hokodo's retry
    assert [e["detail"]["clawback_amount"] for e in notifications.published()] == [400]


def default_session_events():
    """The hooks of the session boto3.client(...) builds the functions' clients from."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session(region_name=REGION)
    return boto3.DEFAULT_SESSION.events
