"""Answers that leave an action's outcome unknown, through the real handlers, moto SQS and the emulator over HTTP:
conflicts on the Idempotency-Key however Hokodo words them (never a new key generation), an action left in doubt
longer than Hokodo is trusted to remember its key (decided by Hokodo's totals, never sent blind), and a document upload
that reached Hokodo without an answer (never sent again blind: parked for the operator)."""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import API_KEY, capture_elsewhere, ledger, message, zero
from test_documents import PDF, drop, make_documents  # noqa: F401 - make_documents is a fixture

DAY = 24 * 3600
KEY_TRUST = 5  # seconds: long enough for the parking receives, however slow the machine is


def later(bundle):
    """Deliver again once the visibility timeout (1 s in these tests) has let failed records come back."""
    time.sleep(1.05)
    return bundle.run()


def captures(hokodo, dp: str) -> list[dict]:
    return [r for r in hokodo.requests() if r["path"].endswith(f"{dp}/capture")]


# -- a conflict on the Idempotency-Key, whatever its wording ---------------------------------------------------------
CONFLICTS = {
    "422-emulator": {"status": 422, "body": {"detail": "Idempotency-Key reused with a different request."}},
    "400-field-errors": {"status": 400, "body": {"idempotency_key": ["A request with this key was already made."]}},
    "400-plain-words": {"status": 400, "body": {"non_field_errors": ["This idempotency key has been used before."]}},
    "409-any-body": {"status": 409, "body": {"detail": "Conflict."}},
}


@pytest.mark.parametrize("answer", CONFLICTS.values(), ids=CONFLICTS)
def test_a_conflict_on_the_key_is_dead_lettered_and_never_moves_the_key_on(make_bundle, hokodo, answer):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({**answer, "path_contains": "/capture"})
    shipments.send(message("ship-1", dp, amount=30_000))
    shipments.run()
    [dead] = shipments.dead_letters(keep=True)
    assert dead["error_type"] == "IdempotencyKeyConflict" and "may have been applied" in dead["reason"]
    assert ledger(hokodo, dp) == {**zero(), "authorisation": 100_000}
    shipments.redrive()  # the operator checked: not applied
    shipments.run()
    assert ledger(hokodo, dp)["protected_captures"] == 30_000
    assert len({r["idempotency_key"] for r in captures(hokodo, dp)}) == 1  # the redrive went under the same key


@pytest.mark.parametrize("profile", ["sparse"], indirect=True)
def test_hokodos_own_conflict_answer_under_the_sparse_reading_is_recognised(hokodo, emulator):
    """A key reused with another body, answered as the sparse profile does (400, a field error on the key)."""
    dp = hokodo.create_deferred_payment(100_000)["id"]
    key = "6137a259-16b2-52ba-bb6b-bda615815488"
    headers = {"Authorization": f"Token {API_KEY}", "Idempotency-Key": key}
    url = f"{emulator.api_url}payment/deferred_payments/{dp}/capture"
    httpx.post(url, json={"amount": 1}, headers=headers).raise_for_status()
    reused = httpx.post(url, json={"amount": 2}, headers=headers)
    assert reused.status_code == 400 and "idempotency_key" in reused.json()
    from hokodo_postsale.hokodo.client import error_from_response

    assert type(error_from_response(reused, "capture")).__name__ == "IdempotencyKeyConflict"


# -- an action in doubt for longer than Hokodo is trusted to remember its key ----------------------------------------
def park_in_doubt(make_bundle, hokodo, *, applied: bool):
    """A capture of 30000 whose answer never comes (the first attempt applied, or not), then 503s until it is parked;
    redriven once Hokodo is trusted no more to remember its key (KeyTrustSeconds 5 here, 24 h by default)."""
    shipments = make_bundle("shipments", policy="partial_leave_open", max_receive_count=2, KEY_TRUST_SECONDS=str(KEY_TRUST))
    dp = hokodo.create_deferred_payment(100_000)["id"]
    sent = time.time()
    first = {"drop_after_apply": True} if applied else {"drop": True}
    hokodo.add_faults({**first, "path_contains": "/capture"}, {"status": 503, "path_contains": "/capture", "count": 7})
    shipments.send(message("ship-1", dp, amount=30_000))
    shipments.run()
    later(shipments)
    [parked] = shipments.dead_letters(keep=True)
    assert parked["error_type"] == "HokodoUnavailable" and "last allowed receive" in parked["reason"]
    hokodo.clear_faults()
    hokodo.forget_idempotency_keys()  # Hokodo's key retention ran out before the operator redrove it
    time.sleep(max(0.0, sent + KEY_TRUST + 0.5 - time.time()))  # the first attempt is now older than KeyTrustSeconds
    return shipments, dp


def test_an_in_doubt_capture_found_in_hokodos_totals_is_recorded_as_applied_not_sent_again(make_bundle, notifications, hokodo):
    shipments, dp = park_in_doubt(make_bundle, hokodo, applied=True)
    sent_before = len(captures(hokodo, dp))
    shipments.redrive()
    shipments.run()
    assert ledger(hokodo, dp)["protected_captures"] == 30_000  # once
    assert len(captures(hokodo, dp)) == sent_before  # nothing sent: Hokodo's totals showed it applied
    notifications.track()
    assert [e["detail"]["amount"] for e in notifications.published()] == [30_000]  # and the bundle's record has it
    assert shipments.dead_letters() == []


def test_an_in_doubt_capture_absent_from_hokodos_totals_is_sent_once(make_bundle, hokodo):
    shipments, dp = park_in_doubt(make_bundle, hokodo, applied=False)
    assert ledger(hokodo, dp)["protected_captures"] == 0
    shipments.redrive()
    shipments.run()
    assert ledger(hokodo, dp)["protected_captures"] == 30_000
    assert shipments.dead_letters() == []


def test_an_in_doubt_capture_the_totals_cannot_decide_is_dead_lettered_saying_what_to_check(make_bundle, hokodo, emulator):
    shipments, dp = park_in_doubt(make_bundle, hokodo, applied=True)
    capture_elsewhere(emulator, dp, 5_000)
    sent_before = len(captures(hokodo, dp))
    shipments.redrive()
    shipments.run()
    assert len(captures(hokodo, dp)) == sent_before and ledger(hokodo, dp)["protected_captures"] == 35_000
    [dead] = shipments.dead_letters()
    assert dead["error_type"] == "OutcomeUndecidable"
    assert "captured total is 35000" in dead["reason"] and f"Check the deferred payment {dp} at Hokodo" in dead["reason"]


def test_within_the_key_trust_an_in_doubt_capture_is_resent_under_its_key(make_bundle, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open", KEY_TRUST_SECONDS=str(DAY))
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({"drop_after_apply": True, "path_contains": "/capture"})
    shipments.send(message("ship-1", dp, amount=30_000))
    shipments.run()
    assert ledger(hokodo, dp)["protected_captures"] == 30_000
    assert [r["replayed"] for r in captures(hokodo, dp)] == [False, True]  # Hokodo replayed its answer to the retry


# -- a document upload that reached Hokodo without an answer -------------------------------------------------------
@pytest.mark.parametrize("profile", ["default", "sparse"], indirect=True)
@pytest.mark.parametrize("outcome", ["applied", "not-applied"])
def test_an_upload_without_an_answer_is_parked_for_the_operator_never_sent_again_blind(make_documents, hokodo, outcome):  # noqa: F811
    documents = make_documents()
    dp = hokodo.create_deferred_payment(100_000)
    hokodo.add_faults({"drop_after_apply" if outcome == "applied" else "drop": True, "path_contains": "/documents"})
    drop(documents, f"invoices/{dp['order']}/INV-9.pdf", PDF)
    documents.run()
    [parked] = documents.dead_letters(keep=True)
    assert parked["error_type"] == "OutcomeInDoubt"
    assert f"Check at Hokodo whether order {dp['order']} holds INV-9.pdf" in parked["reason"]
    held = [d["filename"] for d in hokodo.order_documents(dp["order"])]
    assert held == (["INV-9.pdf"] if outcome == "applied" else [])  # one attempt, never repeated
    if outcome == "not-applied":  # the runbook: Hokodo does not hold it, so redrive: uploaded once
        documents.redrive()
        documents.run()
        assert [d["filename"] for d in hokodo.order_documents(dp["order"])] == ["INV-9.pdf"]
        assert documents.dead_letters() == []


@pytest.mark.parametrize("profile", ["default", "sparse"], indirect=True)
def test_an_upload_refused_with_503_is_retried_and_uploaded_once(make_documents, hokodo):  # noqa: F811
    documents = make_documents()
    dp = hokodo.create_deferred_payment(100_000)
    hokodo.add_faults({"status": 503, "path_contains": "/documents"})
    drop(documents, f"invoices/{dp['order']}/INV-10.pdf", PDF)
    documents.run()
    assert [d["filename"] for d in hokodo.order_documents(dp["order"])] == ["INV-10.pdf"]
    assert documents.dead_letters() == []
