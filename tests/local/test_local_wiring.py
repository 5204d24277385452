"""What the local stack wires besides queues, all from template.yaml: the documents bucket's settings and notification
(which moto's CloudFormation ignores), the table's stream read for ledger tracking, the HTTP API's route to the
webhooks function, the reconciliation's schedule, and the bus read back through a rule of the local stack's own; then,
with the runner in threads as `serve` runs it, a document put in S3 and a notification through the route end where
they should."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest
from hokodo_local.local_stack import LocalStack
from hokodo_local.runner import Delivery, ScheduledInvocation
from hokodo_local.stream_event_source import StreamInvocation
from hokodo_local.template import SamTemplate

TEMPLATE = SamTemplate.load()
PDF = b"%PDF-1.7\n% a test invoice\n%%EOF\n"


class Deliveries:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: list[Delivery] = []

    def __call__(self, delivery: Delivery) -> None:
        with self._lock:
            self.seen.append(delivery)


@pytest.fixture(scope="module")
def deliveries() -> Deliveries:
    return Deliveries()


@pytest.fixture(scope="module")
def local(deliveries):
    with LocalStack(runtime_env={"POWERTOOLS_METRICS_DISABLED": "true"}, on_delivery=deliveries) as stack:
        yield stack


@pytest.fixture
def serving(local):
    """The runner as `serve` runs it: every queue and the stream polled in threads."""
    local.runner.start(interval=0.1)
    yield local
    local.runner.stop()


def wait_for(condition, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)
    return found


def parameter_default(name: str) -> str:
    return str(TEMPLATE.body["Parameters"][name]["Default"])


# -- the documents bucket ----------------------------------------------------------------------------
def test_the_documents_bucket_is_versioned_private_and_notifies_the_documents_queue(local):
    bucket = local.stack.buckets["DocumentsBucket"]
    resources = local.moto.client("cloudformation").list_stack_resources(StackName=local.stack.name)["StackResourceSummaries"]
    assert bucket.name == next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "DocumentsBucket")
    s3 = local.moto.client("s3")
    assert s3.get_bucket_versioning(Bucket=bucket.name)["Status"] == "Enabled"
    assert s3.get_public_access_block(Bucket=bucket.name)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    [notification] = s3.get_bucket_notification_configuration(Bucket=bucket.name)["QueueConfigurations"]
    assert notification["QueueArn"] == local.stack.queues["DocumentsQueue"].arn
    assert notification["Events"] == ["s3:ObjectCreated:*"]
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=bucket.name)["Rules"]
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == int(parameter_default("DocumentVersionRetentionDays"))
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7} and rule["Status"] == "Enabled"
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket.name)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert [n.queue for n in bucket.notifications] == ["DocumentsQueue"]
    assert local.stack.bucket_notifying("DocumentsQueue") == bucket


def test_the_table_gets_its_ttl_and_moto_keeps_its_stream_for_the_local_poller(local):
    table = local.stack.tables["IdempotencyTable"]
    dynamodb, streams = local.moto.client("dynamodb"), local.moto.client("dynamodbstreams")
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiration")
    dynamodb.put_item(TableName=table, Item={"id": {"S": "local-wiring-probe"}})
    [mapping] = local.stack.stream_mappings
    [shard] = streams.describe_stream(StreamArn=mapping.stream_arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=mapping.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )
    records = streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    # moto would invoke its (disabled) mapping's function on the write, fail without Docker, and empty the stream
    assert "local-wiring-probe" in [r["dynamodb"]["Keys"]["id"]["S"] for r in records]


def test_a_stream_batch_given_up_goes_to_the_mappings_on_failure_queue_as_lambda_describes_it(local):
    [poller] = [p for p in local.runner.pollers if p.function.logical_id == "TrackingFunction"]
    invocation = StreamInvocation(event={}, error=RuntimeError("boom"), attempt=11)
    poller._send_to_destination([{"dynamodb": {"SequenceNumber": "100", "ApproximateCreationDateTime": 1.7e9}}], invocation)
    queue = local.stack.queues["TrackingDeadLetterQueue"]
    [message] = local.sqs.receive_message(QueueUrl=queue.url)["Messages"]
    local.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    body = json.loads(message["Body"])
    assert (body["requestContext"]["condition"], body["requestContext"]["approximateInvokeCount"]) == (
        "RetryAttemptsExhausted",
        11,
    )
    assert body["responseContext"]["functionError"] == "Unhandled"
    batch = body["DDBStreamBatchInfo"]
    assert (batch["startSequenceNumber"], batch["batchSize"], batch["streamArn"]) == ("100", 1, poller.mapping.stream_arn)


# -- the HTTP API ------------------------------------------------------------------------------------
def test_the_templates_route_is_served_and_a_wrong_secret_looks_like_no_route(local):
    [route] = local.stack.http_routes
    [(function_id, event)] = [
        (lid, e["Properties"])
        for lid, r in TEMPLATE.of_type("AWS::Serverless::Function").items()
        for e in r["Properties"].get("Events", {}).values()
        if e["Type"] == "HttpApi"
    ]
    assert (route.function, route.method, route.path, route.api) == (
        function_id,
        event["Method"],
        event["Path"],
        "WebhookHttpApi",
    )
    unknown = {"data": {"order": {"deferred_payment": {"id": "defpay-NotKnownToHokodo0000000"}}}}
    answer = httpx.post(local.notification_url(), json=unknown, timeout=30)
    assert (answer.status_code, answer.json()) == (202, {"message": "Accepted"})  # the handler answered: queued for sync
    for url in (local.notification_url() + "x", f"{local.api_url}/webhooks/hokodo/wrong", f"{local.api_url}/elsewhere"):
        answer = httpx.post(url, json=unknown, timeout=30)
        assert (answer.status_code, answer.json()) == (404, {"message": "Not Found"})
    assert httpx.get(local.notification_url(), timeout=30).status_code == 404  # the route is POST only


# -- the schedule ------------------------------------------------------------------------------------
def test_the_schedule_runs_the_function_with_the_templates_input(local):
    [schedule] = local.stack.schedules
    event = TEMPLATE.resources["ReconciliationFunction"]["Properties"]["Events"]["Schedule"]["Properties"]
    assert (schedule.function, schedule.expression) == ("ReconciliationFunction", parameter_default("ReconciliationSchedule"))
    assert schedule.name.startswith("hokodo-reconciliation-") and len(schedule.name) <= 64 and schedule.enabled
    assert schedule.event() == json.loads(event["Input"])
    delivery = local.runner.run_schedule(schedule)
    assert isinstance(delivery.invocation, ScheduledInvocation) and delivery.invocation.error is None
    assert set(delivery.invocation.response) == {"watched", "queued"}


def test_in_serve_the_schedule_runs_every_few_seconds_and_stops_with_the_runner(local, deliveries):
    local.runner.start(interval=0.1, schedule_every=0.2)
    try:
        wait_for(
            lambda: [d for d in list(deliveries.seen) if isinstance(d.invocation, ScheduledInvocation)], what="scheduled run"
        )
    finally:
        local.runner.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("poller-")]


# -- the bus -----------------------------------------------------------------------------------------
def test_the_bus_has_its_archive_and_rule_and_a_rule_of_the_local_stacks_to_read_it_back(local):
    bus = local.stack.event_buses["EventBus"]
    events = local.moto.client("events")
    assert events.describe_event_bus(Name=bus.name)["Arn"] == bus.arn
    assert [a["EventSourceArn"] for a in events.list_archives()["Archives"]] == [bus.arn]
    assert bus.targets == {"ExpiriesAndClawbacksRule": ("ExpiriesAndClawbacksQueue",)}
    read_back = json.loads(events.describe_rule(Name=bus.read_back_rule, EventBusName=bus.name)["EventPattern"])
    assert read_back == {"source": [parameter_default("EventSource")]}
    [target] = events.list_targets_by_rule(Rule=bus.read_back_rule, EventBusName=bus.name)["Targets"]
    assert target["Arn"] == bus.read_back.arn  # a queue: moto answers PutEvents with 500 when a rule has a Lambda target
    local.published()
    sent = events.put_events(
        Entries=[
            {"EventBusName": bus.name, "Source": parameter_default("EventSource"), "DetailType": "Probe", "Detail": '{"n": 1}'},
            {"EventBusName": bus.name, "Source": "someone.else", "DetailType": "Probe", "Detail": '{"n": 2}'},
        ]
    )
    assert sent["FailedEntryCount"] == 0
    assert [(e["detail-type"], e["detail"]) for e in local.published()] == [("Probe", {"n": 1})]


# -- as `serve` runs it --------------------------------------------------------------------------------
def test_in_serve_an_invoice_put_in_the_bucket_is_uploaded_to_hokodo_and_tagged(serving):
    local = serving
    dp = local.admin.create_deferred_payment(50_000)
    bucket = local.stack.buckets["DocumentsBucket"].name
    key = f"invoices/{dp['order']}/INV-serve-1.pdf"
    s3 = local.moto.client("s3")
    version = s3.put_object(Bucket=bucket, Key=key, Body=PDF, Metadata={"amount": "50000", "description": "Invoice 1"})[
        "VersionId"
    ]

    def tag():
        tags = s3.get_object_tagging(Bucket=bucket, Key=key, VersionId=version)["TagSet"]
        return next((t["Value"] for t in tags if t["Key"] == "hokodo-document-id"), None)

    document = local.admin.document(wait_for(tag, what="hokodo-document-id tag"))
    assert (document["order"], document["doc_type"], document["amount"]) == (dp["order"], "invoice", 50_000)
    assert (document["filename"], document["size"], document["description"]) == ("INV-serve-1.pdf", len(PDF), "Invoice 1")


def test_in_serve_hokodos_notification_through_the_route_ends_on_the_bus(serving):
    local = serving
    local.published()
    dp = local.admin.create_deferred_payment(50_000, notification_url=local.notification_url())["id"]
    local.admin.clawback(dp, 1_234)  # Hokodo notifies the route; the webhooks function queues it, the sync publishes

    def clawbacks():
        return [e for e in local.published() if e["detail-type"] == "Deferred Payment Clawback"]

    [event] = wait_for(clawbacks, what="clawback on the bus")
    assert (event["source"], event["detail"]["deferred_payment_id"]) == (parameter_default("EventSource"), dp)
    assert event["detail"]["clawback_amount"] == 1_234
    [webhook] = [w for w in local.admin.webhooks() if w["deferred_payment"] == dp]
    assert webhook["status"] == 202
