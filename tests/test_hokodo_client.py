"""The Hokodo client against the emulator over real HTTP: retries, Retry-After, deadlines for whole
attempts, path ids, protocol errors, and errors that carry Hokodo's own message."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from conftest import API_KEY
from hokodo_postsale.errors import (
    DeferredPaymentNotFound,
    HokodoAuthenticationFailed,
    HokodoProtocolError,
    HokodoRateLimited,
    HokodoRefused,
    HokodoRejected,
    HokodoUnavailable,
    IdempotencyKeyConflict,
    InvalidIdentifier,
    PermanentError,
)
from hokodo_postsale.hokodo.client import HokodoClient


@pytest.fixture(autouse=True)
def _settled(hokodo):
    """After each test, wait for the requests the emulator is still handling (a slow answer the client gave
    up on): finished after the next test's reset, they would store their Idempotency-Key into it."""
    yield
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(r["status"] is None and r["fault"] != "drop" for r in hokodo.requests()):
        time.sleep(0.02)


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
    hokodo.add_faults({"timeout": 1.0})
    client = HokodoClient(emulator.base_url + "/v1/", API_KEY, timeout_seconds=10, max_attempts=4)
    client.use_deadline(time.monotonic() + 0.5)
    # without the cap, the 10 s timeout would outlast the 1 s stall and the capture would succeed
    with pytest.raises(HokodoUnavailable):
        client.capture(dp, 100, idempotency_key="k-1")


# -- a whole attempt ends by the deadline ------------------------------------------------------------
def our_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not t.name.startswith("hokodo-emulator")}


@pytest.mark.parametrize(
    "fault", [{"trickle": 0.05}, {"timeout": 1.5}], ids=["answer trickled byte by byte", "headers after 1.5 s"]
)
def test_a_slow_answer_ends_at_the_deadline_not_per_read(emulator, hokodo, fault):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults(fault)
    threads = our_threads()
    client = HokodoClient(emulator.api_url, API_KEY, timeout_seconds=10, max_attempts=4)
    started = time.monotonic()
    client.use_deadline(started + 1.0)
    with pytest.raises(HokodoUnavailable, match="no answer in time"):
        client.capture(dp, 100, idempotency_key="k-1")
    # httpx's per-read timeouts alone took 4.3 s over a trickled answer (each byte resets them)
    assert 1.0 <= time.monotonic() - started < 1.1
    client.close()
    assert our_threads() == threads  # no thread was left behind to enforce it


def test_the_timeout_bounds_a_whole_attempt_and_the_retry_gets_the_replay(emulator, hokodo, sleeps):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"trickle": 0.05})  # applied and stored for the key, then answered far too slowly
    client = HokodoClient(emulator.api_url, API_KEY, timeout_seconds=1.0, max_attempts=4, sleep=sleeps.append)
    started = time.monotonic()
    event = client.capture(dp, 100, idempotency_key="k-1")
    assert 1.0 <= time.monotonic() - started < 1.3 and len(sleeps) == 1
    assert event.amount == 100 and hokodo.get_deferred_payment(dp)["protected_captures"] == 100
    assert [(r["idempotency_key"], r["replayed"]) for r in hokodo.requests()] == [("k-1", False), ("k-1", True)]
    client.close()


def test_connections_are_still_pooled(emulator, hokodo, monkeypatch):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    client = HokodoClient(emulator.api_url, API_KEY)
    client.use_deadline(time.monotonic() + 30)
    opened = []
    create_connection = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda *a, **kw: opened.append(a) or create_connection(*a, **kw))
    for n in range(3):
        client.capture(dp, 100, idempotency_key=f"k-{n}")
    client.get_deferred_payment(dp)
    assert len(opened) == 1
    client.close()


def test_threads_sharing_a_client_each_keep_their_own_attempt(emulator, hokodo):
    dps = [hokodo.create_deferred_payment(10_000)["id"] for _ in range(4)]
    hokodo.add_faults({"trickle": 0.05, "path_contains": dps[0]})
    client = HokodoClient(emulator.api_url, API_KEY, timeout_seconds=1.0, max_attempts=1)
    outcomes: dict[str, object] = {}

    def capture(dp: str) -> None:
        started = time.monotonic()
        try:
            outcomes[dp] = client.capture(dp, 100, idempotency_key=f"k-{dp}").amount
        except HokodoUnavailable as exc:
            outcomes[dp] = exc
        outcomes[dp + "-seconds"] = time.monotonic() - started

    threads = [threading.Thread(target=capture, args=(dp,)) for dp in dps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert isinstance(outcomes[dps[0]], HokodoUnavailable) and 1.0 <= outcomes[dps[0] + "-seconds"] < 1.1
    assert all(outcomes[dp] == 100 and outcomes[dp + "-seconds"] < 0.5 for dp in dps[1:])
    client.close()


# -- ids that go in a URL path ----------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["../../x", "../../../x", "a/b", "", "%2e", ".", "dp?x=1", "dp#x", "dp 1", "dp\n", "dé"])
def test_an_id_that_is_not_one_path_segment_is_never_sent(client, hokodo, bad):
    with pytest.raises(InvalidIdentifier) as refused:
        client.capture(bad, 100, idempotency_key="k-1")
    assert isinstance(refused.value, PermanentError) and "nothing was sent" in str(refused.value)
    with pytest.raises(InvalidIdentifier):
        client.get_deferred_payment(bad)
    assert hokodo.requests() == []


# -- Retry-After ------------------------------------------------------------------------------------
def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds_from_now), usegmt=True)


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("as_date", [False, True], ids=["delta-seconds", "HTTP-date"])
def test_retry_after_is_waited_on_429_and_503(client, hokodo, sleeps, status, as_date):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"status": status, "headers": {"Retry-After": http_date(3.5) if as_date else "3"}})
    client.capture(dp, 100, idempotency_key="k-1")
    assert len(sleeps) == 1 and 2.0 <= sleeps[0] <= 3.5  # an HTTP-date counts whole seconds
    assert hokodo.get_deferred_payment(dp)["protected_captures"] == 100


@pytest.mark.parametrize("answer", [(429, HokodoRateLimited), (503, HokodoUnavailable)], ids=["429", "503"])
@pytest.mark.parametrize("as_date", [False, True], ids=["delta-seconds", "HTTP-date"])
def test_a_retry_after_beyond_the_deadline_gives_up_at_once(client, hokodo, sleeps, answer, as_date):
    status, error = answer
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"status": status, "headers": {"Retry-After": http_date(30) if as_date else "30"}})
    started = time.monotonic()
    client.use_deadline(started + 5)
    with pytest.raises(error) as raised:
        client.capture(dp, 100, idempotency_key="k-1")
    assert time.monotonic() - started < 0.5 and sleeps == []
    assert raised.value.transient and 28 <= raised.value.retry_after <= 30
    assert len(hokodo.requests()) == 1


# -- protocol errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"status": 200, "body": "<html>captive portal</html>"}, "answered 200 with a body that is not the documented JSON"),
        ({"status": 201, "body": {"unexpected": True}}, "answered 201 with a body that is not the documented JSON (type: Field"),
        ({"status": 302, "headers": {"Location": "https://elsewhere/"}}, "answered 302 (redirect to https://elsewhere/)"),
    ],
    ids=["200 not JSON", "201 JSON of the wrong shape", "302"],
)
def test_an_undocumented_answer_is_a_protocol_error_after_max_attempts_under_one_key(client, hokodo, sleeps, fault, says):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({**fault, "count": 4})
    with pytest.raises(HokodoProtocolError) as raised:
        client.capture(dp, 100, idempotency_key="k-1")
    message = str(raised.value)
    assert message.startswith("Hokodo capture " + says) and API_KEY not in message
    assert isinstance(raised.value, PermanentError) and raised.value.status == fault["status"]
    assert [r["idempotency_key"] for r in hokodo.requests()] == ["k-1"] * 4 and len(sleeps) == 3
    assert hokodo.get_deferred_payment(dp)["protected_captures"] == 0


def test_a_protocol_error_is_retried_and_a_documented_answer_then_wins(client, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"status": 200, "body": "<html>captive portal</html>", "count": 2})
    assert client.capture(dp, 100, idempotency_key="k-1").amount == 100
    assert [r["idempotency_key"] for r in hokodo.requests()] == ["k-1"] * 3
    assert hokodo.get_deferred_payment(dp)["protected_captures"] == 100


def test_a_protocol_error_the_deadline_keeps_from_its_retries_stays_transient(client, hokodo, sleeps):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.set_faults(latency_ms=400, next=[{"status": 200, "body": "<html>captive portal</html>", "count": 4}])
    client.use_deadline(time.monotonic() + 0.45)  # room for one attempt only
    with pytest.raises(HokodoUnavailable) as raised:
        client.capture(dp, 100, idempotency_key="k-1")
    assert str(raised.value).startswith("Hokodo capture answered 200 with a body that is not the documented JSON")
    assert str(raised.value).endswith("(not retried: no time left in this invocation)")
    assert isinstance(raised.value.__cause__, HokodoProtocolError) and len(hokodo.requests()) == 1 and sleeps == []


def test_a_read_of_the_wrong_shape_is_a_protocol_error_with_a_bounded_body(client, hokodo):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"status": 200, "body": {"id": dp, "padding": "x" * 5_000}, "count": 4})
    with pytest.raises(HokodoProtocolError) as raised:
        client.get_deferred_payment(dp)
    message = str(raised.value)
    assert message.startswith("Hokodo get_deferred_payment answered 200 with a body that is not the documented JSON (status:")
    assert len(message) < 700 and message.endswith("...")


# -- classification ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, HokodoRejected),
        (418, HokodoRejected),
        (404, DeferredPaymentNotFound),
        (401, HokodoAuthenticationFailed),
        (403, HokodoAuthenticationFailed),
        (408, HokodoUnavailable),
        (409, IdempotencyKeyConflict),
        (429, HokodoRateLimited),
        (500, HokodoUnavailable),
        (502, HokodoUnavailable),
    ],
)
def test_each_error_status_has_its_class(emulator, hokodo, status, error):
    dp = hokodo.create_deferred_payment(10_000)["id"]
    hokodo.add_faults({"status": status, "body": {"detail": "said Hokodo"}})
    client = HokodoClient(emulator.api_url, API_KEY, max_attempts=1)
    with pytest.raises(error) as raised:
        client.capture(dp, 100, idempotency_key="k-1")
    assert type(raised.value) is error and f"failed with {status}: " in str(raised.value) and "said Hokodo" in str(raised.value)
    assert isinstance(raised.value, HokodoRefused) == (error in (HokodoRejected, DeferredPaymentNotFound))
    client.close()


def test_the_deadline_backend_refuses_a_transport_it_does_not_know(emulator):
    """The swap of httpcore's network backend reaches into private attributes: a shape it does not expect
    must fail loudly when the client is built, never leave calls without their deadline."""
    import httpx
    from hokodo_postsale.hokodo.deadline_backend import _install_backend

    with pytest.raises(RuntimeError, match="internals changed"):
        _install_backend(httpx.MockTransport(lambda request: httpx.Response(200)))
