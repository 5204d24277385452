"""The public /v1 API over real HTTP: auth, actions, validation, statuses."""

from __future__ import annotations

import httpx
import pytest

from .support import API_KEY, make_api

ZERO = {
    "authorisation": 0,
    "protected_captures": 0,
    "unprotected_captures": 0,
    "refunds": 0,
    "voided_authorisation": 0,
    "expired_authorisation": 0,
    "clawback": 0,
}


def url(dp_id: str, action: str | None = None) -> str:
    return f"payment/deferred_payments/{dp_id}" + (f"/{action}" if action else "")


# -- auth ----------------------------------------------------------------------------------------
def test_missing_token_is_401(emu, dp):
    with httpx.Client(base_url=emu.api_url, trust_env=False) as anon:
        r = anon.get(url(dp["id"]))
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided."}


def test_bearer_is_not_token_auth(emu, dp):
    with httpx.Client(base_url=emu.api_url, trust_env=False) as anon:
        r = anon.get(url(dp["id"]), headers={"Authorization": f"Bearer {API_KEY}"})
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided."}


def test_wrong_token_is_401_and_never_echoed(emu, dp, admin):
    with httpx.Client(base_url=emu.api_url, trust_env=False) as anon:
        r = anon.post(url(dp["id"], "capture"), json={"amount": 1}, headers={"Authorization": "Token nope"})
    assert r.status_code == 401
    assert r.json() == {"detail": "Invalid token."}
    assert admin.get_deferred_payment(dp["id"])["protected_captures"] == 0
    everything = r.text + str(r.headers) + str(admin.requests()) + str(admin.webhooks())
    assert API_KEY not in everything and "nope" not in everything


# -- reading ---------------------------------------------------------------------------------------
def test_get_deferred_payment_shape(api, dp):
    r = api.get(url(dp["id"]))
    assert r.status_code == 200
    body = r.json()
    assert body["id"].startswith("defpay-") and len(body["id"]) == len("defpay-") + 22
    assert body["order"].startswith("order-") and len(body["order"]) == len("order-") + 22
    assert body["number"].startswith("P-") and len(body["number"]) == 11
    assert body["status"] == "accepted" and body["currency"] == "GBP"
    assert body["authorisation"] == 10000 and body["events"] == []
    assert body["expires_at"] is not None
    assert body["repayment_info"] == {"status": "unpaid", "outstanding_amount": 0}


def test_unknown_deferred_payment_is_404(api):
    for r in (api.get(url("defpay-nope")), api.post(url("defpay-nope", "capture"), json={"amount": 1})):
        assert r.status_code == 404
        assert r.json() == {"detail": "Not found."}


def test_unknown_action_is_404(api, dp):
    r = api.post(url(dp["id"], "teleport"), json={"amount": 1})
    assert r.status_code == 404 and r.json() == {"detail": "Not found."}


# -- actions ---------------------------------------------------------------------------------------
def test_capture_response_and_events(api, dp):
    r = api.post(url(dp["id"], "capture"), json={"amount": 4000, "metadata": {"reference": "Bob's"}})
    assert r.status_code == 201
    event = r.json()
    assert event["id"].startswith("dpevt-")
    assert event["created"].endswith("Z")
    assert (event["type"], event["amount"], event["currency"]) == ("capture", 4000, "GBP")
    assert event["metadata"] == {"reference": "Bob's"}
    assert event["changes"] == {**ZERO, "authorisation": -4000, "protected_captures": 4000}
    body = api.get(url(dp["id"])).json()
    assert body["status"] == "captured"
    assert (body["authorisation"], body["protected_captures"]) == (6000, 4000)
    assert body["events"] == [event]
    assert body["repayment_info"]["outstanding_amount"] == 4000


def test_capture_beyond_authorisation_then_refunds_unprotected_first(api, dp):
    r = api.post(url(dp["id"], "capture"), json={"amount": 10500})
    assert r.json()["changes"] == {
        **ZERO,
        "authorisation": -10000,
        "protected_captures": 10000,
        "unprotected_captures": 500,
    }
    r = api.post(url(dp["id"], "refund"), json={"amount": 800})
    assert r.status_code == 201
    assert r.json()["changes"] == {**ZERO, "unprotected_captures": -500, "protected_captures": -300, "refunds": 800}
    body = api.get(url(dp["id"])).json()
    assert (body["protected_captures"], body["unprotected_captures"], body["refunds"]) == (9700, 0, 800)


def test_capture_remaining_and_zero_noop(api, dp):
    api.post(url(dp["id"], "capture"), json={"amount": 2500})
    r = api.post(url(dp["id"], "capture_remaining"), json={})
    assert r.status_code == 201
    assert (r.json()["type"], r.json()["amount"]) == ("capture", 7500)
    again = api.post(url(dp["id"], "capture_remaining"))  # empty body
    assert again.status_code == 201
    assert (again.json()["amount"], again.json()["changes"]) == (0, ZERO)
    assert len(api.get(url(dp["id"])).json()["events"]) == 2  # the no-op records no event


def test_void_and_void_remaining(api, dp):
    r = api.post(url(dp["id"], "void"), json={"amount": 3000, "metadata": {"why": "out of stock"}})
    assert r.status_code == 201
    assert r.json()["type"] == "void"
    assert r.json()["changes"] == {**ZERO, "authorisation": -3000, "voided_authorisation": 3000}
    r = api.post(url(dp["id"], "void_remaining"), json={"amount": 999999, "metadata": {"x": 1}})
    assert (r.json()["type"], r.json()["amount"]) == ("void", 7000)  # amount is ignored
    body = api.get(url(dp["id"])).json()
    assert (body["status"], body["authorisation"], body["voided_authorisation"]) == ("voided", 0, 10000)
    noop = api.post(url(dp["id"], "void_remaining"))
    assert noop.status_code == 201 and noop.json()["changes"] == ZERO


def test_over_refund_is_400(api, dp):
    api.post(url(dp["id"], "capture"), json={"amount": 3000})
    api.post(url(dp["id"], "refund"), json={"amount": 1000})
    r = api.post(url(dp["id"], "refund"), json={"amount": 2001})
    assert r.status_code == 400
    assert r.json() == {"amount": ["Refund amount exceeds the captured amount not yet refunded (2000)."]}


def test_over_void_is_400(api, dp):
    api.post(url(dp["id"], "capture"), json={"amount": 4000})
    r = api.post(url(dp["id"], "void"), json={"amount": 6001})
    assert r.status_code == 400
    assert r.json() == {"amount": ["Void amount exceeds the remaining authorisation (6000)."]}
    assert api.get(url(dp["id"])).json()["authorisation"] == 6000


@pytest.mark.parametrize("action", ["capture", "refund", "void"])
@pytest.mark.parametrize("amount", [100.0, 1.5, True, False, "100", 0, -1, None, [100], 1e3])
def test_invalid_amounts_are_400(api, dp, action, amount):
    r = api.post(url(dp["id"], action), json={"amount": amount})
    assert r.status_code == 400
    assert r.json() == {"amount": ["A valid positive integer is required."]}


def test_amount_as_float_literal_in_raw_json_is_400(api, dp):
    r = api.post(url(dp["id"], "capture"), content=b'{"amount": 100.0}', headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"amount": ["A valid positive integer is required."]}


@pytest.mark.parametrize("action", ["capture", "refund", "void"])
def test_missing_amount_is_400(api, dp, action):
    r = api.post(url(dp["id"], action), json={"metadata": {}})
    assert r.status_code == 400
    assert r.json() == {"amount": ["This field is required."]}


def test_bad_metadata_bad_json_and_media_type(api, dp):
    r = api.post(url(dp["id"], "capture"), json={"amount": 1, "metadata": "x"})
    assert r.status_code == 400 and list(r.json()) == ["metadata"]
    r = api.post(url(dp["id"], "capture"), content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["detail"].startswith("JSON parse error")
    r = api.post(url(dp["id"], "capture"), data={"amount": "1"})
    assert r.status_code == 415
    r = api.post(url(dp["id"], "capture"), json=[1])
    assert r.status_code == 400 and "non_field_errors" in r.json()
    assert api.get(url(dp["id"])).json()["events"] == []


def test_get_on_action_is_405(api, dp):
    r = api.get(url(dp["id"], "capture"))
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_keep_alive_connection_serves_many_requests(emu, dp):
    with make_api(emu) as client:
        for _ in range(20):
            assert client.post(url(dp["id"], "capture"), json={"amount": 1}).status_code == 201
        assert client.get(url(dp["id"])).json()["protected_captures"] == 20
