"""Expiry via the controllable clock, clawback, and webhook delivery with retries."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from hokodo_emulator import Emulator
from hokodo_emulator.admin import AdminClient

from .support import API_KEY, make_api


def act(api, dp, action, amount=None):
    body = {} if amount is None else {"amount": amount}
    r = api.post(f"payment/deferred_payments/{dp['id']}/{action}", json=body)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def hooked_dp(admin, receiver):
    return admin.create_deferred_payment(10000, notification_url=receiver.url)


@pytest.mark.parametrize(
    ("actions", "final", "expired"),
    [
        ([], "cancelled", 10000),
        ([("void", 3000)], "cancelled", 7000),
        ([("capture", 4000), ("refund", 4000)], "reversed", 6000),
        ([("capture", 4000), ("refund", 1000)], "captured", 6000),
    ],
)
def test_expiry_sets_the_guides_final_status(api, admin, receiver, hooked_dp, actions, final, expired):  # noqa: PLR0917
    for action, amount in actions:
        act(api, hooked_dp, action, amount)
    before = len(receiver.wait(1 if any(a == "capture" for a, _ in actions) else 0, timeout=1))
    admin.advance_clock(days=27)
    assert api.get(f"payment/deferred_payments/{hooked_dp['id']}").json()["expired_authorisation"] == 0

    admin.advance_clock(days=1, seconds=1)
    body = api.get(f"payment/deferred_payments/{hooked_dp['id']}").json()
    assert body["status"] == final
    assert (body["authorisation"], body["expired_authorisation"]) == (0, expired)
    last = body["events"][-1]
    assert (last["type"], last["amount"]) == ("expiration", expired)
    assert last["changes"]["authorisation"] == -expired
    assert last["changes"]["expired_authorisation"] == expired
    assert len(body["events"]) == len(actions) + 1

    hooks = receiver.wait(before + 1)
    assert len(hooks) == before + 1
    payload = hooks[-1]
    assert set(payload) == {"created", "data"}
    order = payload["data"]["order"]
    assert (order["id"], order["status"]) == (hooked_dp["order"], final)
    assert order["deferred_payment"]["id"] == hooked_dp["id"]
    assert order["deferred_payment"]["events"][-1]["type"] == "expiration"

    admin.advance_clock(days=30)  # expires only once
    assert len(api.get(f"payment/deferred_payments/{hooked_dp['id']}").json()["events"]) == len(actions) + 1


def test_fully_captured_then_refunded_becomes_reversed_without_expiration_event(api, admin, receiver, hooked_dp):
    act(api, hooked_dp, "capture_remaining")
    act(api, hooked_dp, "refund", 10000)
    admin.advance_clock(days=29)
    body = admin.get_deferred_payment(hooked_dp["id"])
    assert body["status"] == "reversed"
    assert [e["type"] for e in body["events"]] == ["capture", "refund"]
    assert [h["data"]["order"]["status"] for h in receiver.wait(2)] == ["captured", "reversed"]


def test_expiry_is_also_checked_lazily_on_access(api, admin):
    dp = admin.create_deferred_payment(500, expiry_days=0.2 / 86400)  # 0.2 s
    time.sleep(0.3)
    body = api.get(f"payment/deferred_payments/{dp['id']}").json()
    assert (body["status"], body["expired_authorisation"]) == ("cancelled", 500)


def test_expiry_can_be_disabled(api, admin):
    dp = admin.create_deferred_payment(500, expiry_days=0)
    assert dp["expires_at"] is None
    admin.advance_clock(days=400)
    assert admin.get_deferred_payment(dp["id"])["status"] == "accepted"


def test_capture_after_expiry_is_unprotected(api, admin, hooked_dp):
    admin.advance_clock(days=28, seconds=1)
    event = act(api, hooked_dp, "capture", 2000)
    assert (event["changes"]["protected_captures"], event["changes"]["unprotected_captures"]) == (0, 2000)
    assert admin.get_deferred_payment(hooked_dp["id"])["status"] == "captured"


def test_status_change_webhooks_only_on_change(api, admin, receiver, hooked_dp):
    act(api, hooked_dp, "capture", 1000)
    act(api, hooked_dp, "capture", 1000)  # still "captured": no webhook
    act(api, hooked_dp, "refund", 500)
    hooks = receiver.wait(1)
    time.sleep(0.1)
    assert len(receiver.received) == 1
    assert hooks[0]["data"]["order"]["status"] == "captured"
    assert hooks[0]["data"]["order"]["deferred_payment"]["protected_captures"] == 1000


def test_voiding_everything_sends_voided(api, receiver, hooked_dp):
    act(api, hooked_dp, "void_remaining")
    assert receiver.wait(1)[0]["data"]["order"]["status"] == "voided"


def test_clawback_records_event_keeps_status_and_notifies(api, admin, receiver, hooked_dp):
    act(api, hooked_dp, "capture", 10000)
    event = admin.clawback(hooked_dp["id"], 700)
    assert event["type"] == "clawback" and event["amount"] == 700
    assert event["changes"] == {
        "authorisation": 0,
        "protected_captures": 0,
        "unprotected_captures": 0,
        "refunds": 0,
        "voided_authorisation": 0,
        "expired_authorisation": 0,
        "clawback": 700,
    }
    body = api.get(f"payment/deferred_payments/{hooked_dp['id']}").json()
    assert (body["status"], body["clawback_amount"]) == ("captured", 700)
    assert body["events"][-1] == event
    hooks = receiver.wait(2)
    assert hooks[-1]["data"]["order"]["deferred_payment"]["clawback_amount"] == 700
    assert [w["reason"] for w in admin.wait_for_webhooks(2)] == ["status_change", "clawback"]


def test_webhook_retries_until_delivered(admin, make_receiver, api):
    flaky = make_receiver(fail_first=2)
    dp = admin.create_deferred_payment(100, notification_url=flaky.url)
    act(api, dp, "capture", 100)
    assert len(flaky.wait(1)) == 1
    log = admin.wait_for_webhooks(3)
    assert [(w["attempt"], w["status"], w["delivered"]) for w in log] == [(1, 500, False), (2, 500, False), (3, 200, True)]
    assert all(w["url"] == flaky.url and w["deferred_payment"] == dp["id"] for w in log)
    assert log[0]["payload"] == log[2]["payload"] == flaky.received[0]


def test_webhook_gives_up_after_the_configured_attempts(admin, make_receiver, api):
    broken = make_receiver(fail_first=1000)
    dp = admin.create_deferred_payment(100, notification_url=broken.url)
    act(api, dp, "capture", 100)
    log = admin.wait_for_webhooks(4)
    time.sleep(0.5)  # 0.05 + 0.1 + 0.2 s of backoff have passed; no fifth attempt
    log = admin.webhooks()
    assert [w["attempt"] for w in log] == [1, 2, 3, 4]
    assert not any(w["delivered"] for w in log)


def test_webhook_connection_errors_are_logged(admin, api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dp = admin.create_deferred_payment(100, notification_url=f"http://127.0.0.1:{port}/gone")
    act(api, dp, "capture", 100)
    log = admin.wait_for_webhooks(1)
    assert log[0]["status"] is None and "Connection" in log[0]["error"]


def test_server_wide_notification_url(receiver):
    with Emulator(api_key=API_KEY, notification_url=receiver.url) as emu:
        with AdminClient(emu.base_url) as admin, make_api(emu) as api:
            dp = admin.create_deferred_payment(100)
            act(api, dp, "capture", 100)
            assert receiver.wait(1)[0]["data"]["order"]["id"] == dp["order"]


def test_stop_is_fast_with_pending_retries_and_sleeping_requests(make_receiver):
    broken = make_receiver(fail_first=1000)
    emu = Emulator(api_key=API_KEY, notification_url=broken.url, webhook_backoff=5)
    emu.start()
    errors: list[Exception] = []
    with AdminClient(emu.base_url) as admin, make_api(emu, timeout=40) as api:
        dp = admin.create_deferred_payment(100)
        act(api, dp, "capture", 100)
        admin.wait_for_webhooks(1)  # first attempt failed; the retry is 5 s away
        admin.add_faults({"timeout": 30})

        def hang():
            try:
                api.get(f"payment/deferred_payments/{dp['id']}")
            except Exception as exc:  # the server goes away mid-request
                errors.append(exc)

        thread = threading.Thread(target=hang)
        thread.start()
        deadline = time.monotonic() + 2
        while not any(r["fault"] == "timeout:30" for r in admin.requests()) and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        emu.stop()
        assert time.monotonic() - started < 2
        thread.join(5)
    assert errors and not thread.is_alive()
    with socket.socket() as s:  # the port is free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", emu.port))


def test_webhook_faults_drop_or_duplicate_the_next_notification(admin, receiver):
    dp = admin.create_deferred_payment(10_000, notification_url=receiver.url)
    admin.add_webhook_faults({"drop": True, "deferred_payment": dp["id"]}, {"duplicate": True})
    admin.clawback(dp["id"], 100)  # dropped
    admin.clawback(dp["id"], 200)  # sent twice
    received = receiver.wait(2)
    assert [r["data"]["order"]["deferred_payment"]["clawback_amount"] for r in received] == [300, 300]
    log = admin.webhooks()
    assert [e["error"] for e in log if not e["delivered"]] == ["dropped"]


def test_webhook_rates_lose_or_duplicate_notifications_at_random(admin, receiver):
    admin.set_webhook_rates(drop=1.0, seed=1)
    dp = admin.create_deferred_payment(10_000, notification_url=receiver.url)
    admin.clawback(dp["id"], 100)
    assert [e["error"] for e in admin.wait_for_webhooks(1)] == ["dropped"]
    admin.set_webhook_rates(duplicate=1.0, seed=1)
    admin.clawback(dp["id"], 100)
    assert len(receiver.wait(2)) == 2
