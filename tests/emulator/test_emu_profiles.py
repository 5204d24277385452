"""Profiles: `default` (the emulator's full view) and `sparse` (only what Hokodo's public material shows), each behaviour
switched alone through the admin API, the ledger untouched by what is shown, and validation."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hokodo_emulator import Emulator
from hokodo_emulator.admin import AdminClient, AdminError

from .support import API_KEY, make_api
from .test_emu_cli import SECRET, run_cli, run_env

DEFAULT = {
    "event_ids": True,
    "events_order": "oldest_first",
    "event_type_names": {
        "capture": "capture",
        "capture_remaining": "capture",
        "refund": "refund",
        "void": "void",
        "void_remaining": "void",
        "expiration": "expiration",
        "clawback": "clawback",
    },
    "events_field": True,
    "null_zero_totals": False,
    "changes_clawback": True,
    "webhook_retry_delays": None,
    "documents_idempotency": True,
    "key_conflict": {"status": 422, "body": {"detail": "Idempotency-Key reused with a different request."}},
}
SPARSE_CONFLICT = {"idempotency_key": ["A request with this idempotency key was already made with different parameters."]}
SPARSE = {
    **DEFAULT,
    "event_ids": False,
    "events_order": "newest_first",
    "event_type_names": {
        **DEFAULT["event_type_names"],
        "capture_remaining": "capture_remaining",
        "void_remaining": "void_remaining",
        "expiration": "expiry",
    },
    "events_field": False,
    "null_zero_totals": True,
    "changes_clawback": False,
    "webhook_retry_delays": [0, 2, 4],
    "documents_idempotency": False,
    "key_conflict": {"status": 400, "body": SPARSE_CONFLICT},
}
TOTALS = (
    "authorisation",
    "protected_captures",
    "unprotected_captures",
    "refunds",
    "voided_authorisation",
    "expired_authorisation",
    "clawback_amount",
)


def act(api, dp, action, amount=None, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    r = api.post(
        f"payment/deferred_payments/{dp['id']}/{action}", json={} if amount is None else {"amount": amount}, headers=headers
    )
    assert r.status_code == 201, r.text
    return r.json()


def get(api, dp):
    return api.get(f"payment/deferred_payments/{dp['id']}").json()


def upload(api, dp, key):
    files = {"file": ("invoice.pdf", b"%PDF-1.4 invoice", "application/pdf")}
    return api.post(
        f"payment/orders/{dp['order']}/documents", files=files, data={"doc_type": "invoice"}, headers={"Idempotency-Key": key}
    )


# -- the switch ---------------------------------------------------------------------------------
def test_the_default_profile_is_shown_with_every_behaviour(admin):
    assert admin.profile() == {"name": "default", "behaviours": DEFAULT}


def test_switching_wholesale_and_back(admin):
    assert admin.set_profile("sparse") == {"name": "sparse", "behaviours": SPARSE}
    assert admin.profile()["name"] == "sparse"
    assert admin.set_profile("default") == {"name": "default", "behaviours": DEFAULT}


def test_one_behaviour_makes_the_profile_custom_until_it_equals_a_named_one(admin):
    assert admin.set_profile(event_ids=False) == {"name": "custom", "behaviours": {**DEFAULT, "event_ids": False}}
    assert admin.set_profile(event_ids=True)["name"] == "default"
    view = admin.set_profile("sparse", event_ids=True)  # the behaviours change the named profile
    assert view == {"name": "custom", "behaviours": {**SPARSE, "event_ids": True}}
    assert admin.set_profile(**{k: v for k, v in SPARSE.items() if k != "event_type_names"})["name"] == "sparse"
    assert admin.set_profile(webhook_retry_delays=[0.0, 2.0, 4.0])["name"] == "sparse"


def test_reset_restores_the_profile_given_at_start(admin):
    admin.set_profile("sparse")
    admin.reset()
    assert admin.profile()["name"] == "default"
    with Emulator(api_key=API_KEY, profile="sparse") as emu, AdminClient(emu.base_url) as sparse_admin:
        sparse_admin.set_profile("default", events_order="newest_first")
        sparse_admin.reset()
        assert sparse_admin.profile() == {"name": "sparse", "behaviours": SPARSE}


def test_an_unknown_profile_name_is_refused_by_the_constructor():
    with pytest.raises(ValueError, match="unknown profile"):
        Emulator(api_key=API_KEY, profile="dense")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"name": "dense"}, {"name": ['"dense" is not a valid choice: default or sparse.']}),
        ({"name": "custom"}, {"name": ['"custom" is not a valid choice: default or sparse.']}),
        ({"colour": "blue"}, {"detail": "Unknown fields: colour."}),
        ({"behaviours": ["event_ids"]}, {"behaviours": ["Expected an object of behaviours."]}),
        ({"behaviours": {"colour": 1}}, {"behaviours": {"colour": ["Unknown behaviour."]}}),
        ({"behaviours": {"event_ids": "no"}}, {"behaviours": {"event_ids": ["Must be a valid boolean."]}}),
        ({"behaviours": {"null_zero_totals": 1}}, {"behaviours": {"null_zero_totals": ["Must be a valid boolean."]}}),
        (
            {"behaviours": {"events_order": "sideways"}},
            {"behaviours": {"events_order": ['"sideways" is not a valid choice: oldest_first or newest_first.']}},
        ),
        ({"behaviours": {"event_type_names": {"refnd": "x"}}}, None),
        ({"behaviours": {"event_type_names": {"refund": ""}}}, None),
        ({"behaviours": {"event_type_names": ["capture"]}}, None),
        ({"behaviours": {"webhook_retry_delays": [0, -1]}}, None),
        ({"behaviours": {"webhook_retry_delays": [True]}}, None),
        ({"behaviours": {"webhook_retry_delays": "0,2,4"}}, None),
        ({"behaviours": {"key_conflict": {"status": 200, "body": {}}}}, None),
        ({"behaviours": {"key_conflict": {"status": 409}}}, None),
        ({"behaviours": {"event_ids": False, "events_order": "x"}}, None),  # all or nothing
    ],
)
def test_profile_changes_are_validated_and_a_refused_change_changes_nothing(admin, body, error):
    with pytest.raises(AdminError) as exc:
        admin._call("PUT", "profile", body)
    assert exc.value.status_code == 400
    if error is not None:
        assert exc.value.body == error
    else:
        [(name, messages)] = exc.value.body["behaviours"].items()
        assert name in body["behaviours"] and isinstance(messages, list) and messages[0]
    assert admin.profile() == {"name": "default", "behaviours": DEFAULT}


def test_a_body_that_is_not_an_object_is_400(emu):
    with httpx.Client(trust_env=False) as client:
        r = client.put(emu.base_url + "/_admin/profile", json=["sparse"])
    assert r.status_code == 400 and r.json() == {"detail": "Expected a JSON object."}


# -- the default profile is today's shape ---------------------------------------------------------
def test_default_shapes_keep_their_keys_in_order(api, dp):
    event = act(api, dp, "capture_remaining")
    assert list(event) == ["id", "created", "type", "amount", "currency", "metadata", "changes"]
    assert event["type"] == "capture" and list(event["changes"])[-1] == "clawback"
    body = get(api, dp)
    assert list(body) == [
        "id",
        "number",
        "order",
        "status",
        "currency",
        *TOTALS,
        "events",
        "created",
        "expires_at",
        "repayment_info",
    ]
    assert body["events"] == [event]


# -- each behaviour alone -------------------------------------------------------------------------
def test_event_ids_off(api, admin, dp):
    admin.set_profile(event_ids=False)
    first = act(api, dp, "capture", 100, key="c1")
    assert "id" not in first
    replay = api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 100}, headers={"Idempotency-Key": "c1"})
    assert replay.json() == first and replay.headers["Idempotent-Replayed"] == "true"
    assert [set(e) for e in get(api, dp)["events"]] == [{"created", "type", "amount", "currency", "metadata", "changes"}]
    assert admin.payout_items(dp["order"])[0]["event"].startswith("dpevt-")  # the admin's payout items keep it


def test_events_newest_first(api, admin, dp):
    admin.set_profile(events_order="newest_first")
    act(api, dp, "capture", 1000)
    act(api, dp, "refund", 400)
    admin.clawback(dp["id"], 50)
    assert [e["type"] for e in get(api, dp)["events"]] == ["clawback", "refund", "capture"]
    assert [e["type"] for e in admin.get_deferred_payment(dp["id"])["events"]] == ["clawback", "refund", "capture"]


def test_event_type_names_merge_and_rename_answers_and_events(api, admin, dp):
    view = admin.set_profile(event_type_names={"refund": "credit"})
    assert view["behaviours"]["event_type_names"] == {**DEFAULT["event_type_names"], "refund": "credit"}
    view = admin.set_profile(event_type_names={"capture": "charge"})  # merges with the current names
    assert (view["behaviours"]["event_type_names"]["refund"], view["behaviours"]["event_type_names"]["capture"]) == (
        "credit",
        "charge",
    )
    assert act(api, dp, "capture", 1000)["type"] == "charge"
    assert act(api, dp, "refund", 100)["type"] == "credit"
    assert act(api, dp, "capture_remaining")["type"] == "capture"
    assert [e["type"] for e in get(api, dp)["events"]] == ["charge", "credit", "capture"]


def test_sparse_type_names_for_remaining_actions_and_expiry(api, admin):
    admin.set_profile("sparse", events_field=True)
    captured, voided = admin.create_deferred_payment(10000), admin.create_deferred_payment(10000)
    assert act(api, captured, "capture", 4000)["type"] == "capture"
    assert act(api, captured, "capture_remaining")["type"] == "capture_remaining"
    assert act(api, voided, "void", 1000)["type"] == "void"
    assert act(api, voided, "void_remaining")["type"] == "void_remaining"
    expiring = admin.create_deferred_payment(10000)
    admin.advance_clock(days=29)
    assert [e["type"] for e in get(api, expiring)["events"]] == ["expiry"]


@pytest.mark.parametrize(
    ("names", "actions", "final"),
    [
        ("sparse", [("capture_remaining", None), ("refund", 10000)], "reversed"),
        ("sparse", [("capture_remaining", None), ("refund", 4000)], "captured"),
        ("sparse", [("void_remaining", None)], "voided"),
        ("sparse", [("void", 4000)], "cancelled"),
        ("swapped", [("capture", 3000), ("refund", 3000)], "reversed"),
        ("swapped", [("void", 10000)], "voided"),
    ],
)
def test_the_ledger_ignores_the_type_names_shown(api, admin, dp, names, actions, final):  # noqa: PLR0917
    if names == "sparse":
        admin.set_profile("sparse")
    else:  # every shown name lies about its kind
        admin.set_profile(event_type_names={"capture": "void", "void": "capture", "refund": "capture", "expiration": "capture"})
    for action, amount in actions:
        act(api, dp, action, amount)
    admin.advance_clock(days=29)
    body = admin.get_deferred_payment(dp["id"])
    assert body["status"] == final
    admin.set_profile("default")  # the same ledger, shown plainly
    body = admin.get_deferred_payment(dp["id"])
    captures = sum(amount or 10000 for action, amount in actions if action.startswith("capture"))
    assert [item["amount"] for item in admin.payout_items(dp["order"])] == ([captures] if captures else [])
    assert body["authorisation"] == 0 and body["status"] == final


def test_no_events_field(api, admin, receiver):
    admin.set_profile(events_field=False)
    dp = admin.create_deferred_payment(10000, notification_url=receiver.url)
    assert "events" not in dp
    act(api, dp, "capture", 100)
    assert "events" not in get(api, dp) and "events" not in admin.get_deferred_payment(dp["id"])
    assert "events" not in receiver.wait(1)[0]["data"]["order"]["deferred_payment"]


def test_zero_totals_shown_as_null_everywhere_but_the_ledger_keeps_integers(api, admin, receiver):
    admin.set_profile(null_zero_totals=True)
    dp = admin.create_deferred_payment(10000, notification_url=receiver.url)
    assert [dp[k] for k in TOTALS] == [10000, None, None, None, None, None, None]
    act(api, dp, "capture", 12000)
    shown = get(api, dp)
    assert [shown[k] for k in TOTALS] == [None, 10000, 2000, None, None, None, None]
    assert admin.get_deferred_payment(dp["id"]) == shown
    assert shown["repayment_info"]["outstanding_amount"] == 12000
    assert shown["events"][0]["changes"]["refunds"] == 0  # changes stay integers
    hooked = receiver.wait(1)[0]["data"]["order"]["deferred_payment"]
    assert [hooked[k] for k in TOTALS] == [None, 10000, 2000, None, None, None, None]
    refund = api.post(f"payment/deferred_payments/{dp['id']}/refund", json={"amount": 12001})
    assert refund.json() == {"amount": ["Refund amount exceeds the captured amount not yet refunded (12000)."]}
    assert act(api, dp, "refund", 2500)["changes"]["unprotected_captures"] == -2000


def test_changes_without_clawback(api, admin, dp):
    admin.set_profile(changes_clawback=False)
    assert "clawback" not in act(api, dp, "capture", 100)["changes"]
    clawback = admin.clawback(dp["id"], 30)
    assert "clawback" not in clawback["changes"] and clawback["amount"] == 30
    assert all("clawback" not in e["changes"] for e in get(api, dp)["events"])
    assert get(api, dp)["clawback_amount"] == 30


class FailingReceiver:
    """A webhook endpoint that answers every notification 503 and notes when each arrived."""

    def __init__(self) -> None:
        self.times: list[float] = []
        times = self.times

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                times.append(time.monotonic())
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(2)


@pytest.fixture
def failing():
    receiver = FailingReceiver()
    yield receiver
    receiver.close()


def test_webhook_retry_delays(admin, failing):
    admin.set_profile(webhook_retry_delays=[0, 0.3, 0.1])  # the session emulator's own: 4 attempts, 0.05 s doubling
    dp = admin.create_deferred_payment(100, notification_url=failing.url)
    admin.clawback(dp["id"], 1)
    log = admin.wait_for_webhooks(4)
    time.sleep(0.3)
    assert [(w["attempt"], w["status"]) for w in admin.webhooks()] == [(1, 503), (2, 503), (3, 503), (4, 503)]
    gaps = [b - a for a, b in zip(failing.times, failing.times[1:], strict=False)]
    assert len(gaps) == 3 and gaps[0] < 0.25 and 0.29 <= gaps[1] < 1.3 and 0.09 <= gaps[2] < 1.1, gaps
    assert all(w["payload"] == log[0]["payload"] for w in log)


def test_no_retry_delays_means_a_single_attempt(admin, failing):
    admin.set_profile(webhook_retry_delays=[])
    dp = admin.create_deferred_payment(100, notification_url=failing.url)
    admin.clawback(dp["id"], 1)
    admin.wait_for_webhooks(1)
    time.sleep(0.3)  # the session emulator's own schedule would have retried 3 times by now
    assert [w["attempt"] for w in admin.webhooks()] == [1]


def test_documents_ignore_idempotency_keys_but_post_sale_actions_keep_them(api, admin, dp):
    admin.set_profile(documents_idempotency=False)
    first, second = upload(api, dp, "doc-1"), upload(api, dp, "doc-1")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "Idempotent-Replayed" not in second.headers
    assert admin.idempotency()["keys"] == 0
    assert upload(api, dp, "").status_code == 201  # not even checked
    act(api, dp, "capture", 100, key="doc-1")
    replay = api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 100}, headers={"Idempotency-Key": "doc-1"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert admin.get_deferred_payment(dp["id"])["protected_captures"] == 100


@pytest.mark.parametrize(
    ("conflict", "answer"),
    [
        ({"status": 409, "body": {"detail": "Conflict."}}, (409, b'{"detail":"Conflict."}')),
        ({"status": 400, "body": None}, (400, b"null")),
    ],
)
def test_key_conflict_answer_is_configurable(api, admin, dp, conflict, answer):
    admin.set_profile(key_conflict=conflict)
    assert admin.profile()["behaviours"]["key_conflict"] == conflict
    act(api, dp, "capture", 100, key="k")
    r = api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 101}, headers={"Idempotency-Key": "k"})
    assert (r.status_code, r.content) == answer
    assert admin.get_deferred_payment(dp["id"])["protected_captures"] == 100


# -- the sparse profile as a whole ----------------------------------------------------------------
def test_sparse_profile_from_the_constructor(receiver):
    with Emulator(api_key=API_KEY, profile="sparse") as emu, AdminClient(emu.base_url) as admin, make_api(emu) as api:
        assert admin.profile() == {"name": "sparse", "behaviours": SPARSE}
        dp = admin.create_deferred_payment(10000, notification_url=receiver.url)
        event = act(api, dp, "capture_remaining", key="k")
        assert "id" not in event and "clawback" not in event["changes"] and event["type"] == "capture_remaining"
        body = get(api, dp)
        assert "events" not in body and body["refunds"] is None and body["protected_captures"] == 10000
        assert receiver.wait(1)[0]["data"]["order"]["deferred_payment"]["authorisation"] is None
        conflict = api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 1}, headers={"Idempotency-Key": "k"})
        assert (conflict.status_code, conflict.json()) == (400, SPARSE_CONFLICT)
        assert upload(api, dp, "d").json()["id"] != upload(api, dp, "d").json()["id"]


def test_sparse_profile_from_the_command_line():
    assert "--profile" in run_cli("--help").stdout
    assert run_cli("--profile", "dense").returncode == 2
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hokodo_emulator",
            "--port",
            "0",
            "--quiet",
            "--profile",
            "sparse",
            "--seed-deferred-payment",
            "dp1=500",
        ],
        env=run_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = proc.stdout.readline().strip()
        proc.stdout.readline()  # the seeded deferred payment
        with AdminClient(base) as admin, httpx.Client(base_url=base + "/v1/", trust_env=False, timeout=5) as api:
            assert admin.profile()["name"] == "sparse"
            body = api.get("payment/deferred_payments/dp1", headers={"Authorization": f"Token {SECRET}"}).json()
            assert "events" not in body and body["refunds"] is None
    finally:
        proc.terminate()
        proc.wait(5)
        proc.stdout.close()


def test_a_profile_switch_never_splits_an_answer(emu, api, admin, dp):
    """Switched over and over while the deferred payment is read: each answer is wholly one profile or the other."""
    act(api, dp, "capture", 100)
    stop = threading.Event()

    def switch():
        with AdminClient(emu.base_url) as switcher:
            while not stop.is_set():
                for name in ("sparse", "default"):
                    switcher.set_profile(name)

    thread = threading.Thread(target=switch)
    thread.start()
    try:
        bodies = [get(api, dp) for _ in range(60)]
        shapes = [("events" in body, body["refunds"], "id" in body.get("events", [{}])[0]) for body in bodies]
    finally:
        stop.set()
        thread.join(5)
    assert set(shapes) == {(True, 0, True), (False, None, False)}
