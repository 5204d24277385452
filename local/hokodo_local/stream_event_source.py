"""Lambda's DynamoDB stream event source mapping, emulated over moto's dynamodbstreams API: read the stream
from its start, build the event Lambda would send, invoke the handler, and move on past what succeeded.

As on AWS with ReportBatchItemFailures: the first failed record (its SequenceNumber is the itemIdentifier)
and everything after it are delivered again; an invocation that raises delivers the whole batch again.
With `filters` (the mapping's FilterCriteria patterns), a record that matches none is never delivered. With
`maximum_retry_attempts`, a batch still failing after that many retries is given up: `on_failure` gets it
(Lambda sends its description to the OnFailure destination) and the stream moves on past it. Not emulated:
BisectBatchOnFunctionError, MaximumRecordAgeInSeconds, parallelisation.
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
    given_up: list[str] = field(default_factory=list)  # sequence numbers whose retries are exhausted (sent to on_failure)
    attempt: int = 1  # of this batch (1: its first delivery)


class DynamoDBStreamEventSource:
    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        handler: Handler,
        *,
        batch_size: int = 100,
        region: str = "eu-west-1",
        filters: tuple[str, ...] | list[str] = (),
        maximum_retry_attempts: int | None = None,
        on_failure: Callable[[list[dict], StreamInvocation], None] | None = None,
    ):
        self._streams, self.stream_arn, self._handler = streams, stream_arn, handler
        self._batch_size, self._region = batch_size, region
        self._filters = [_pattern(f) for f in filters]
        self._maximum_retry_attempts, self._on_failure = maximum_retry_attempts, on_failure
        self._iterators: dict[str, str | None] = {}
        self._pending: list[dict] = []
        self._attempt = 1  # of the batch at the head of _pending

    def poll_once(self, context: Any) -> StreamInvocation | None:
        self._read()
        if not self._pending:
            return None
        batch = self._pending[: self._batch_size]
        records = [self._record(r) for r in batch]
        invocation = StreamInvocation(event={"Records": records}, attempt=self._attempt)
        sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
        try:
            invocation.response = self._handler(invocation.event, context)
        except Exception as exc:  # the whole batch again
            invocation.error = exc
            done = 0
        else:
            failures = (invocation.response or {}).get("batchItemFailures", []) if isinstance(invocation.response, dict) else []
            first = min(
                (sequence.index(f["itemIdentifier"]) for f in failures if f.get("itemIdentifier") in sequence), default=None
            )
            done = len(batch) if first is None else first
        invocation.retried = sequence[done:]
        del self._pending[:done]
        if not invocation.retried:
            self._attempt = 1
        elif self._maximum_retry_attempts is not None and self._attempt > self._maximum_retry_attempts:
            invocation.given_up, invocation.retried = invocation.retried, []
            if self._on_failure is not None:
                self._on_failure(records[done:], invocation)
            del self._pending[: len(batch) - done]
            self._attempt = 1
        else:
            self._attempt += 1
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
            self._pending += [r for r in page.get("Records", []) if self._wanted(r)]
            self._iterators[shard] = page.get("NextShardIterator")

    def _wanted(self, record: dict) -> bool:
        return not self._filters or any(f.matches_event(self._record(record)) for f in self._filters)

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


def _pattern(text: str) -> Any:
    """A FilterCriteria pattern: the same syntax as EventBridge's event patterns, so moto's matcher applies it."""
    from moto.events.models import EventPattern

    return EventPattern.load(text)
