"""`python -m hokodo_local demo`, played in this process: what reached Hokodo, the ledgers, the invoice upload, Hokodo's
notifications through the webhook route, what was published to the bus (one expiry recovered by the reconciliation),
and the DLQ."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest
from conftest import LEDGER_FIELDS, zero
from hokodo_local.scenario import INVOICE_PDF, DemoResult, run_demo


@pytest.fixture(scope="module")
def demo() -> tuple[DemoResult, str, dict[str, str]]:
    """The demo, played once for this module's tests: its result, what it printed, and each deferred payment's label."""
    out = io.StringIO()
    # INFO, the template's default: Powertools configures its logger once per process, and other tests read its INFO lines.
    result = run_demo(out, log_level="INFO")
    return result, out.getvalue(), {dp: label for label, dp in result.deferred_payments.items()}


def test_the_ledgers_are_what_the_orders_messages_say(demo):
    result, _, _ = demo
    a, b, c, d = (result.ledgers[x] for x in "ABCD")
    assert {k: a[k] for k in LEDGER_FIELDS} == {
        **zero(),
        "protected_captures": 85_000,
        "refunds": 15_000,
        "clawback_amount": 5_000,
    }
    assert a["status"] == "captured"
    # B: 20000 voided, 15000 captured, then the rest voided by the cancellation that waited for that capture (`after`)
    assert {k: b[k] for k in LEDGER_FIELDS} == {**zero(), "protected_captures": 15_000, "voided_authorisation": 35_000}
    assert b["status"] == "captured"
    # C and D: part captured, the rest expired
    assert {k: c[k] for k in LEDGER_FIELDS} == {**zero(), "protected_captures": 10_000, "expired_authorisation": 20_000}
    assert {k: d[k] for k in LEDGER_FIELDS} == {**zero(), "protected_captures": 5_000, "expired_authorisation": 15_000}


def test_exactly_one_hokodo_call_per_business_event(demo):
    result, _, _ = demo
    a, b, c, d = (result.ledgers[x] for x in "ABCD")
    # Exactly one applied Hokodo call per business event: the duplicate shipment and the bad message sent nothing,
    # and the capture Hokodo answered with 503 was applied once, under one key, after the faults.
    applied = [r for r in result.hokodo_requests if r["method"] == "POST" and not r["fault"]]
    calls = [(r["method"], r["path"].rsplit("/", 2)[-2:], r["body"], r["status"]) for r in applied]
    calls.pop(2)  # the invoice's upload
    assert calls[:6] == [
        ("POST", [a["id"], "capture"], {"amount": 40_000, "metadata": {"shipment": "SH-1"}}, 201),
        ("POST", [a["id"], "capture_remaining"], {}, 201),
        ("POST", [a["id"], "refund"], {"amount": 15_000}, 201),
        ("POST", [b["id"], "void"], {"amount": 20_000}, 201),
        ("POST", [b["id"], "capture"], {"amount": 15_000}, 201),
        ("POST", [b["id"], "void_remaining"], {}, 201),
    ]
    assert sorted(calls[6:]) == sorted(  # one batch: C's and D's shipments are applied concurrently
        [("POST", [c["id"], "capture"], {"amount": 10_000}, 201), ("POST", [d["id"], "capture"], {"amount": 5_000}, 201)]
    )
    assert all(r["idempotency_key"] and not r["replayed"] for r in result.hokodo_requests if r["method"] == "POST")
    assert len({r["idempotency_key"] for r in result.hokodo_requests if r["path"].endswith(f"{b['id']}/capture")}) == 1


def test_the_invoice_is_uploaded_once_verified_tagged_and_releases_the_payout_items(demo):
    result, _, _ = demo
    a = result.ledgers["A"]
    applied = [r for r in result.hokodo_requests if r["method"] == "POST" and not r["fault"]]
    documents_call = [(r["path"].rsplit("/", 2)[-2:], r["status"]) for r in applied if r["path"].endswith("/documents")][0]
    assert documents_call == ([a["order"], "documents"], 201)
    [document] = result.documents
    assert document["key"] == f"invoices/{a['order']}/INV-A-1.pdf" and document["tag"] == document["document"]["id"]
    hokodo_document = document["document"]
    assert (hokodo_document["order"], hokodo_document["doc_type"], hokodo_document["amount"]) == (a["order"], "invoice", 100_000)
    assert (hokodo_document["filename"], hokodo_document["size"]) == ("INV-A-1.pdf", len(INVOICE_PDF))
    reads = [r for r in result.hokodo_requests if r["method"] == "GET" and r["path"].endswith(f"/documents/{document['tag']}")]
    assert [r["status"] for r in reads] == [200]
    payout_items = result.payout_items["A"]
    assert {i["status"] for i in payout_items["before"]} == {"awaiting_document"}
    assert [i["status"] for i in payout_items["after"]] == ["payable"] * len(payout_items["before"]) == ["payable", "payable"]


def test_each_fact_reaches_the_bus_once_within_the_step_that_caused_it(demo):
    result, out, label = demo
    # Hokodo's notifications reached the webhook route and were queued for their sync (202), except D's expiry, lost.
    notifications = [(label[w["deferred_payment"]], w["reason"], w["status"], w["error"]) for w in result.notifications]
    assert sorted(notifications) == sorted(
        [
            ("A", "status_change", 202, None),
            ("B", "status_change", 202, None),
            ("C", "status_change", 202, None),
            ("D", "status_change", 202, None),
            ("C", "expiration", 202, None),
            ("D", "expiration", None, "dropped"),
            ("A", "clawback", 202, None),
        ]
    )

    # Each fact Hokodo shows was published to the bus once: after the bundle's own actions, a notification, or the
    # reconciliation, whichever came first.
    ledger_facts = [e for e in result.events if e["detail-type"] != "Deferred Payment Status Changed"]
    published = Counter((e["detail-type"], label[e["detail"]["deferred_payment_id"]], amount(e)) for e in ledger_facts)
    assert published == Counter(
        {
            ("Deferred Payment Captured", "A", 40_000): 1,
            ("Deferred Payment Captured", "A", 60_000): 1,
            ("Deferred Payment Refunded", "A", 15_000): 1,
            ("Deferred Payment Clawback", "A", 5_000): 1,
            ("Deferred Payment Voided", "B", 20_000): 1,
            ("Deferred Payment Captured", "B", 15_000): 1,
            ("Deferred Payment Voided", "B", 15_000): 1,
            ("Deferred Payment Captured", "C", 10_000): 1,
            ("Deferred Payment Expired", "C", 20_000): 1,
            ("Deferred Payment Captured", "D", 5_000): 1,
            ("Deferred Payment Expired", "D", 15_000): 1,
        }
    )
    assert len({e["detail"]["id"] for e in result.events}) == len(result.events)
    # B was first seen accepted (its void), then captured: its one status change. A, C and D were first seen captured.
    changes = [e["detail"] for e in result.events if e["detail-type"] == "Deferred Payment Status Changed"]
    assert [(label[c["deferred_payment_id"]], c["old_status"], c["new_status"]) for c in changes] == [
        ("B", "accepted", "captured")
    ]
    # The bundle's own actions reached the bus within their step, without waiting for a notification or the schedule:
    # A's refund under step 6, B's void of the rest under step 8.
    in_step = {
        step: [(e["detail-type"], label[e["detail"]["deferred_payment_id"]], amount(e)) for e in events]
        for step, events in result.step_events.items()
    }
    assert ("Deferred Payment Refunded", "A", 15_000) in in_step[6]
    assert ("Deferred Payment Voided", "B", 15_000) in in_step[8]
    assert in_step[13] == [("Deferred Payment Expired", "D", 15_000)]  # D's lost expiry, by the reconciliation
    assert all(e["source"] == "hokodo.postsale" for e in result.events)
    expired = {
        label[e["detail"]["deferred_payment_id"]]: e["detail"] for e in result.events if e["detail-type"].endswith("Expired")
    }
    assert expired["C"]["final_status"] == expired["D"]["final_status"] == "captured"
    # D's expiry came from the reconciliation (its notification was lost), run once with the schedule's input.
    assert result.reconciliation == {"watched": 4, "queued": 4}
    assert "hokodo-postsale.reconciliation" in out
    # The template's sample rule sent finance's queue the expiries and the clawback.
    [(rule, delivered)] = result.rule_deliveries.items()
    assert rule == "ExpiriesAndClawbacksRule -> ExpiriesAndClawbacksQueue"
    assert sorted((e["detail-type"], label[e["detail"]["deferred_payment_id"]]) for e in delivered) == [
        ("Deferred Payment Clawback", "A"),
        ("Deferred Payment Expired", "C"),
        ("Deferred Payment Expired", "D"),
    ]


def test_the_bad_message_is_in_its_dlq_with_its_reason(demo):
    result, out, _ = demo
    [letter] = result.dead_letters
    assert letter.queue == "ShipmentsDeadLetterQueue"
    assert json.loads(letter.body) | {"amount": None} == {
        "event_id": "oms-ship-B-2",
        "deferred_payment_id": result.deferred_payments["B"],
        "amount": None,
    }
    assert json.loads(letter.body)["amount"] == 100.5  # its own event_id: not B's shipment, which was applied
    assert letter.error_type == "InvalidMessage"
    assert "amount: Input should be a valid integer" in letter.reason
    assert "not available" not in out


def test_each_step_prints_what_it_caused_in_the_order_it_happened(demo):
    _, out, _ = demo
    step = out.split("== 2. ")[1].split("\n== ")[0]
    lines = [line.strip() for line in step.splitlines()]

    def first(text: str) -> int:
        return next(i for i, line in enumerate(lines) if text in line)

    # the shipment, its capture at Hokodo, Hokodo's notification and the webhook that took it, the stream, the sync, the bus
    assert first("Lambda ShipmentsFunction") < first("/capture") < first("Lambda WebhooksFunction")
    assert first("Lambda WebhooksFunction") < first("Lambda SyncFunction") < first("GET /v1/payment/deferred_payments")
    assert first("Lambda TrackingFunction") < first("Lambda SyncFunction")
    assert first("Hokodo notifies order A") > first("/capture")
    assert lines[-1].startswith("bus: Deferred Payment Captured") and "amount 40000" in lines[-1]


def amount(event: dict) -> int | None:
    detail = event["detail"]
    return detail.get("expired_amount") or detail.get("clawback_amount") or detail.get("amount")
