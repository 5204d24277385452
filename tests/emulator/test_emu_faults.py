"""Fault injection: throttling, any status with any body, timeouts, trickled answers, dropped connections, latency,
error rates."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from hokodo_emulator import Emulator
from hokodo_emulator.admin import AdminError

from .support import API_KEY, make_api


def capture(api, dp, amount=100, key=None, **kw):
    headers = {"Idempotency-Key": key} if key else {}
    return api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": amount}, headers=headers, **kw)


def captured(admin, dp) -> int:
    return admin.get_deferred_payment(dp["id"])["protected_captures"]


def test_429_with_retry_after(api, admin, dp):
    admin.add_faults({"status": 429, "retry_after": 1}, {"status": 429, "retry_after": 3})
    r = capture(api, dp)
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "1"
    assert r.json() == {"detail": "Request was throttled. Expected available in 1 second."}
    r = capture(api, dp)
    assert (r.headers["Retry-After"], r.json()["detail"]) == ("3", "Request was throttled. Expected available in 3 seconds.")
    assert captured(admin, dp) == 0
    assert capture(api, dp).status_code == 201  # the queue is used up
    assert [e["fault"] for e in admin.requests()] == ["status:429", "status:429", None]


def test_503_applies_nothing_and_is_not_stored_for_the_key(api, admin, dp):
    admin.add_faults({"status": 503})
    r = capture(api, dp, key="k503")
    assert r.status_code == 503 and r.json() == {"detail": "Service unavailable."}
    assert captured(admin, dp) == 0
    retry = capture(api, dp, key="k503")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert captured(admin, dp) == 100


def test_timeout_fault_fires_the_client_timeout_and_a_keyed_retry_applies_once(emu, api, admin, dp):
    admin.add_faults({"timeout": 0.5})
    with make_api(emu, timeout=0.15) as impatient, pytest.raises(httpx.TimeoutException):
        capture(impatient, dp, key="slow")
    retry = capture(api, dp, key="slow")
    assert retry.status_code == 201
    deadline = time.monotonic() + 3  # the timed-out request still completes server-side
    while time.monotonic() < deadline and sum(e["status"] is not None for e in admin.requests()) < 2:
        time.sleep(0.02)
    log = admin.requests()
    assert log[0]["fault"] == "timeout:0.5" and log[0]["status"] == 201
    assert sorted(e["replayed"] for e in log) == [False, True]
    assert captured(admin, dp) == 100


def test_drop_closes_without_response_and_applies_nothing(api, admin, dp):
    admin.add_faults({"drop": True})
    with pytest.raises(httpx.TransportError):
        capture(api, dp, key="dropped")
    assert captured(admin, dp) == 0
    retry = capture(api, dp, key="dropped")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert admin.requests()[0]["fault"] == "drop"


def test_drop_after_apply_then_replay_shows_applied_once(api, admin, dp):
    admin.add_faults({"drop_after_apply": True})
    with pytest.raises(httpx.TransportError):
        capture(api, dp, amount=2500, key="lost-answer")
    assert captured(admin, dp) == 2500  # Hokodo applied it; the client never heard
    retry = capture(api, dp, amount=2500, key="lost-answer")
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["amount"] == 2500
    body = admin.get_deferred_payment(dp["id"])
    assert (len(body["events"]), body["protected_captures"]) == (1, 2500)
    assert [(e["fault"], e["status"], e["replayed"]) for e in admin.requests()] == [
        ("drop_after_apply", 201, False),
        (None, 201, True),
    ]


def test_path_contains_targets_one_route(api, admin, dp):
    admin.add_faults({"status": 503, "path_contains": "/refund"})
    assert api.get(f"payment/deferred_payments/{dp['id']}").status_code == 200
    assert capture(api, dp).status_code == 201
    r = api.post(f"payment/deferred_payments/{dp['id']}/refund", json={"amount": 50})
    assert r.status_code == 503
    assert admin.faults()["next"] == []


def test_latency(api, admin, dp):
    admin.set_faults(latency_ms=150)
    started = time.monotonic()
    assert api.get(f"payment/deferred_payments/{dp['id']}").status_code == 200
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    admin.health()  # never applied to the admin API
    assert time.monotonic() - started < 0.1


def test_error_rates_are_seeded_and_never_hit_admin(emu, api, admin, dp):
    admin.set_faults(error_rates={"503": 0.5})

    def statuses():
        return [api.get(f"payment/deferred_payments/{dp['id']}").status_code for _ in range(30)]

    first = statuses()
    assert set(first) == {200, 503}
    emu.faults.reset()  # re-seeds the generator
    admin.set_faults(error_rates={"503": 0.5})
    assert statuses() == first
    admin.set_faults(error_rates={"500": 1})
    assert api.get(f"payment/deferred_payments/{dp['id']}").status_code == 500
    assert admin.get_deferred_payment(dp["id"])["id"] == dp["id"]
    admin.clear_faults()
    assert api.get(f"payment/deferred_payments/{dp['id']}").status_code == 200


def test_invalid_fault_config_is_400(admin):
    for bad in (
        {"status": 199},
        {"status": 600},
        {"drop": True, "status": 503},
        {"timeout": -1},
        {"explode": True},
        {"status": 204, "body": "no body allowed"},
        {"status": 302, "headers": {"Content-Length": "1"}},
        {"status": 302, "headers": {"Location": "https://x/\r\nSet-Cookie: a=b"}},
        {"status": 302, "headers": {"Location": 1}},
        {"timeout": 1, "body": "a body goes with a status fault only"},
        {"trickle": 0.1, "count": 0},
        {"status": 503, "count": True},
    ):
        with pytest.raises(AdminError) as exc:
            admin.add_faults(bad)
        assert exc.value.status_code == 400
    with pytest.raises(AdminError):
        admin.set_faults(error_rates={"503": 0.8, "500": 0.5})
    assert admin.faults() == {"latency_ms": 0.0, "error_rates": {}, "next": [], "timeout_seconds": 2.0}


def test_put_replaces_the_queue(admin):
    admin.add_faults({"status": 503})
    config = admin.set_faults(latency_ms=5, next=[{"drop": True}, {"timeout": 1, "path_contains": "capture"}])
    assert config == {
        "latency_ms": 5,
        "error_rates": {},
        "next": [{"drop": True}, {"timeout": 1, "path_contains": "capture"}],
        "timeout_seconds": 2.0,
    }


def test_random_faults_can_be_timeouts_and_dropped_connections(api, admin, dp):
    admin.set_faults(error_rates={"drop_after_apply": 1.0})
    with pytest.raises(httpx.TransportError):
        api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 100}, headers={"Idempotency-Key": "k-1"})
    assert admin.get_deferred_payment(dp["id"])["protected_captures"] == 100  # applied, the answer lost
    admin.set_faults(error_rates={"timeout": 1.0}, timeout_seconds=0.3)
    with pytest.raises(httpx.ReadTimeout):
        api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 50}, timeout=0.1)
    admin.set_faults(error_rates={"drop": 1.0})
    with pytest.raises(httpx.TransportError):
        api.get(f"payment/deferred_payments/{dp['id']}")
    with pytest.raises(AdminError):
        admin.set_faults(error_rates={"explode": 0.1})


def test_a_status_fault_can_answer_count_requests_with_any_status_body_and_headers(api, admin, dp):
    admin.add_faults({"status": 200, "body": {"unexpected": True}, "count": 2, "path_contains": "/capture"})
    assert admin.faults()["next"] == [{"status": 200, "body": {"unexpected": True}, "count": 2, "path_contains": "/capture"}]
    first = capture(api, dp, key="k")
    assert (first.status_code, first.json(), first.headers["Content-Type"]) == (200, {"unexpected": True}, "application/json")
    assert admin.faults()["next"] == [{"status": 200, "body": {"unexpected": True}, "path_contains": "/capture"}]  # 1 left
    assert capture(api, dp, key="k").json() == {"unexpected": True}
    assert captured(admin, dp) == 0  # nothing is applied for a status fault
    assert capture(api, dp, key="k").status_code == 201  # used up; the key was never stored
    assert [e["fault"] for e in admin.requests()] == ["status:200", "status:200", None]


def test_a_text_body_is_sent_as_is_and_headers_are_added(api, admin, dp):
    admin.add_faults(
        {"status": 200, "body": "<html>captive portal</html>"},
        {"status": 302, "headers": {"Location": "https://elsewhere/"}},
        {"status": 503, "body": "<h1>busy</h1>", "headers": {"Content-Type": "text/html", "Retry-After": "7"}},
    )
    text = capture(api, dp)
    assert (text.status_code, text.text) == (200, "<html>captive portal</html>")
    assert text.headers["Content-Type"] == "text/plain; charset=utf-8"
    moved = capture(api, dp)  # httpx does not follow redirects unless asked
    assert (moved.status_code, moved.headers["Location"]) == (302, "https://elsewhere/")
    assert moved.json() == {"detail": "Injected fault."}
    busy = capture(api, dp)
    assert (busy.status_code, busy.text, busy.headers.get_list("Content-Type"), busy.headers["Retry-After"]) == (
        503,
        "<h1>busy</h1>",
        ["text/html"],
        "7",
    )
    assert captured(admin, dp) == 0


def test_trickle_writes_the_whole_response_one_byte_at_a_time(emu, admin, dp):
    admin.add_faults({"trickle": 0.05})
    request = f"GET /v1/payment/deferred_payments/{dp['id']} HTTP/1.1\r\nHost: x\r\nAuthorization: Token {API_KEY}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", emu.port), timeout=2) as sock:
        sock.sendall(request.encode())
        chunks = [sock.recv(100) for _ in range(5)]
    assert chunks == [b"H", b"T", b"T", b"P", b"/"]  # the status line too: headers arrive as slowly as the body


def test_a_trickled_request_is_applied_and_stored_for_its_key(api, admin, dp):
    admin.add_faults({"trickle": 0.001})
    started = time.monotonic()
    slow = capture(api, dp, amount=300, key="slow")
    elapsed = time.monotonic() - started
    assert slow.status_code == 201 and slow.json()["amount"] == 300
    assert elapsed >= 0.001 * len(slow.content)
    replay = capture(api, dp, amount=300, key="slow")
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.content == slow.content
    assert captured(admin, dp) == 300
    assert [e["fault"] for e in admin.requests()] == ["trickle:0.001", None]


def test_a_trickle_stops_promptly_when_the_emulator_stops():
    with Emulator(api_key=API_KEY) as emu, make_api(emu, timeout=10) as client:
        dp = emu.admin().create_deferred_payment(1000)
        emu.admin().add_faults({"trickle": 1.0})
        errors = []
        thread = threading.Thread(target=lambda: _record_error(errors, client.get, f"payment/deferred_payments/{dp['id']}"))
        thread.start()
        time.sleep(0.3)  # the first bytes are out
        started = time.monotonic()
        emu.stop()
        assert time.monotonic() - started < 1.0
        thread.join(2)
    assert not thread.is_alive() and errors and isinstance(errors[0], httpx.TransportError)


def _record_error(errors: list, call, *args) -> None:
    try:
        call(*args)
    except Exception as exc:
        errors.append(exc)
