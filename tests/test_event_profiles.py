"""One deferred payment's story, through the real functions, under every reading of Hokodo the public evidence allows:
the guide's, the sparsest, and each sparse behaviour alone (emulator profiles). The bundle's own capture and refund,
a duplicated clawback notification, a capture by someone else that no notification announces, and an expiry whose
notification is lost; syncs after each, reconciliation runs while new events are added between them. Each fact is
published exactly once, with the right amount, and with the same id under every profile."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter

import pytest
from conftest import PROFILES, SPARSE_ALONE, capture_elsewhere, emf_metrics, message
from hokodo_postsale.events.facts import fact_id
from hokodo_postsale.observability import logger as layer_logger

DP = "defpay-ProfileStory0000000001"
EVERY_READING = [*PROFILES, *SPARSE_ALONE.values()]
READING_IDS = [*PROFILES, *SPARSE_ALONE]


def facts_of(events: list[dict]) -> list[tuple[str, int, str]]:
    return [(e["detail-type"], e["detail"].get("amount"), e["detail"]["id"]) for e in events]


@pytest.mark.parametrize("profile", EVERY_READING, ids=READING_IDS, indirect=True)
def test_each_fact_is_published_once_with_the_same_id_under_every_reading_of_hokodo(
    make_bundle, notifications, hokodo, emulator, profile
):
    hokodo.create_deferred_payment(100_000, id=DP, notification_url=notifications.url())
    shipments, returns = make_bundle("shipments", policy="partial_leave_open"), make_bundle("returns")
    published = []

    shipments.send(message("ship-1", DP, amount=30_000))  # the bundle's capture: on the bus without any notification
    shipments.run()
    published += notifications.published()
    returns.send(message("ret-1", DP, amount=10_000))  # and its refund (the status does not change: no notification)
    returns.run()
    published += notifications.published()
    assert facts_of(published) == [
        ("Deferred Payment Captured", 30_000, fact_id(DP, "captured\x1f30000")),
        ("Deferred Payment Refunded", 10_000, fact_id(DP, "refunded\x1f10000")),
    ]

    hokodo.add_webhook_faults({"duplicate": True, "deferred_payment": DP})  # Hokodo's clawback, notified twice
    hokodo.clawback(DP, 700)
    hokodo.wait_for_webhooks(2, timeout=10, where=lambda w: w["deferred_payment"] == DP)
    clawbacks = notifications.published()
    assert facts_of(clawbacks) == [("Deferred Payment Clawback", 700, fact_id(DP, "clawed_back\x1f700"))]

    # someone else captures 5000 (no status change: no notification); the reconciliation finds it, and the drift
    capture_elsewhere(emulator, DP, 5_000)
    notifications.reconcile()
    found = notifications.published()
    assert [f for f in facts_of(found) if not f[0].endswith("Drift Detected")] == [
        ("Deferred Payment Captured", 5_000, fact_id(DP, "captured\x1f35000"))
    ]
    [drift] = [e["detail"] for e in found if e["detail-type"] == "Deferred Payment Drift Detected"]
    assert drift["difference"] == {"captured": 5_000, "refunded": 0, "voided": 0}

    hokodo.add_webhook_faults({"drop": True, "deferred_payment": DP})  # the expiry's notification is lost
    hokodo.advance_clock(days=29)
    assert notifications.published() == []
    notifications.reconcile()
    [expired] = notifications.published()
    assert (expired["detail"]["expired_amount"], expired["detail"]["final_status"]) == (65_000, "captured")
    assert expired["detail"]["id"] == fact_id(DP, "expired\x1f65000")
    notifications.reconcile()
    assert notifications.published() == []  # nothing new: nothing published again
    assert notifications.dead_letters() == []


@pytest.fixture
def json_lines(capsys):
    """What the functions would send CloudWatch: the layer's JSON log lines, and the metric blobs they print."""
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(layer_logger.registered_formatter)
    layer_logger.addHandler(handler)
    capsys.readouterr()

    def read() -> tuple[list[dict], Counter[str]]:
        """The log lines, and each metric's sum over the EMF blobs."""
        out = capsys.readouterr().out
        return [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")], emf_metrics(out)

    yield read
    layer_logger.removeHandler(handler)


@pytest.mark.parametrize("profile", [{"null_zero_totals": True}], ids=["null-totals"], indirect=True)
def test_a_tolerated_answer_is_logged_and_counted(notifications, hokodo, json_lines):
    dp = hokodo.create_deferred_payment(50_000)["id"]
    hokodo.clawback(dp, 300)
    assert notifications.post({"data": {"order": {"deferred_payment": {"id": dp}}}}).status_code == 202
    [clawback] = notifications.published()
    assert clawback["detail"]["clawback_amount"] == 300
    lines, metrics = json_lines()
    [warning] = [line for line in lines if line.get("message") == "Hokodo's answer read tolerantly"]
    assert "refunds null: read as 0" in warning["tolerated"] and warning["deferred_payment_id"] == dp
    assert metrics["HokodoShapeTolerated"] >= 1


@pytest.mark.parametrize("profile", [{"event_type_names": {"clawback": "clawback_applied"}}], ids=["unknown-name"], indirect=True)
def test_an_event_type_the_bundle_does_not_know_is_counted_and_hides_nothing(notifications, hokodo, json_lines):
    dp = hokodo.create_deferred_payment(50_000)["id"]
    hokodo.clawback(dp, 450)
    assert notifications.post({"data": {"order": {"deferred_payment": {"id": dp}}}}).status_code == 202
    [clawback] = notifications.published()
    assert (clawback["detail"]["clawback_amount"], clawback["detail"]["hokodo_event_type"]) == (450, "clawback_applied")
    lines, metrics = json_lines()
    [warning] = [line for line in lines if line.get("message") == "unknown Hokodo event types"]
    assert warning["types"] == ["clawback_applied"]
    assert metrics["UnknownHokodoEventType"] == 1
