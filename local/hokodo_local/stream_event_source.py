"""Lambda's DynamoDB stream event source mapping, emulated over moto's dynamodbstreams API: read the stream
from its start, build the event Lambda would send, invoke the handler, and move on past what succeeded.

As on AWS with ReportBatchItemFailures: the first failed record (its SequenceNumber is the itemIdentifier)
and everything after it are delivered again; an invocation that raises delivers the whole batch again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Handler = Callable[[dict, Any], Any]


@dataclass
class StreamInvocation:
    event: dict
    response: Any = None
    error: BaseException | None = None
    retried: list[str] = field(default_factory=list)  # sequence numbers to be delivered again


class DynamoDBStreamEventSource:
    def __init__(self, streams: Any, stream_arn: str, handler: Handler, *, batch_size: int = 100, region: str = "eu-west-1"):
        self._streams, self.stream_arn, self._handler = streams, stream_arn, handler
        self._batch_size, self._region = batch_size, region
        self._iterators: dict[str, str | None] = {}
        self._pending: list[dict] = []

    def poll_once(self, context: Any) -> StreamInvocation | None:
        self._read()
        if not self._pending:
            return None
        batch = self._pending[: self._batch_size]
        invocation = StreamInvocation(event={"Records": [self._record(r) for r in batch]})
        try:
            invocation.response = self._handler(invocation.event, context)
        except Exception as exc:  # the whole batch again
            invocation.error = exc
            invocation.retried = [r["dynamodb"]["SequenceNumber"] for r in batch]
            return invocation
        failures = (invocation.response or {}).get("batchItemFailures", []) if isinstance(invocation.response, dict) else []
        sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
        first = min((sequence.index(f["itemIdentifier"]) for f in failures if f.get("itemIdentifier") in sequence), default=None)
        done = len(batch) if first is None else first
        invocation.retried = sequence[done:]
        del self._pending[:done]
        return invocation

    def drain(self, context_factory: Callable[[], Any], max_polls: int = 50) -> list[StreamInvocation]:
        """Deliver until nothing new is left (a batch that keeps failing stops after `max_polls`)."""
        invocations = []
        for _ in range(max_polls):
            invocation = self.poll_once(context_factory())
            if invocation is None or invocation.retried:
                if invocation is not None:
                    invocations.append(invocation)
                break
            invocations.append(invocation)
        return invocations

    def _read(self) -> None:
        if not self._iterators:
            shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
            for shard in shards:
                self._iterators[shard["ShardId"]] = self._streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
        for shard, iterator in list(self._iterators.items()):
            if iterator is None:
                continue
            page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            self._pending += page.get("Records", [])
            self._iterators[shard] = page.get("NextShardIterator")

    def _record(self, record: dict) -> dict:
        """As Lambda delivers it: the stream record, with its creation time as epoch seconds."""
        dynamodb = dict(record["dynamodb"])
        created = dynamodb.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            dynamodb["ApproximateCreationDateTime"] = created.timestamp()
        return {
            "eventID": record["eventID"],
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": record.get("awsRegion", self._region),
            "dynamodb": dynamodb,
            "eventSourceARN": self.stream_arn,
        }
