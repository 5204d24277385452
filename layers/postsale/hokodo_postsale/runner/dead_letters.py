"""Moving a failed record to its queue's DLQ, with the reason attached, as a message SQS accepts.

SQS allows at most 10 message attributes, and counts their names, types and values in the message size
(1 MiB at most). The copy keeps the body untouched and the upstream's attributes (String, Number and
Binary); when the bundle's own five attributes would make more than ten, the upstream's are packed into
one JSON attribute; when the whole would be too large, the reason is shortened, never the body.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from functools import cached_property
from typing import Any, NotRequired, TypedDict

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

PREFIX = "hokodo_postsale."
PACKED = PREFIX + "upstream_attributes"  # the upstream's attributes as {name: {DataType, StringValue | BinaryValue(base64)}}
MAX_ATTRIBUTES = 10
MAX_MESSAGE_BYTES = 1024 * 1024  # SQS's largest message (body plus attributes)
_MAX_REASON_BYTES = 4096
_MIN_REASON_BYTES = 64


class MessageAttribute(TypedDict):
    """One SQS message attribute in the SQS API's spelling: a String or Number has a StringValue, a Binary a BinaryValue."""

    DataType: str
    StringValue: NotRequired[str]
    BinaryValue: NotRequired[bytes]


class DeadLetterQueue:
    """`sqs_client` is a factory: the client (about 80 ms to create) is made on the first dead letter, not at cold start."""

    def __init__(self, sqs_client: Callable[[], Any], queue_url: str, max_message_bytes: int = MAX_MESSAGE_BYTES):
        self._make_client = sqs_client
        self._url = queue_url
        self._fifo = queue_url.endswith(".fifo")
        self._max_bytes = max_message_bytes

    @cached_property
    def _sqs(self) -> Any:
        return self._make_client()

    def send(self, record: SQSRecord, *, reason: str, error_type: str) -> None:
        """Send the original body and attributes plus the reason; raises if SQS refuses (then nothing is lost:
        the record stays on its queue)."""
        request: dict[str, Any] = {
            "QueueUrl": self._url,
            "MessageBody": record.body,
            "MessageAttributes": self.attributes(record, reason, error_type),
        }
        if self._fifo:
            request["MessageGroupId"] = record.attributes.message_group_id or "dead-letters"
            request["MessageDeduplicationId"] = record.message_id
        self._sqs.send_message(**request)

    def attributes(self, record: SQSRecord, reason: str, error_type: str) -> dict[str, MessageAttribute]:
        """The copy's attributes: the upstream's, then the bundle's, within SQS's count and size limits. What gives
        way when the body leaves little room, in this order: the upstream's attributes, the bundle's own except the
        error type, and the reason's length (never below a readable minimum; below that, no attribute at all)."""
        own = {
            PREFIX + "error_type": _string(error_type),
            PREFIX + "source_message_id": _string(record.message_id),
            PREFIX + "source_queue": _string(record.event_source_arn or ""),
            PREFIX + "receive_count": _string(str(record.attributes.approximate_receive_count)),
        }
        upstream = _upstream(record)
        if len(upstream) + len(own) + 1 > MAX_ATTRIBUTES:
            upstream = {PACKED: _string(json.dumps(_packable(upstream), sort_keys=True))}
        room = self._max_bytes - len(record.body.encode()) - _size({PREFIX + "reason": _string("")})
        if upstream and room - _size(own) - _size(upstream) < _MIN_REASON_BYTES:
            reason = f"[the upstream's message attributes were dropped: no room beside the body] {reason}"
            upstream = {}
        if room - _size(own) < _MIN_REASON_BYTES:
            own = {PREFIX + "error_type": own[PREFIX + "error_type"]}
        room -= _size(own) + _size(upstream)
        if room < _MIN_REASON_BYTES:
            return {}  # the body alone fills the message: it goes as it came, and the reason is only logged
        return {**upstream, **own, PREFIX + "reason": _string(_truncate(reason, min(room, _MAX_REASON_BYTES)))}


def _upstream(record: SQSRecord) -> dict[str, MessageAttribute]:
    """The record's attributes in the SQS API's spelling (Lambda's event spells them stringValue/dataType)."""
    copied: dict[str, MessageAttribute] = {}
    for name, value in (record.raw_event.get("messageAttributes") or {}).items():
        if value.get("stringValue") is not None:
            copied[name] = {"DataType": value["dataType"], "StringValue": value["stringValue"]}
        elif value.get("binaryValue") is not None:
            copied[name] = {"DataType": value["dataType"], "BinaryValue": base64.b64decode(value["binaryValue"])}
    return copied


def _packable(attributes: dict[str, MessageAttribute]) -> dict[str, dict[str, str]]:
    return {
        name: {
            "DataType": v["DataType"],
            **(
                {"StringValue": v["StringValue"]}
                if "StringValue" in v
                else {"BinaryValue": base64.b64encode(v["BinaryValue"]).decode()}
            ),
        }
        for name, v in attributes.items()
    }


def _size(attributes: dict[str, MessageAttribute]) -> int:
    """Bytes SQS counts for these attributes: each name, data type and value."""
    total = 0
    for name, value in attributes.items():
        data = value.get("StringValue", "").encode() if "StringValue" in value else value["BinaryValue"]
        total += len(name.encode()) + len(value["DataType"].encode()) + len(data)
    return total


def _truncate(text: str, limit: int) -> str:
    data = (text or "-").encode()
    if len(data) <= limit:
        return text or "-"
    return data[: max(0, limit - 3)].decode(errors="ignore") + "…"


def _string(value: str) -> MessageAttribute:
    return {"DataType": "String", "StringValue": value or "-"}
