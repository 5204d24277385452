"""Moving a permanently failed record to its queue's DLQ at once, with the reason attached."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

_MAX_REASON_CHARS = 1000  # keep well inside SQS's attribute limits


class DeadLetterQueue:
    """`sqs_client` is a factory: the client (about 80 ms to create) is made on the first dead letter, not at cold start."""

    def __init__(self, sqs_client: Callable[[], Any], queue_url: str):
        self._make_client = sqs_client
        self._url = queue_url
        self._fifo = queue_url.endswith(".fifo")

    @cached_property
    def _sqs(self) -> Any:
        return self._make_client()

    def send(self, record: SQSRecord, *, reason: str, error_type: str) -> None:
        """Send the original body and attributes plus the reason; raises if SQS refuses (nothing is lost)."""
        attributes = {  # Lambda's event spells them stringValue/dataType; the SQS API StringValue/DataType
            name: {"DataType": value["dataType"], "StringValue": value["stringValue"]}
            for name, value in (record.raw_event.get("messageAttributes") or {}).items()
            if value.get("stringValue") is not None
        }
        attributes.update(
            {
                "hokodo_postsale.reason": _string(reason[:_MAX_REASON_CHARS]),
                "hokodo_postsale.error_type": _string(error_type),
                "hokodo_postsale.source_message_id": _string(record.message_id),
                "hokodo_postsale.source_queue": _string(record.event_source_arn or ""),
                "hokodo_postsale.receive_count": _string(str(record.attributes.approximate_receive_count)),
            }
        )
        request: dict[str, Any] = {"QueueUrl": self._url, "MessageBody": record.body, "MessageAttributes": attributes}
        if self._fifo:
            request["MessageGroupId"] = record.attributes.message_group_id or "dead-letters"
            request["MessageDeduplicationId"] = record.message_id
        self._sqs.send_message(**request)


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value or "-"}
