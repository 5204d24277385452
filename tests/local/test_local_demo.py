"""`python -m hokodo_local demo`, played in this process: what reached Hokodo, the ledgers, the DLQ."""

from __future__ import annotations

import io
import json

from conftest import LEDGER_FIELDS, zero
from hokodo_local.scenario import DOCUMENTS, WEBHOOKS, run_demo
from hokodo_local.template import SamTemplate


def test_the_demo_scenario_ends_with_the_expected_ledgers_and_dead_letter():
    out = io.StringIO()
    # INFO, the template's default: Powertools configures its logger once per process, and other tests read its INFO lines.
    result = run_demo(out, log_level="INFO")

    a, b = result.ledgers["A"], result.ledgers["B"]
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

    # Exactly one applied Hokodo call per business event: the duplicate shipment and the bad message sent nothing,
    # and the capture Hokodo answered with 503 was applied once, under one key, after the faults.
    applied = [r for r in result.hokodo_requests if not r["fault"]]
    calls = [(r["method"], r["path"].rsplit("/", 2)[-2:], r["body"], r["status"]) for r in applied]
    assert calls == [
        ("POST", [a["id"], "capture"], {"amount": 40_000, "metadata": {"shipment": "SH-1"}}, 201),
        ("POST", [a["id"], "capture_remaining"], {}, 201),
        ("POST", [a["id"], "refund"], {"amount": 15_000}, 201),
        ("POST", [b["id"], "void"], {"amount": 20_000}, 201),
        ("POST", [b["id"], "capture"], {"amount": 15_000}, 201),
        ("POST", [b["id"], "void_remaining"], {}, 201),
    ]
    assert all(r["idempotency_key"] and not r["replayed"] for r in result.hokodo_requests)
    assert len({r["idempotency_key"] for r in result.hokodo_requests if r["path"].endswith(f"{b['id']}/capture")}) == 1

    [letter] = result.dead_letters
    assert letter.queue == "ShipmentsDeadLetterQueue"
    assert json.loads(letter.body)["amount"] == 100.5
    assert letter.error_type == "InvalidMessage"
    assert "amount: Input should be a valid integer" in letter.reason

    template = SamTemplate.load()
    missing = [e.name for e in (DOCUMENTS, WEBHOOKS) if template.function_for(e.code_dir) is None]
    assert result.not_available == missing
    if DOCUMENTS.name in missing:
        assert "documents: not available yet (no documents function in template.yaml)" in out.getvalue()
    assert "What reached EventBridge" in out.getvalue()
