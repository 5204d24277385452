"""Documents dropped in S3 become Hokodo order documents: uploaded once, verified, and tagged.

Hokodo holds an order's payout items in `awaiting_document` until its invoice is uploaded, so this path
gates the merchant's cash. Per drop: read the version the notification names (spooled to /tmp, checked
to be a PDF), resolve a deferred payment to its order, upload it (multipart, as the guide says) under an
Idempotency-Key derived from bucket, key and version, read the document back to verify it, and tag the
S3 version with Hokodo's document id so the merchant can see what was sent.
"""

from __future__ import annotations

# isort: off
from ..runner.batch import QueueFunction  # first: Powertools' batch module loads every parser model if pydantic came before it
# isort: on

import os
from collections.abc import Callable
from typing import TypedDict

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from ..contracts.document_drops import DocumentDrop, document_fields, parse_notification
from ..errors import HokodoProtocolError, OutcomeInDoubt
from ..hokodo.models import OrderDocument
from ..runner.actions import ApplyContext
from ..settings import Settings
from .s3_documents import TAG, DocumentsBucket

KIND = "document"
PDF = "application/pdf"
logger = Logger()


class DocumentUploaded(TypedDict):
    """What a document drop applied: kept by Powertools as the event's result."""

    order_id: str
    document_id: str
    doc_type: str
    size: int
    sha256: str
    version_id: str | None
    tag: str | None  # TAG when the S3 version was tagged with the document id


class DocumentUploader:
    def __init__(self, bucket: DocumentsBucket, metrics_namespace: str | None = None):
        self.bucket = bucket
        self._namespace = metrics_namespace

    def __call__(self, drop: DocumentDrop, ctx: ApplyContext) -> DocumentUploaded:
        hokodo = ctx.hokodo
        spooled = self.bucket.spool(drop)
        with spooled.file:
            fields = document_fields(spooled.metadata, drop.location, ctx.settings.max_amount)
            order_id = drop.target if drop.target.startswith("order-") else hokodo.get_deferred_payment(drop.target).order_id
            if order_id is None:  # never sent on as an order id: there is nothing to attach the document to
                raise HokodoProtocolError(
                    f"{drop.location}: Hokodo's deferred payment {drop.target} names no order; nothing was uploaded",
                    action="get_deferred_payment",
                )
            document = self._upload(
                ctx,
                order_id,
                drop.filename,
                lambda key: hokodo.upload_document(
                    order_id,
                    file=spooled.file,
                    filename=drop.filename,
                    content_type=PDF,
                    doc_type=drop.doc_type,
                    description=fields.description,
                    amount=fields.amount,
                    metadata=fields.metadata,
                    idempotency_key=key,
                ),
            )
        ctx.checkpoint()  # the upload is never repeated, whatever happens to the verification or the tag
        self._verify(ctx, drop, document, fields.amount, spooled.size)
        tagged = self.bucket.tag(drop, spooled.version_id, document.id)
        if not tagged:
            logger.warning("not tagged: the object already has ten tags", extra={"key": drop.key, "document_id": document.id})
        self._count(drop.doc_type)
        return {
            "order_id": order_id,
            "document_id": document.id,
            "doc_type": drop.doc_type,
            "size": spooled.size,
            "sha256": spooled.sha256,
            "version_id": spooled.version_id,
            "tag": TAG if tagged else None,
        }

    @staticmethod
    def _upload(ctx: ApplyContext, order_id: str, filename: str, send: Callable[[str], OrderDocument]) -> OrderDocument:
        """Upload once. An upload that reached Hokodo without an answer is never sent again blind (OutcomeInDoubt): Hokodo
        may have stored it, and may not honour Idempotency-Key on documents. The operator checks, then redrives or not."""
        try:
            return ctx.perform("upload", send, OrderDocument)
        except OutcomeInDoubt as doubt:
            raise OutcomeInDoubt(
                f"{doubt}. Check at Hokodo whether order {order_id} holds {filename}: if it does, delete this message; "
                "if not, redrive it (it is then uploaded once)",
                status=doubt.status,
                action=doubt.action,
            ) from doubt

    @staticmethod
    def _verify(ctx: ApplyContext, drop: DocumentDrop, document: OrderDocument, amount: int | None, size: int) -> None:
        """Read the document back: Hokodo must hold what was sent (type, amount, and the file's size when its URL says)."""
        stored = ctx.hokodo.get_document(document.order, document.id)
        stored_size = ctx.hokodo.document_file_size(stored.file) if stored.file else None
        wrong = [
            f"{name} {got!r} (sent {sent!r})"
            for name, got, sent in (("doc_type", stored.doc_type, drop.doc_type), ("amount", stored.amount, amount))
            if got != sent
        ]
        if stored_size is not None and stored_size != size:
            wrong.append(f"file size {stored_size} (sent {size})")
        if wrong:
            raise HokodoProtocolError(
                f"{drop.location}: Hokodo's document {document.id} does not hold what was sent: {'; '.join(wrong)}"
            )

    def _count(self, doc_type: str) -> None:
        with single_metric(name="DocumentUploaded", unit=MetricUnit.Count, value=1, namespace=self._namespace) as metric:
            metric.add_dimension(name="doc_type", value=doc_type)


def queue_function(settings: Settings | None = None) -> QueueFunction:
    """The documents queue's Lambda: S3 notifications in, order documents uploaded through the shared runner."""
    settings = settings or Settings.from_env()
    bucket = DocumentsBucket(lambda: boto3.client("s3"), settings.max_document_bytes)
    return QueueFunction(
        kind=KIND,
        message_model=DocumentDrop,
        parse=lambda body: bucket.resolve(parse_notification(body)),
        apply=DocumentUploader(bucket, os.environ.get("POWERTOOLS_METRICS_NAMESPACE")),  # read once, at cold start
        settings=settings,
    )
