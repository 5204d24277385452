"""The bad-input corpus (tests/corpus/<function>/<case>.json): each case states its input and its outcome
(dead-lettered with a reason containing …, a 4xx, skipped), and goes through the real function with a good
neighbour in the same batch (or, for webhooks, a good notification after it) that must be applied."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from conftest import capture_elsewhere, ledger, message
from notifications_support import payload_of
from test_documents import BUCKET, drop, make_documents, uploads  # noqa: F401 - make_documents is a fixture

CORPUS = Path(__file__).resolve().parent / "corpus"
CASES = sorted(CORPUS.glob("*/*.json"))
NEIGHBOUR = {"shipments": {"amount": 1_000}, "returns": {"amount": 1_000}, "cancellations": {"amount": 1_000}}


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def text(value: str | dict, **names: str) -> str:
    if isinstance(value, dict):
        if value.get("generate") == "nested":
            return "[" * value["depth"] + "]" * value["depth"]
        if value.get("generate") == "padding":
            return '{"pad": "' + "x" * value["bytes"] + '"}'
    for name, replacement in names.items():
        value = value.replace("{" + name + "}", replacement)
    return value


def test_the_corpus_has_at_least_60_cases_of_every_kind():
    functions = {load(p)["function"] for p in CASES}
    assert len(CASES) >= 60 and functions == {"shipments", "returns", "cancellations", "documents", "webhooks"}


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name in NEIGHBOUR], ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_a_bad_message_is_dead_lettered_with_its_reason_and_its_neighbour_applied(make_bundle, hokodo, emulator, path):
    case = load(path)
    bundle = make_bundle(case["function"], policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    if case["function"] == "returns":
        capture_elsewhere(emulator, dp, 50_000)
    before = ledger(hokodo, dp)
    bundle.send(text(case["body"], dp=dp), message("good-neighbour", dp, **NEIGHBOUR[case["function"]]))
    [invocation] = bundle.run()
    assert len(invocation.deleted) == 2 and invocation.error is None
    assert ledger(hokodo, dp) != before  # the neighbour was applied
    [dead] = bundle.dead_letters()
    assert dead["error_type"] == case["expect"]["error_type"] and case["expect"]["reason_contains"] in dead["reason"]


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "documents"], ids=lambda p: f"documents/{p.stem}")
def test_a_bad_drop_ends_as_its_case_says_and_its_neighbour_is_uploaded(make_documents, hokodo, path):  # noqa: F811
    case = load(path)
    documents = make_documents(max_document_bytes=case.get("max_document_bytes", 25_000_000))
    dp = hokodo.create_deferred_payment(100_000)
    key = text(case["key"], order=dp["order"])
    content = case["content"]["text"].encode() if "text" in case["content"] else base64.b64decode(case["content"]["base64"])
    drop(documents, key, content, **case["metadata"])
    drop(documents, f"other/{dp['order']}/neighbour.pdf", b"%PDF-1.7\nneighbour\n%%EOF\n")
    documents.run()
    uploaded = [u["body"]["file"]["filename"] for u in uploads(hokodo) if u["status"] == 201]
    dead = documents.dead_letters()
    expect = case["expect"]
    if expect["outcome"] == "dead-lettered":
        [letter] = dead
        assert letter["error_type"] == expect["error_type"] and expect["reason_contains"] in letter["reason"]
        assert f"s3://{BUCKET}/" in letter["reason"] and uploaded == ["neighbour.pdf"]
    elif expect["outcome"] == "uploaded":
        assert dead == [] and sorted(uploaded) == sorted([expect["filename"], "neighbour.pdf"])
    else:  # skipped
        assert dead == [] and uploaded == ["neighbour.pdf"]


@pytest.mark.parametrize("path", [p for p in CASES if p.parent.name == "webhooks"], ids=lambda p: f"webhooks/{p.stem}")
def test_a_bad_notification_gets_its_answer_publishes_nothing_and_a_good_one_still_works(notifications, hokodo, path):
    case = load(path)
    dp = hokodo.create_deferred_payment(100_000)["id"]
    secret = notifications.current if case["secret"] == "right" else case["secret"]
    answer = notifications.post(None, secret=secret, raw=text(case["body"], dp=dp).encode())
    assert answer.status_code == case["expect"]["status"]
    assert len(notifications.published()) == case["expect"]["published"]
    hokodo.clawback(dp, 300)
    assert notifications.post(payload_of(hokodo, dp)).status_code == 202
    assert [e["detail-type"] for e in notifications.published()] == ["Deferred Payment Clawback"]
