"""The Hokodo client against the emulator over real HTTP: retries, Retry-After, deadlines, and errors
that carry Hokodo's own message."""

from __future__ import annotations

import time

import pytest
from conftest import API_KEY
from hokodo_postsale.errors import (
    DeferredPaymentNotFound,
    HokodoAuthenticationFailed,
    HokodoRejected,
    HokodoUnavailable,
    IdempotencyKeyConflict,
)
from hokodo_postsale.hokodo import HokodoClient


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(emulator, hokodo, sleeps):
    def sleep(seconds):
        sleeps.append(seconds)
        time.sleep(min(seconds, 0.01))

    c = HokodoClient(emulator.base_url + "/v1/", API_KEY, timeout_seconds=0.5, max_attempts=4, sleep=sleep)
    yield c
    c.close()


def test_capture_sends_token_idempotency_key_and_an_integer_amount(client, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    event = client.capture(dp, 2_500, idempotency_key="k-1", metadata={"ref": "SH-1"})
    assert event.type == "capture" and event.amount == 2_500 and event.changes.protected_captures == 2_500
    [request] = hokodo.requests()
    assert request["idempotency_key"] == "k-1" and request["body"] == {"amount": 2_500, "metadata": {"ref": "SH-1"}}


def test_a_float_amount_never_leaves_the_client(client, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    with pytest.raises(TypeError):
        client.capture(dp, 25.0, idempotency_key="k-1")
    assert hokodo.requests() == []


def test_429_waits_at_least_retry_after(client, hokodo, sleeps):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"status": 429, "retry_after": 2})
    client.capture(dp, 100, idempotency_key="k-1")
    assert sleeps and sleeps[0] >= 2
    assert hokodo.get_deferred_payment(dp)["protected_captures"] == 100


def test_a_timeout_is_retried_with_the_same_key_and_applied_once(client, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"timeout": 1.0})
    client.capture(dp, 100, idempotency_key="k-1")
    assert hokodo.get_deferred_payment(dp)["protected_captures"] == 100
    assert {r["idempotency_key"] for r in hokodo.requests()} == {"k-1"}


def test_retries_stop_at_the_deadline(client, hokodo, sleeps):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"status": 429, "retry_after": 30})
    client.use_deadline(time.monotonic() + 5)
    with pytest.raises(Exception) as raised:
        client.capture(dp, 100, idempotency_key="k-1")
    assert raised.value.transient and sleeps == []


def test_gives_up_after_max_attempts_as_transient(client, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults(*[{"status": 503}] * 4)
    with pytest.raises(HokodoUnavailable):
        client.capture(dp, 100, idempotency_key="k-1")
    assert hokodo.get_deferred_payment(dp)["protected_captures"] == 0


def test_errors_carry_hokodos_message_and_class(client, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    with pytest.raises(HokodoRejected) as rejected:
        client.void(dp, 10_001, idempotency_key="k-1")
    assert rejected.value.status == 400 and "exceeds the remaining authorisation" in str(rejected.value)
    with pytest.raises(DeferredPaymentNotFound):
        client.capture("defpay-Nope0000000000000000", 1, idempotency_key="k-2")
    client.capture(dp, 1, idempotency_key="k-3")
    with pytest.raises(IdempotencyKeyConflict):
        client.capture(dp, 2, idempotency_key="k-3")


def test_a_wrong_api_key_is_transient_not_retried_and_never_echoed(emulator, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    wrong = "wrong-key-" + "x" * 20
    client = HokodoClient(emulator.base_url + "/v1/", wrong, max_attempts=4)
    with pytest.raises(HokodoAuthenticationFailed) as failed:
        client.capture(dp, 1, idempotency_key="k-1")
    assert failed.value.transient and wrong not in str(failed.value)
    assert len(hokodo.requests()) == 1


def test_a_call_never_outlives_the_invocation(emulator, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"timeout": 3.0})
    client = HokodoClient(emulator.base_url + "/v1/", API_KEY, timeout_seconds=10, max_attempts=4)
    client.use_deadline(time.monotonic() + 0.5)
    # without the cap, the 10 s timeout would outlast the 3 s stall and the capture would succeed
    with pytest.raises(HokodoUnavailable):
        client.capture(dp, 100, idempotency_key="k-1")
