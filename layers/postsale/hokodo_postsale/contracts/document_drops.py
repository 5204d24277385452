"""Order documents dropped in S3: the key convention and the object-metadata contract.

    <type prefix>/<order-… | defpay-…>/[any folders/]<file name>
    invoices/ credit-notes/ shipping/ purchase-orders/ other/  ->  invoice credit_note shipping purchase_order other

Optional object metadata (`x-amz-meta-amount`, `-description`, `-metadata`) says what Hokodo's optional
fields say: the document's value in integer minor units, a description, and a JSON object. An SQS message
from the bucket's notification becomes one `DocumentDrop`, or a `Skipped` (S3's test event, a folder key),
or an InvalidMessage naming what is wrong.
"""

from __future__ import annotations

import email.header
import hashlib
import json
import re
from typing import Annotated, Any, ClassVar, cast
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, computed_field

from ..errors import InvalidMessage
from . import strict_json
from .messages import MAX_METADATA_BYTES, MAX_METADATA_DEPTH, Metadata, Skipped

DOC_TYPES = {
    "invoices": "invoice",
    "credit-notes": "credit_note",
    "shipping": "shipping",
    "purchase-orders": "purchase_order",
    "other": "other",
}
_TARGET = re.compile(r"^(order|defpay)-[A-Za-z0-9]{1,64}$")
_DIGITS = re.compile(r"^[0-9]{1,18}$")
MAX_DESCRIPTION_CHARS = 1000


class DocumentDrop(BaseModel):
    """One version of one object, as its bucket's notification names it."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    ACTION_FIELDS: ClassVar[tuple[str, ...]] = ("bucket", "key", "version_id", "etag")

    bucket: str
    key: str  # decoded
    version_id: str | None  # S3 events of a versioned bucket carry it (moto's do not: then the ETag stands in)
    etag: str
    size: int
    doc_type: str
    target: str  # order-… or defpay-…
    filename: str

    # A computed field, in Powertools' view of the message (model_dump), where its idempotency key is found.
    @computed_field  # type: ignore[prop-decorator]  # mypy cannot follow a decorator over @property; pydantic's documented way
    @property
    def event_id(self) -> str:
        """The idempotency key: bucket, key and version (a new version of the same key is a new document)."""
        version = self.version_id or f"etag:{self.etag}"
        return hashlib.sha256(f"{self.bucket}\x1f{self.key}\x1f{version}".encode()).hexdigest()

    @property
    def ordering_key(self) -> str:
        return self.target

    @property
    def correlation(self) -> dict[str, str]:
        target = "order_id" if self.target.startswith("order-") else "deferred_payment_id"
        return {
            "event_id": self.event_id,
            "document_key": f"s3://{self.bucket}/{self.key}",
            "version_id": self.version_id or "",
            target: self.target,
        }

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key} (version {self.version_id or 'unknown; ETag ' + self.etag})"


class DocumentFields(BaseModel):
    """Hokodo's optional fields of an order document, read from the object's metadata."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    amount: Annotated[int | None, Field(strict=True, ge=0, description="The document's value in integer minor units.")] = None
    description: Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION_CHARS)] = ""
    metadata: Metadata


class DocumentObjectMetadata(BaseModel):
    """The object-metadata contract as S3 stores it (`x-amz-meta-<name>`: strings; non-ASCII as RFC 2047)."""

    model_config = ConfigDict(extra="allow", defer_build=True, json_schema_extra={"title": "Document object metadata"})

    amount: Annotated[
        str | None,
        Field(
            pattern=_DIGITS.pattern,
            description="x-amz-meta-amount: the value in integer minor units: digits only, no sign, point or exponent.",
        ),
    ] = None
    description: Annotated[
        str | None, Field(max_length=MAX_DESCRIPTION_CHARS, description="x-amz-meta-description: Hokodo's description.")
    ] = None
    metadata: Annotated[
        str | None,
        Field(
            description=(
                f"x-amz-meta-metadata: a JSON object, at most {MAX_METADATA_BYTES} bytes and {MAX_METADATA_DEPTH} levels; "
                "no NaN, Infinity or duplicate keys."
            )
        ),
    ] = None


def parse_notification(body: str) -> DocumentDrop | Skipped:
    """The SQS body of an S3 event notification, checked against the key convention."""
    try:
        event = strict_json.loads(body)
    except ValueError as exc:
        raise InvalidMessage(f"not an S3 event notification: Invalid JSON: {exc}") from None
    if isinstance(event, dict) and event.get("Event") == "s3:TestEvent":
        return Skipped(reason=f"S3's test event for bucket {event.get('Bucket')}")
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or len(records) != 1 or not isinstance(records[0], dict):
        raise InvalidMessage("not an S3 event notification with exactly one record")
    return _drop(records[0])


def _drop(record: dict[str, Any]) -> DocumentDrop | Skipped:
    try:
        name, s3 = record["eventName"], record["s3"]
        bucket, obj = s3["bucket"]["name"], s3["object"]
        key = unquote_plus(obj["key"])
        etag, size = str(obj.get("eTag") or "").strip('"'), int(obj.get("size") or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidMessage(f"not an S3 event record: missing or malformed {exc}") from None
    where = f"s3://{bucket}/{key}"
    if not str(name).startswith("ObjectCreated:"):
        return Skipped(reason=f"{name} of {where}: only created objects are documents")
    if key.endswith("/"):
        return Skipped(reason=f"{where} is a folder")
    parts = key.split("/")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidMessage(f"{where!r}: the key has control characters")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidMessage(f"{where}: the key has an empty, '.' or '..' segment")
    if parts[0] not in DOC_TYPES:
        raise InvalidMessage(f"{where}: unknown prefix {parts[0]!r}; use one of {', '.join(p + '/' for p in DOC_TYPES)}")
    if len(parts) < 3 or not _TARGET.fullmatch(parts[1]):
        raise InvalidMessage(
            f"{where}: the segment after {parts[0]}/ must be a Hokodo order id (order-…) or deferred payment id (defpay-…)"
        )
    if not parts[-1].strip():
        raise InvalidMessage(f"{where}: no file name")
    return DocumentDrop(
        bucket=bucket,
        key=key,
        version_id=obj.get("versionId") or None,
        etag=etag,
        size=size,
        doc_type=DOC_TYPES[parts[0]],
        target=parts[1],
        filename=parts[-1],
    )


def document_fields(object_metadata: dict[str, str], where: str, max_amount: int) -> DocumentFields:
    """Hokodo's fields from the object's metadata (S3 gives the names lower-cased, without `x-amz-meta-`)."""
    raw = {name: _decoded(value) for name, value in object_metadata.items() if name in ("amount", "description", "metadata")}
    try:
        checked = DocumentObjectMetadata.model_validate(raw)
        metadata = strict_json.loads(checked.metadata) if checked.metadata is not None else {}
        fields = DocumentFields(
            amount=int(checked.amount) if checked.amount is not None else None,
            description=checked.description or "",
            metadata=metadata,
        )
    except ValidationError as exc:
        problems = "; ".join(f"x-amz-meta-{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise InvalidMessage(f"{where}: invalid object metadata: {problems}") from None
    except ValueError as exc:
        raise InvalidMessage(f"{where}: invalid object metadata: x-amz-meta-metadata: {exc}") from None
    if fields.amount is not None and fields.amount > max_amount:
        raise InvalidMessage(f"{where}: x-amz-meta-amount {fields.amount} is above this deployment's MaxAmount ({max_amount})")
    return fields


def _decoded(value: str) -> str:
    """S3 returns non-ASCII metadata RFC 2047-encoded (`=?UTF-8?B?…?=`); anything else is as stored."""
    if not (value.startswith("=?") and value.endswith("?=")):
        return value
    return "".join(
        part.decode(charset or "ascii") if isinstance(part, bytes) else part
        for part, charset in email.header.decode_header(value)
    )


def schema() -> dict[str, Any]:
    """The object-metadata contract as JSON Schema (schemas/document-metadata.schema.json)."""
    return cast(dict[str, Any], json.loads(json.dumps(DocumentObjectMetadata.model_json_schema())))
