"""Idempotency-Key: replay, conflicts, stored errors, concurrency, forgotten keys, replay of refusals switched off."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from hokodo_emulator.admin import AdminError

from .support import make_api


def capture_url(dp):
    return f"payment/deferred_payments/{dp['id']}/capture"


def test_same_key_same_body_replays_and_applies_once(api, admin, dp):
    key = str(uuid.uuid4())
    first = api.post(capture_url(dp), json={"amount": 100000}, headers={"Idempotency-Key": key})
    second = api.post(capture_url(dp), json={"amount": 100000}, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    body = admin.get_deferred_payment(dp["id"])
    assert len(body["events"]) == 1
    assert (body["protected_captures"], body["unprotected_captures"]) == (10000, 90000)
    log = admin.requests()
    assert [(e["idempotency_key"], e["status"], e["replayed"]) for e in log] == [(key, 201, False), (key, 201, True)]


def test_same_key_different_body_or_path_is_422_and_applies_nothing(api, admin, dp):
    key = "key-1"
    assert api.post(capture_url(dp), json={"amount": 100}, headers={"Idempotency-Key": key}).status_code == 201
    other = api.post(capture_url(dp), json={"amount": 101}, headers={"Idempotency-Key": key})
    assert other.status_code == 422
    assert other.json() == {"detail": "Idempotency-Key reused with a different request."}
    void = api.post(f"payment/deferred_payments/{dp['id']}/void", json={"amount": 100}, headers={"Idempotency-Key": key})
    assert void.status_code == 422
    body = admin.get_deferred_payment(dp["id"])
    assert (len(body["events"]), body["protected_captures"], body["voided_authorisation"]) == (1, 100, 0)


def test_validation_errors_are_stored_and_replayed(api, dp):
    url = f"payment/deferred_payments/{dp['id']}/refund"
    first = api.post(url, json={"amount": 500}, headers={"Idempotency-Key": "refund-1"})
    assert first.status_code == 400
    api.post(capture_url(dp), json={"amount": 1000})  # now the refund would be valid...
    again = api.post(url, json={"amount": 500}, headers={"Idempotency-Key": "refund-1"})
    assert again.status_code == 400 and again.content == first.content  # ...but the key says 400
    assert again.headers["Idempotent-Replayed"] == "true"
    fresh = api.post(url, json={"amount": 500}, headers={"Idempotency-Key": "refund-2"})
    assert fresh.status_code == 201


def test_auth_failures_are_not_stored(emu, api, admin, dp):
    with httpx.Client(base_url=emu.api_url, trust_env=False) as anon:
        denied = anon.post(capture_url(dp), json={"amount": 5}, headers={"Idempotency-Key": "k", "Authorization": "Token bad"})
    assert denied.status_code == 401
    ok = api.post(capture_url(dp), json={"amount": 5}, headers={"Idempotency-Key": "k"})
    assert ok.status_code == 201 and "Idempotent-Replayed" not in ok.headers
    assert admin.get_deferred_payment(dp["id"])["protected_captures"] == 5


def test_overlong_key_is_400(api, dp):
    r = api.post(capture_url(dp), json={"amount": 5}, headers={"Idempotency-Key": "x" * 256})
    assert r.status_code == 400


def test_concurrent_requests_with_the_same_key_apply_once(emu, admin, dp):
    admin.set_faults(latency_ms=30)  # widen the window in which the requests overlap
    n = 12
    barrier = threading.Barrier(n)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    client = make_api(emu, limits=httpx.Limits(max_connections=n))  # httpx clients are thread-safe

    def worker():
        barrier.wait()
        r = client.post(capture_url(dp), json={"amount": 700}, headers={"Idempotency-Key": "same"})
        with lock:
            results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.close()
    assert len(results) == n
    assert {r.status_code for r in results} == {201}
    assert len({r.content for r in results}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in results) == n - 1
    body = admin.get_deferred_payment(dp["id"])
    assert (len(body["events"]), body["protected_captures"]) == (1, 700)


def test_concurrent_distinct_requests_all_apply(emu, admin, dp):
    n = 25

    client = make_api(emu, limits=httpx.Limits(max_connections=n))

    def worker(i):
        client.post(capture_url(dp), json={"amount": 1}, headers={"Idempotency-Key": f"k{i}"})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    client.close()
    body = admin.get_deferred_payment(dp["id"])
    assert (len(body["events"]), body["protected_captures"], body["authorisation"]) == (n, n, 10000 - n)


def test_forgetting_the_keys_keeps_the_ledger_and_lets_a_key_apply_again(api, admin, dp):
    assert api.post(capture_url(dp), json={"amount": 100}, headers={"Idempotency-Key": "k"}).status_code == 201
    assert admin.idempotency() == {"replay_4xx": True, "keys": 1}
    assert admin.forget_idempotency_keys() == {"replay_4xx": True, "keys": 0}  # as if Hokodo's retention expired
    again = api.post(capture_url(dp), json={"amount": 100}, headers={"Idempotency-Key": "k"})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    body = admin.get_deferred_payment(dp["id"])
    assert (len(body["events"]), body["protected_captures"]) == (2, 200)


def test_with_replay_4xx_off_a_refusal_is_not_stored_and_a_retry_runs_afresh(api, admin, dp):
    assert admin.set_idempotency(replay_4xx=False) == {"replay_4xx": False, "keys": 0}
    url = f"payment/deferred_payments/{dp['id']}/refund"
    assert api.post(url, json={"amount": 500}, headers={"Idempotency-Key": "refund-1"}).status_code == 400
    assert admin.idempotency()["keys"] == 0
    api.post(capture_url(dp), json={"amount": 1000})
    retry = api.post(url, json={"amount": 500}, headers={"Idempotency-Key": "refund-1"})
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    replay = api.post(url, json={"amount": 500}, headers={"Idempotency-Key": "refund-1"})  # successes are still stored
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert admin.get_deferred_payment(dp["id"])["refunds"] == 500
    admin.reset()
    assert admin.idempotency() == {"replay_4xx": True, "keys": 0}


def test_idempotency_settings_are_validated(admin):
    for bad in ({"replay_4xx": "no"}, {"replay_4xx": 0}, {}, {"replay_4xx": True, "ttl": 5}):
        with pytest.raises(AdminError) as exc:
            admin._call("PUT", "idempotency", bad)
        assert exc.value.status_code == 400
    assert admin.idempotency() == {"replay_4xx": True, "keys": 0}
