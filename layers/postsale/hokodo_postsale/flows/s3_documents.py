"""The documents bucket: read the version a notification names, spool it to /tmp, and tag it afterwards.

The object is streamed from S3 to a temporary file in 1 MiB chunks and uploaded from there: httpx needs
a file whose length it can learn without reading it into memory (encode/httpx#2249), and an S3 body is
not seekable. Memory stays at a chunk or two whatever the document's size; /tmp (the function's
EphemeralStorage) must hold the largest document allowed (MAX_DOCUMENT_BYTES).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import IO, Any, NotRequired, Protocol, TypedDict, cast

from botocore.exceptions import ClientError

from ..contracts.document_drops import DocumentDrop
from ..contracts.messages import Skipped
from ..errors import DocumentUnavailable, InvalidMessage, TransientError

PDF_MAGIC = b"%PDF-"
_CHUNK = 1024 * 1024
TAG = "hokodo-document-id"


class _Body(Protocol):
    """GetObject's streaming body (botocore's StreamingBody), as far as it is used here."""

    def read(self, amt: int | None = ..., /) -> bytes: ...

    def close(self) -> None: ...


class GetObjectResponse(TypedDict):
    """The parts of S3's GetObject answer read here."""

    Body: _Body
    ContentLength: NotRequired[int]
    ETag: NotRequired[str]
    VersionId: NotRequired[str]  # only from a versioned bucket
    Metadata: NotRequired[dict[str, str]]  # the object's user metadata, names without `x-amz-meta-`


@dataclass
class SpooledDocument:
    file: IO[bytes]  # at position 0; the caller closes it
    size: int
    sha256: str
    version_id: str | None
    metadata: dict[str, str]


class DocumentsBucket:
    """`s3_client` is a factory: the client is made on the first document, not at cold start."""

    def __init__(self, s3_client: Callable[[], Any], max_bytes: int):
        self._make_client = s3_client
        self.max_bytes = max_bytes

    @cached_property
    def _s3(self) -> Any:
        return self._make_client()

    def resolve(self, drop: DocumentDrop | Skipped) -> DocumentDrop | Skipped:
        """The version a notification names. S3 events of a versioned bucket carry it; one that does not (moto's never
        do) names the object's current version if that has the notification's ETag, and nothing that still exists if not."""
        if not isinstance(drop, DocumentDrop) or drop.version_id:
            return drop
        try:
            head = self._s3.head_object(Bucket=drop.bucket, Key=drop.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise DocumentUnavailable(f"{drop.location}: deleted before it was processed; nothing was uploaded") from None
            raise TransientError(f"{drop.location}: S3 HeadObject failed: {exc}") from None
        etag = str(head.get("ETag") or "").strip('"')
        if etag != drop.etag:
            raise DocumentUnavailable(
                f"{drop.location}: overwritten before it was processed (the current object has ETag {etag}); nothing was "
                "uploaded for this version, the newer one is uploaded by its own notification"
            )
        return drop.model_copy(update={"version_id": head.get("VersionId")})

    def spool(self, drop: DocumentDrop) -> SpooledDocument:
        """The bytes of the version the notification names, checked (a PDF, not empty, not too large), in a temp file.
        Raises DocumentUnavailable when that version is no longer the object's current one (deleted or overwritten
        before it was processed: the newer version has its own notification), InvalidMessage for bad content."""
        response = self._get_current(drop)
        body = response["Body"]
        try:
            self._check_same_version(drop, response)
            length = int(response.get("ContentLength") or 0)
            self._check_size(drop, length)
            return self._copy(drop, body, response)
        finally:
            body.close()

    def tag(self, drop: DocumentDrop, version_id: str | None, document_id: str) -> bool:
        """Tag the version with Hokodo's document id, keeping its other tags; False when it already has ten others."""
        version = {"VersionId": version_id} if version_id else {}
        tags = [t for t in self._s3.get_object_tagging(Bucket=drop.bucket, Key=drop.key, **version)["TagSet"] if t["Key"] != TAG]
        if len(tags) >= 10:
            return False
        tags.append({"Key": TAG, "Value": document_id})
        self._s3.put_object_tagging(Bucket=drop.bucket, Key=drop.key, Tagging={"TagSet": tags}, **version)
        return True

    def _get_current(self, drop: DocumentDrop) -> GetObjectResponse:
        try:
            # The client is untyped (boto3 without stubs at runtime); the answer has GetObject's documented shape.
            return cast(GetObjectResponse, self._s3.get_object(Bucket=drop.bucket, Key=drop.key))
        except self._s3.exceptions.NoSuchKey:
            raise DocumentUnavailable(f"{drop.location}: deleted before it was processed; nothing was uploaded") from None

    @staticmethod
    def _check_same_version(drop: DocumentDrop, response: GetObjectResponse) -> None:
        current_version, current_etag = response.get("VersionId"), str(response.get("ETag") or "").strip('"')
        if (drop.version_id and current_version != drop.version_id) or (not drop.version_id and current_etag != drop.etag):
            current = f"version {current_version}" if drop.version_id else f"ETag {current_etag}"
            raise DocumentUnavailable(
                f"{drop.location}: overwritten before it was processed (the current object is {current}); nothing was "
                "uploaded for this version, the newer one is uploaded by its own notification"
            )

    def _check_size(self, drop: DocumentDrop, size: int) -> None:
        if size == 0:
            raise InvalidMessage(f"{drop.location}: the object is empty")
        if size > self.max_bytes:
            raise InvalidMessage(f"{drop.location}: {size} bytes, more than MaxDocumentBytes ({self.max_bytes})")

    def _copy(self, drop: DocumentDrop, body: _Body, response: GetObjectResponse) -> SpooledDocument:
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - returned open, closed by the caller
        digest, size = hashlib.sha256(), 0
        try:
            for chunk in iter(lambda: body.read(_CHUNK), b""):
                if size == 0 and not chunk.startswith(PDF_MAGIC):
                    raise InvalidMessage(f"{drop.location}: not a PDF (the file does not start with %PDF-)")
                size += len(chunk)
                self._check_size(drop, size)
                digest.update(chunk)
                spool.write(chunk)
            self._check_size(drop, size)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return SpooledDocument(spool, size, digest.hexdigest(), response.get("VersionId"), response.get("Metadata") or {})
