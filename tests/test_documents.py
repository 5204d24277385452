"""Order documents dropped in S3 reach Hokodo once: real objects in moto's S3, the bucket's real notification
on the real queue, the handler driven with what the event source receives, the emulator over HTTP."""

from __future__ import annotations

import hashlib
import json
import os

import boto3
import pytest
from conftest import PROFILES, REGION, message

# Hokodo read the guide's way and as sparsely as public evidence allows (the documents endpoint may ignore Idempotency-Key)
pytestmark = pytest.mark.parametrize("profile", PROFILES, indirect=True)

BUCKET = "merchant-documents"
PDF = b"%PDF-1.7\n" + os.urandom(4_000) + b"\n%%EOF\n"


@pytest.fixture
def make_documents(make_bundle):
    """The documents function wired as the template wires it: a versioned bucket whose ObjectCreated notifications
    go to the documents queue."""

    def make(max_document_bytes: int = 25_000_000):
        bundle = make_bundle("documents", MAX_DOCUMENT_BYTES=str(max_document_bytes))
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        queue_arn = bundle.sqs.get_queue_attributes(QueueUrl=bundle.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET,
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
        )
        bundle.s3 = s3
        return bundle

    return make


@pytest.fixture
def documents(make_documents):
    return make_documents()


def drop(documents, key: str, body: bytes = PDF, **metadata: str) -> str:
    """Put an object as an ERP would (`aws s3 cp --metadata …`); returns its version id."""
    return documents.s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata)["VersionId"]


def uploads(hokodo) -> list[dict]:
    return [r for r in hokodo.requests() if r["method"] == "POST" and r["path"].endswith("/documents")]


def tag_of(documents, key: str, version: str) -> str | None:
    tags = documents.s3.get_object_tagging(Bucket=BUCKET, Key=key, VersionId=version)["TagSet"]
    return next((t["Value"] for t in tags if t["Key"] == "hokodo-document-id"), None)


PREFIXES = {
    "invoices": "invoice",
    "credit-notes": "credit_note",
    "shipping": "shipping",
    "purchase-orders": "purchase_order",
    "other": "other",
}


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_each_document_type_is_uploaded_once_with_its_bytes_and_fields(documents, hokodo, prefix):
    dp = hokodo.create_deferred_payment(100_000)
    key = f"{prefix}/{dp['order']}/doc-1.pdf"
    version = drop(documents, key, amount="12345", description="Sent to the buyer", metadata='{"erp": {"id": 7}}')
    documents.run()
    document = hokodo.document(tag_of(documents, key, version))
    assert (document["doc_type"], document["amount"], document["description"]) == (PREFIXES[prefix], 12_345, "Sent to the buyer")
    assert document["metadata"] == {"erp": {"id": 7}} and document["order"] == dp["order"]
    assert document["sha256"] == hashlib.sha256(PDF).hexdigest() and document["size"] == len(PDF)
    assert (document["filename"], document["content_type"]) == ("doc-1.pdf", "application/pdf")
    assert len(uploads(hokodo)) == 1 and documents.dead_letters() == []


@pytest.mark.parametrize("name", ["Facture été 2024.pdf", "a+b = c.pdf", "日本/文書.pdf", "x=y&z?.pdf"])
def test_keys_with_spaces_plus_and_unicode_are_decoded_exactly(documents, hokodo, name):
    dp = hokodo.create_deferred_payment(100_000)
    key = f"invoices/{dp['order']}/{name}"
    version = drop(documents, key)
    documents.run()
    document = hokodo.document(tag_of(documents, key, version))
    assert document["filename"] == name.rsplit("/", 1)[-1] and document["sha256"] == hashlib.sha256(PDF).hexdigest()


def test_a_deferred_payment_id_is_resolved_to_its_order(documents, hokodo):
    dp = hokodo.create_deferred_payment(100_000)
    key = f"invoices/{dp['id']}/invoice.pdf"
    version = drop(documents, key)
    documents.run()
    assert hokodo.document(tag_of(documents, key, version))["order"] == dp["order"]


def test_the_invoice_moves_the_orders_payout_items_out_of_awaiting_document(make_bundle, documents, hokodo):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)
    shipments.send(message("ship-1", dp["id"], amount=60_000))
    shipments.run()
    assert [i["status"] for i in hokodo.payout_items(dp["order"])] == ["awaiting_document"]
    drop(documents, f"invoices/{dp['order']}/INV-1.pdf")
    documents.run()
    assert [i["status"] for i in hokodo.payout_items(dp["order"])] == ["payable"]


def test_a_duplicated_notification_uploads_once_and_a_new_version_is_a_new_document(documents, hokodo):
    dp = hokodo.create_deferred_payment(100_000)
    key = f"credit-notes/{dp['order']}/cn.pdf"
    first = drop(documents, key)
    [notification] = [m for m in documents.source.receive() if "TestEvent" not in m["Body"]]
    documents.sqs.send_message(QueueUrl=documents.queue_url, MessageBody=notification["Body"])  # S3 delivers it twice
    documents.sqs.send_message(QueueUrl=documents.queue_url, MessageBody=notification["Body"])
    documents.run()
    assert len(uploads(hokodo)) == 1
    second = drop(documents, key, PDF + b"% corrected\n")
    documents.run()
    assert len(uploads(hokodo)) == 2 and tag_of(documents, key, first) != tag_of(documents, key, second)


def test_a_20_mb_pdf_arrives_intact(documents, hokodo):
    dp = hokodo.create_deferred_payment(100_000)
    big = b"%PDF-1.7\n" + os.urandom(20 * 1000 * 1000)
    key = f"shipping/{dp['order']}/pod-scan.pdf"
    version = drop(documents, key, big)
    documents.run()
    document = hokodo.document(tag_of(documents, key, version))
    assert document["size"] == len(big) and document["sha256"] == hashlib.sha256(big).hexdigest()


def test_a_drop_for_an_unknown_order_is_uploaded_once_when_redriven_after_the_fix(documents, hokodo):
    order = "order-NotYetOnHokodo000000001"
    key = f"invoices/{order}/inv.pdf"
    version = drop(documents, key)
    documents.run()
    [dead] = documents.dead_letters(keep=True)
    assert f"s3://{BUCKET}/{key} (version {version})" in dead["reason"] and "404" in dead["reason"]
    hokodo.create_deferred_payment(50_000, order_id=order)
    documents.redrive()
    documents.run()
    assert hokodo.document(tag_of(documents, key, version))["order"] == order
    assert documents.dead_letters() == []


BAD_DROPS = {
    "not-a-pdf": ("invoices/{order}/invoice.pdf", b"PK\x03\x04 a zip named .pdf", {}, "not a PDF"),
    "empty": ("invoices/{order}/empty.pdf", b"", {}, "the object is empty"),
    "no-order-segment": ("invoices/invoice.pdf", PDF, {}, "must be a Hokodo order id (order-…) or deferred payment id"),
    "not-an-order-id": ("invoices/ACME-42/invoice.pdf", PDF, {}, "must be a Hokodo order id"),
    "unknown-prefix": ("receipts/{order}/r.pdf", PDF, {}, "unknown prefix 'receipts'"),
    "negative-amount": ("invoices/{order}/i.pdf", PDF, {"amount": "-100"}, "x-amz-meta-amount: String should match pattern"),
    "decimal-amount": ("invoices/{order}/i.pdf", PDF, {"amount": "100.00"}, "x-amz-meta-amount: String should match pattern"),
    "nan-in-metadata": ("invoices/{order}/i.pdf", PDF, {"metadata": '{"a": NaN}'}, "NaN is not a JSON number"),
    "metadata-not-an-object": (
        "invoices/{order}/i.pdf",
        PDF,
        {"metadata": "[1, 2]"},
        "x-amz-meta-metadata: Input should be a valid dictionary",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DROPS))
def test_a_bad_drop_is_dead_lettered_naming_its_object_and_its_neighbour_uploaded(documents, hokodo, case):
    dp = hokodo.create_deferred_payment(100_000)
    key, body, metadata, reason = BAD_DROPS[case]
    key = key.format(order=dp["order"])
    drop(documents, key, body, **metadata)
    drop(documents, f"other/{dp['order']}/neighbour.pdf")
    documents.run()
    [dead] = documents.dead_letters()
    assert reason in dead["reason"] and f"s3://{BUCKET}/{key}" in dead["reason"]
    assert [u["body"]["file"]["filename"] for u in uploads(hokodo)] == ["neighbour.pdf"]


def test_an_object_over_the_size_limit_is_dead_lettered(make_documents, hokodo):
    documents = make_documents(max_document_bytes=1_000)
    dp = hokodo.create_deferred_payment(100_000)
    key = f"invoices/{dp['order']}/big.pdf"
    version = drop(documents, key)
    documents.run()
    [dead] = documents.dead_letters()
    assert "more than MaxDocumentBytes (1000)" in dead["reason"] and f"(version {version})" in dead["reason"]


def test_an_object_deleted_or_overwritten_before_processing_is_dead_lettered_never_the_newer_bytes(documents, hokodo):
    dp = hokodo.create_deferred_payment(100_000)
    deleted, overwritten = f"invoices/{dp['order']}/gone.pdf", f"invoices/{dp['order']}/replaced.pdf"
    drop(documents, deleted)
    documents.s3.delete_object(Bucket=BUCKET, Key=deleted)
    drop(documents, overwritten)
    newer = drop(documents, overwritten, PDF + b"% newer\n")
    documents.run()
    reasons = sorted(d["reason"] for d in documents.dead_letters())
    assert len(reasons) == 2
    assert "gone.pdf" in reasons[0] and "deleted before it was processed" in reasons[0]
    assert "replaced.pdf" in reasons[1] and "overwritten before it was processed" in reasons[1]
    [upload] = uploads(hokodo)  # the newer version, by its own notification
    assert upload["body"]["file"]["sha256"] == hashlib.sha256(PDF + b"% newer\n").hexdigest()
    assert tag_of(documents, overwritten, newer) is not None


def test_s3s_test_event_and_folder_keys_are_skipped(documents, hokodo):
    dp = hokodo.create_deferred_payment(100_000)
    documents.s3.put_object(Bucket=BUCKET, Key=f"invoices/{dp['order']}/")  # a "folder" made in the console
    drop(documents, f"invoices/{dp['order']}/real.pdf")
    invocations = documents.run()
    bodies = [json.loads(r["body"]) for i in invocations for r in i.event["Records"]]
    assert any(b.get("Event") == "s3:TestEvent" for b in bodies)  # moto, like S3, sends it when the notification is set
    assert all(not i.failed for i in invocations) and documents.dead_letters() == []
    assert len(uploads(hokodo)) == 1


def test_a_deferred_payment_that_names_no_order_is_dead_lettered_saying_so(documents, hokodo):
    dp = hokodo.create_deferred_payment(100_000)
    answer = {"id": dp["id"], "status": "accepted", "order": None}  # Hokodo answering without the order
    hokodo.add_faults({"status": 200, "body": answer, "path_contains": f"/deferred_payments/{dp['id']}", "count": 4})
    drop(documents, f"invoices/{dp['id']}/inv.pdf")
    documents.run()
    [dead] = documents.dead_letters()
    assert dead["error_type"] == "HokodoProtocolError" and "names no order" in dead["reason"] and uploads(hokodo) == []
