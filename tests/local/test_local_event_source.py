"""Lambda parity of SqsEventSource against moto: partial batch responses, redelivery after the
visibility timeout, redrive to the DLQ after maxReceiveCount, whole-batch failures."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from hokodo_local.lambda_context import LocalLambdaContext
from hokodo_local.sqs_event_source import SqsEventSource
from hokodo_local.stack import MotoServer

SAMPLE_EVENT = Path(__file__).resolve().parents[2] / "events" / "shipment.json"  # as `sam local generate-event` makes it
VISIBILITY_TIMEOUT = 1
MAX_RECEIVE_COUNT = 2


@pytest.fixture(scope="module")
def sqs():
    moto = MotoServer()
    moto.start()
    yield moto.client("sqs")
    moto.stop()


class Queues:
    def __init__(self, sqs):
        self.sqs = sqs
        suffix = uuid.uuid4().hex[:8]
        self.dlq_url = sqs.create_queue(QueueName=f"parity-dlq-{suffix}")["QueueUrl"]
        redrive = {"deadLetterTargetArn": self.arn(self.dlq_url), "maxReceiveCount": MAX_RECEIVE_COUNT}
        self.url = sqs.create_queue(
            QueueName=f"parity-{suffix}",
            Attributes={"VisibilityTimeout": str(VISIBILITY_TIMEOUT), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]

    def arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def source(self, handler, **kwargs) -> SqsEventSource:
        return SqsEventSource(self.sqs, self.url, self.arn(self.url), handler, **kwargs)

    def send(self, *bodies: str) -> None:
        for body in bodies:
            self.sqs.send_message(QueueUrl=self.url, MessageBody=body)

    def depth(self, url: str | None = None) -> tuple[int, int]:
        """(visible, in flight)"""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self.sqs.get_queue_attributes(QueueUrl=url or self.url, AttributeNames=names)["Attributes"]
        return int(attributes[names[0]]), int(attributes[names[1]])

    def dead_letter_bodies(self) -> list[str]:
        messages = self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
        return sorted(m["Body"] for m in messages)


@pytest.fixture
def queues(sqs) -> Queues:
    return Queues(sqs)


def context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="parity", timeout_seconds=30)


def fail_bodies(*bad: str):
    """A handler that reports the records with these bodies as batch item failures."""
    seen: list[dict] = []

    def handler(event, _context):
        seen.append(event)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in bad]}

    handler.seen = seen
    return handler


def test_the_event_has_lambdas_record_shape(queues):
    handler = fail_bodies()
    queues.send("hello")
    queues.source(handler).poll_once(context())
    record = handler.seen[0]["Records"][0]
    sample = json.loads(SAMPLE_EVENT.read_text())["Records"][0]
    assert set(sample) <= set(record)
    assert set(sample["attributes"]) <= set(record["attributes"])
    assert record["body"] == "hello" and record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queues.arn(queues.url)
    assert record["attributes"]["ApproximateReceiveCount"] == "1"


def test_a_batch_with_no_failures_is_deleted(queues):
    queues.send("a", "b", "c")
    invocation = queues.source(fail_bodies()).poll_once(context())
    assert len(invocation.deleted) == 3 and invocation.failed == []
    assert queues.depth() == (0, 0)


def test_a_reported_failure_comes_back_after_the_visibility_timeout_then_reaches_the_dlq(queues):
    handler = fail_bodies("bad")
    source = queues.source(handler)
    queues.send("good", "bad")

    first = source.poll_once(context())
    assert len(first.deleted) == 1 and len(first.failed) == 1
    assert source.poll_once(context()) is None  # hidden for the visibility timeout
    assert queues.depth() == (0, 1)

    time.sleep(VISIBILITY_TIMEOUT + 0.1)
    second = source.poll_once(context())
    assert [r["body"] for r in second.event["Records"]] == ["bad"]
    assert second.event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert second.failed == [first.failed[0]]

    time.sleep(VISIBILITY_TIMEOUT + 0.1)
    assert source.poll_once(context()) is None  # received maxReceiveCount times: SQS redrove it
    assert queues.depth() == (0, 0)
    assert queues.dead_letter_bodies() == ["bad"]


def test_a_handler_that_raises_fails_the_whole_batch(queues):
    def handler(event, _context):
        raise RuntimeError("boom")

    source = queues.source(handler)
    queues.send("a", "b")
    invocation = source.poll_once(context())
    assert isinstance(invocation.error, RuntimeError)
    assert invocation.deleted == [] and len(invocation.failed) == 2
    time.sleep(VISIBILITY_TIMEOUT + 0.1)
    again = source.poll_once(context())
    assert sorted(r["body"] for r in again.event["Records"]) == ["a", "b"]
    assert {r["attributes"]["ApproximateReceiveCount"] for r in again.event["Records"]} == {"2"}


def test_a_response_naming_an_unknown_record_fails_the_whole_batch(queues):
    queues.send("a", "b")
    invocation = queues.source(lambda e, c: {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}).poll_once(context())
    assert invocation.deleted == [] and len(invocation.failed) == 2


def test_without_report_batch_item_failures_the_response_is_ignored(queues):
    queues.send("a", "b")
    source = queues.source(fail_bodies("a"), report_batch_item_failures=False)
    invocation = source.poll_once(context())
    assert len(invocation.deleted) == 2 and invocation.failed == []


def test_batch_size_caps_a_batch(queues):
    queues.send(*[f"m{i}" for i in range(5)])
    invocation = queues.source(fail_bodies(), batch_size=2).poll_once(context())
    assert len(invocation.event["Records"]) <= 2
