"""Lambda parity of DynamoDBStreamEventSource against moto's streams: the mapping's filters, partial batch responses,
and a batch given up after MaximumRetryAttempts (handed to the OnFailure callback, and the stream moves on)."""

from __future__ import annotations

import uuid

import pytest
from hokodo_local.lambda_context import LocalLambdaContext
from hokodo_local.stack import MotoServer
from hokodo_local.stream_event_source import DynamoDBStreamEventSource

FILTER = '{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"id": {"S": [{"prefix": "hokodo-postsale."}]}}}}'


@pytest.fixture(scope="module")
def moto():
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def table(moto):
    name = f"stream-{uuid.uuid4().hex[:8]}"
    dynamodb = moto.client("dynamodb")
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    arn = dynamodb.describe_table(TableName=name)["Table"]["LatestStreamArn"]

    def put(*ids: str) -> None:
        for item_id in ids:
            dynamodb.put_item(TableName=name, Item={"id": {"S": item_id}})

    def delete(item_id: str) -> None:
        dynamodb.delete_item(TableName=name, Key={"id": {"S": item_id}})

    return arn, put, delete, moto.client("dynamodbstreams")


def context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="stream-parity", timeout_seconds=60)


def ids(event: dict) -> list[str]:
    return [r["dynamodb"]["Keys"]["id"]["S"] for r in event["Records"]]


def test_only_records_matching_a_filter_are_delivered(table):
    arn, put, delete, streams = table
    seen: list[dict] = []
    source = DynamoDBStreamEventSource(streams, arn, lambda e, c: seen.append(e), filters=[FILTER])
    put("hokodo-postsale.sync#1", "other#1", "hokodo-postsale.sync#2")
    delete("hokodo-postsale.sync#1")  # REMOVE: not in the filter's eventName
    source.drain(context)
    assert [i for event in seen for i in ids(event)] == ["hokodo-postsale.sync#1", "hokodo-postsale.sync#2"]
    assert seen[0]["Records"][0]["eventSource"] == "aws:dynamodb" and seen[0]["Records"][0]["eventSourceARN"] == arn


def test_a_reported_failure_is_delivered_again_with_what_follows_it(table):
    arn, put, _, streams = table
    calls: list[list[str]] = []

    def handler(event, _context):
        calls.append(ids(event))
        records = event["Records"]
        failed = [r for r in records if r["dynamodb"]["Keys"]["id"]["S"] == "b"] if len(calls) == 1 else []
        return {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in failed]}

    source = DynamoDBStreamEventSource(streams, arn, handler)
    put("a", "b", "c")
    first = source.poll_once(context())
    assert len(first.retried) == 2 and first.attempt == 1
    second = source.poll_once(context())
    assert calls == [["a", "b", "c"], ["b", "c"]] and second.retried == [] and second.attempt == 2
    assert source.poll_once(context()) is None


def test_a_batch_still_failing_after_its_retries_goes_to_on_failure_and_the_stream_moves_on(table):
    arn, put, _, streams = table
    given_up: list[tuple[list[str], int]] = []

    def handler(event, _context):
        if "poison" in ids(event):
            raise RuntimeError("boom")
        return {"batchItemFailures": []}

    source = DynamoDBStreamEventSource(
        streams,
        arn,
        handler,
        maximum_retry_attempts=2,
        on_failure=lambda records, invocation: given_up.append((ids({"Records": records}), invocation.attempt)),
    )
    put("poison")
    attempts = [source.poll_once(context()) for _ in range(3)]
    assert [len(i.retried) for i in attempts] == [1, 1, 0]  # the first delivery, then 2 retries: given up
    assert attempts[-1].given_up and isinstance(attempts[-1].error, RuntimeError)
    assert given_up == [(["poison"], 3)]
    put("next")
    after = source.poll_once(context())
    assert ids(after.event) == ["next"] and after.retried == [] and after.attempt == 1
