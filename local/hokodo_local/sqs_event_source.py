"""Lambda's SQS event source mapping, emulated: receive a batch, build the event Lambda would send,
invoke the handler, then delete what succeeded.

As on AWS: with ReportBatchItemFailures, the records named in `batchItemFailures` stay on the queue
(visible again after the visibility timeout, moved to the DLQ by SQS's redrive policy after
maxReceiveCount receives) and the others are deleted; an invocation that raises, or a response
that names an unknown or empty itemIdentifier, fails the whole batch and deletes nothing.
ReportBatchItemFailures is assumed; `report_batch_item_failures=False` emulates a mapping without it,
where Lambda ignores the handler's response and a batch that did not raise is deleted whole.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[dict, Any], Any]


@dataclass
class Invocation:
    event: dict
    response: Any = None
    error: BaseException | None = None
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class SqsEventSource:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        *,
        batch_size: int = 10,
        region: str = "eu-west-1",
        report_batch_item_failures: bool = True,
    ):
        self._sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self._handler, self._batch_size, self._region = handler, batch_size, region
        self._report_batch_item_failures = report_batch_item_failures

    def poll_once(self, context: Any, wait_seconds: int = 0) -> Invocation | None:
        """One receive + invoke + delete cycle; None when the queue had nothing visible."""
        received = self.receive(wait_seconds)
        if not received:
            return None
        invocation = Invocation(event=self.event(received))
        try:
            invocation.response = self._handler(invocation.event, context)
        except Exception as exc:  # the whole batch fails, as on Lambda
            invocation.error = exc
        failed = self._failed_ids(invocation, {m["MessageId"] for m in received})
        for message in received:
            if message["MessageId"] in failed:
                invocation.failed.append(message["MessageId"])
            else:
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                invocation.deleted.append(message["MessageId"])
        return invocation

    def drain(self, context_factory: Callable[[], Any], max_polls: int = 50) -> list[Invocation]:
        """Poll until the queue has nothing visible (failed records come back only after their visibility timeout)."""
        invocations = []
        for _ in range(max_polls):
            invocation = self.poll_once(context_factory())
            if invocation is None:
                break
            invocations.append(invocation)
        return invocations

    def receive(self, wait_seconds: int = 0) -> list[dict]:
        """One ReceiveMessage of up to the batch size, with every attribute Lambda's event carries."""
        return self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def event(self, received: list[dict]) -> dict:
        """The event Lambda would invoke the function with for these received messages."""
        return {"Records": [self._record(m) for m in received]}

    def _failed_ids(self, invocation: Invocation, batch_ids: set[str]) -> set[str]:
        if invocation.error is not None:
            return batch_ids
        if not self._report_batch_item_failures:
            return set()  # without ReportBatchItemFailures, Lambda ignores the response: the batch succeeded
        failures = (invocation.response or {}).get("batchItemFailures", []) if isinstance(invocation.response, dict) else []
        ids = {f.get("itemIdentifier") for f in failures}
        if any(not i or i not in batch_ids for i in ids):
            return batch_ids  # Lambda treats a malformed response as a complete failure
        return ids

    def _record(self, message: dict) -> dict:
        attributes = message.get("Attributes", {})
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {k: v for k, v in attributes.items() if k != "AWSTraceHeader"},
            "messageAttributes": {
                name: {
                    "stringValue": value.get("StringValue"),
                    "binaryValue": base64.b64encode(value["BinaryValue"]).decode() if "BinaryValue" in value else None,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": value["DataType"],
                }
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self._region,
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        return record
