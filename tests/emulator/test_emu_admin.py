"""The admin API: creation, clock, reset, logs."""

from __future__ import annotations

import httpx
import pytest
from hokodo_emulator import Emulator
from hokodo_emulator.admin import AdminClient, AdminError

from .support import API_KEY, make_api


def test_health_and_unknown_routes(emu, admin):
    assert admin.health()["status"] == "ok"
    with httpx.Client(trust_env=False) as client:
        assert client.get(emu.base_url + "/_admin/nope").status_code == 404
        assert client.get(emu.base_url + "/elsewhere").status_code == 404
        assert client.get(emu.base_url + "/_admin/reset").status_code == 405


def test_create_with_chosen_ids_and_conflicts(admin):
    dp = admin.create_deferred_payment(2500, currency="EUR", id="defpay-test1", order_id="order-test1")
    assert (dp["id"], dp["order"], dp["currency"], dp["authorisation"]) == ("defpay-test1", "order-test1", "EUR", 2500)
    assert admin.get_deferred_payment("defpay-test1") == dp
    with pytest.raises(AdminError) as exc:
        admin.create_deferred_payment(1, id="defpay-test1")
    assert exc.value.status_code == 409
    assert [d["id"] for d in admin.list_deferred_payments()] == ["defpay-test1"]


@pytest.mark.parametrize(
    "kw",
    [
        {"authorisation": 10.5},
        {"authorisation": 0},
        {"authorisation": "100"},
        {"authorisation": 1, "currency": "gbp"},
        {"authorisation": 1, "id": "has/slash"},
        {"authorisation": 1, "notification_url": "ftp://x"},
        {"authorisation": 1, "expiry_days": -1},
        {"authorisation": 1, "colour": "blue"},
    ],
)
def test_create_validation(admin, kw):
    with pytest.raises(AdminError) as exc:
        admin._call("POST", "deferred_payments", kw)
    assert exc.value.status_code == 400


def test_unknown_deferred_payment_via_admin(admin):
    with pytest.raises(AdminError) as exc:
        admin.get_deferred_payment("defpay-nope")
    assert exc.value.status_code == 404
    with pytest.raises(AdminError):
        admin.clawback("defpay-nope", 5)


def test_clawback_validation(admin, dp):
    for amount in (0, -1, 1.0, True):
        with pytest.raises(AdminError) as exc:
            admin.clawback(dp["id"], amount)
        assert exc.value.status_code == 400


def test_clock(admin, dp):
    before = admin.clock()
    assert before["offset_seconds"] == 0
    after = admin.advance_clock(days=1, seconds=30)
    assert after["offset_seconds"] == 86430
    assert after["now"] > before["now"]
    with pytest.raises(AdminError):
        admin.advance_clock(seconds=-5)


def test_reset_clears_everything(emu, api, admin, dp):
    api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 5}, headers={"Idempotency-Key": "r"})
    admin.add_faults({"status": 503})
    admin.advance_clock(days=3)
    admin.reset()
    assert admin.list_deferred_payments() == []
    assert admin.requests() == [] and admin.webhooks() == []
    assert admin.faults()["next"] == []
    assert admin.clock()["offset_seconds"] == 0
    # the idempotency store is empty too: the same key now applies to a new deferred payment
    again = admin.create_deferred_payment(10000, id=dp["id"])
    r = api.post(f"payment/deferred_payments/{again['id']}/capture", json={"amount": 5}, headers={"Idempotency-Key": "r"})
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers


def test_reset_restores_the_startup_fault_configuration():
    with Emulator(api_key=API_KEY, error_rates={"503": 1.0}) as emu, AdminClient(emu.base_url) as admin:
        with make_api(emu) as api:
            assert api.get("payment/deferred_payments/x").status_code == 503
            admin.clear_faults()
            assert api.get("payment/deferred_payments/x").status_code == 404
            admin.reset()
            assert admin.faults()["error_rates"] == {"503": 1.0}
            assert api.get("payment/deferred_payments/x").status_code == 503


def test_requests_log_shape(api, admin, dp):
    api.get(f"payment/deferred_payments/{dp['id']}?expand=x")
    api.post(f"payment/deferred_payments/{dp['id']}/void", json={"amount": 1}, headers={"Idempotency-Key": "v"})
    log = admin.requests()
    arrivals = [entry.pop("at") for entry in log]  # wall clock, in arrival order
    assert arrivals == sorted(arrivals) and all(a.endswith("Z") for a in arrivals)
    assert log == [
        {
            "method": "GET",
            "path": f"/v1/payment/deferred_payments/{dp['id']}?expand=x",
            "idempotency_key": None,
            "body": None,
            "status": 200,
            "replayed": False,
            "fault": None,
        },
        {
            "method": "POST",
            "path": f"/v1/payment/deferred_payments/{dp['id']}/void",
            "idempotency_key": "v",
            "body": {"amount": 1},
            "status": 201,
            "replayed": False,
            "fault": None,
        },
    ]
    admin.clear_requests()
    assert admin.requests() == []


def test_python_api_context_manager_and_restart():
    emu = Emulator(api_key=API_KEY)
    base = emu.start()
    assert base == emu.base_url and base.startswith("http://127.0.0.1:")
    assert emu.api_url == base + "/v1/"
    assert API_KEY not in repr(emu)
    emu.stop()
    emu.stop()  # idempotent
    with pytest.raises(httpx.TransportError), httpx.Client(trust_env=False) as client:
        client.get(base + "/_admin/health")
