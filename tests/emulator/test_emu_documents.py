"""Order documents: real multipart uploads, validation, retrieval, idempotency."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

PDF = b"%PDF-1.4\n" + os.urandom(3000) + b"\r\n--not-a-boundary\r\n\x00\xff"


def docs_url(order_id: str) -> str:
    return f"payment/orders/{order_id}/documents"


def upload(api, order_id, data=None, files=None, **kw):
    files = files if files is not None else {"file": ("invoice 42.pdf", PDF, "application/pdf")}
    return api.post(docs_url(order_id), files=files, data=data or {}, **kw)


def test_upload_and_get_document(api, admin, dp):
    data = {
        "doc_type": "invoice",
        "description": "Invoice sent to customer",
        "amount": "10000",
        "metadata": json.dumps({"unique_id": "some_unique_id"}),
    }
    r = upload(api, dp["order"], data)
    assert r.status_code == 201
    doc = r.json()
    assert doc["id"].startswith("odoc-") and len(doc["id"]) == len("odoc-") + 22
    assert doc["order"] == dp["order"]
    assert (doc["doc_type"], doc["description"], doc["amount"]) == ("invoice", "Invoice sent to customer", 10000)
    assert doc["metadata"] == {"unique_id": "some_unique_id"}
    assert doc["file"].startswith(api.base_url.scheme + "://")
    assert doc["file"].endswith(f"/files/{doc['id']}/invoice%2042.pdf")

    got = api.get(f"{docs_url(dp['order'])}/{doc['id']}")
    assert got.status_code == 200 and got.json() == doc

    stored = admin.document(doc["id"])
    assert stored["size"] == len(PDF)
    assert stored["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert stored["filename"] == "invoice 42.pdf"

    download = api.get(doc["file"])
    assert download.status_code == 200 and download.content == PDF

    logged = admin.requests()[0]["body"]
    assert logged["doc_type"] == "invoice"
    assert logged["file"] == {
        "filename": "invoice 42.pdf",
        "content_type": "application/pdf",
        "size": len(PDF),
        "sha256": hashlib.sha256(PDF).hexdigest(),
    }


def test_defaults(api, dp):
    r = upload(api, dp["order"])
    assert r.status_code == 201
    doc = r.json()
    assert (doc["doc_type"], doc["description"], doc["amount"], doc["metadata"]) == ("other", "", None, {})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"doc_type": "receipt"}, "doc_type"),
        ({"amount": "100.00"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"metadata": "{not json"}, "metadata"),
        ({"metadata": "[1, 2]"}, "metadata"),
    ],
)
def test_invalid_fields_are_400(api, dp, data, field):
    r = upload(api, dp["order"], data)
    assert r.status_code == 400
    assert list(r.json()) == [field]


def test_missing_or_non_file_part_is_400(api, dp):
    r = api.post(docs_url(dp["order"]), files={"other": ("a.pdf", b"x")}, data={"doc_type": "invoice"})
    assert r.status_code == 400 and r.json() == {"file": ["No file was submitted."]}
    r = api.post(docs_url(dp["order"]), files={"file": (None, b"plain field")})
    assert r.status_code == 400 and list(r.json()) == ["file"]
    r = upload(api, dp["order"], files={"file": ("empty.pdf", b"")})
    assert r.status_code == 400 and r.json() == {"file": ["The submitted file is empty."]}


def test_json_body_is_415(api, dp):
    r = api.post(docs_url(dp["order"]), json={"file": "x"})
    assert r.status_code == 415


def test_unknown_order_and_document_are_404(api, admin, dp):
    assert upload(api, "order-nope").status_code == 404
    assert api.get(f"{docs_url(dp['order'])}/odoc-nope").status_code == 404
    other = admin.create_deferred_payment(500)
    doc = upload(api, dp["order"]).json()
    assert api.get(f"{docs_url(other['order'])}/{doc['id']}").status_code == 404


def test_idempotent_upload_survives_a_new_multipart_boundary(api, admin, dp):
    headers = {"Idempotency-Key": "doc-1"}
    first = upload(api, dp["order"], {"doc_type": "invoice"}, headers=headers)
    second = upload(api, dp["order"], {"doc_type": "invoice"}, headers=headers)  # httpx picks a new boundary
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    changed = upload(api, dp["order"], {"doc_type": "credit_note"}, headers=headers)
    assert changed.status_code == 422
    assert len([r for r in admin.requests() if r["status"] == 201 and not r["replayed"]]) == 1


def test_payout_items_wait_for_the_orders_invoice(api, admin, dp):
    order = dp["order"]
    assert api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 4_000}).status_code == 201
    [item] = admin.payout_items(order)
    assert (item["amount"], item["status"], item["deferred_payment"]) == (4_000, "awaiting_document", dp["id"])
    assert upload(api, order, {"doc_type": "shipping"}).status_code == 201  # not an invoice: still waiting
    assert admin.payout_items(order)[0]["status"] == "awaiting_document"
    assert upload(api, order, {"doc_type": "invoice"}).status_code == 201
    assert admin.payout_items(order)[0]["status"] == "payable"
    assert api.post(f"payment/deferred_payments/{dp['id']}/capture", json={"amount": 1_000}).status_code == 201
    assert [i["status"] for i in admin.payout_items(order)] == ["payable", "payable"]  # invoiced already
