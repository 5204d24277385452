"""The local stack is what template.yaml describes: created by moto's CloudFormation from the
translated template, read back from moto, with what moto's CloudFormation skips done by the local stack."""

from __future__ import annotations

import json
import threading
import time

import pytest
from hokodo_local.local_stack import LocalStack
from hokodo_local.template import ParameterError, SamTemplate

TEMPLATE = SamTemplate.load()


def resolve(value):
    """A template value with `!Ref Parameter` replaced by the parameter's default."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return TEMPLATE.body["Parameters"][value["Ref"]]["Default"]
    return value


@pytest.fixture(scope="module")
def local():
    with LocalStack(parameters={"FulfilmentPolicy": "partial_leave_open"}) as stack:
        yield stack


def test_every_queue_of_the_template_exists_with_its_redrive_policy(local):
    declared = TEMPLATE.of_type("AWS::SQS::Queue")
    assert set(local.stack.queues) == set(declared)
    for logical_id, resource in declared.items():
        queue = local.stack.queues[logical_id]
        redrive = resource["Properties"].get("RedrivePolicy")
        if redrive is None:
            assert queue.dead_letter_arn is None
            continue
        dlq_logical_id = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert queue.dead_letter_arn == local.stack.queues[dlq_logical_id].arn
        assert queue.max_receive_count == int(resolve(redrive["maxReceiveCount"]))
        attributes = local.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["RedrivePolicy", "VisibilityTimeout"])
        assert json.loads(attributes["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == queue.max_receive_count
        assert attributes["Attributes"]["VisibilityTimeout"] == str(queue.visibility_timeout) == "2"  # the local override


def test_the_idempotency_table_exists(local):
    assert set(local.stack.tables) == set(TEMPLATE.of_type("AWS::DynamoDB::Table")) == {"IdempotencyTable"}
    table = local.moto.client("dynamodb").describe_table(TableName=local.stack.tables["IdempotencyTable"])["Table"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]


def events_of_type(event_type: str) -> list[tuple[str, dict]]:
    return [
        (function_id, event["Properties"])
        for function_id, resource in TEMPLATE.of_type("AWS::Serverless::Function").items()
        for event in resource["Properties"].get("Events", {}).values()
        if event["Type"] == event_type
    ]


def test_each_sqs_event_becomes_a_disabled_mapping_with_the_templates_batch_size(local):
    expected = {
        (function_id, properties["Queue"]["Fn::GetAtt"][0], int(resolve(properties["BatchSize"])))
        for function_id, properties in events_of_type("SQS")
    }
    assert len(expected) == 6  # shipments, returns, cancellations, documents; the sync function's two queues
    assert {(m.function, m.queue, m.batch_size) for m in local.stack.mappings} == expected
    assert all(m.report_batch_item_failures for m in local.stack.mappings)
    states = {m["State"] for m in local.moto.client("lambda").list_event_source_mappings()["EventSourceMappings"]}
    assert states == {"Disabled"}  # moto's own would try to run the function in Docker (the stream's too)


def test_the_stream_event_becomes_a_disabled_mapping_polled_locally_with_the_templates_settings(local):
    [(function_id, properties)] = events_of_type("DynamoDB")
    [mapping] = local.stack.stream_mappings
    table = local.moto.client("dynamodb").describe_table(TableName=local.stack.tables["IdempotencyTable"])["Table"]
    assert (mapping.function, mapping.table, mapping.stream_arn) == (function_id, "IdempotencyTable", table["LatestStreamArn"])
    assert (mapping.batch_size, mapping.starting_position) == (properties["BatchSize"], properties["StartingPosition"])
    assert mapping.report_batch_item_failures and mapping.maximum_retry_attempts == properties["MaximumRetryAttempts"]
    assert list(mapping.filters) == [f["Pattern"] for f in properties["FilterCriteria"]["Filters"]]
    assert mapping.on_failure == local.stack.queues["TrackingDeadLetterQueue"].arn
    moto_mapping = local.moto.client("lambda").get_event_source_mapping(UUID=mapping.uuid)
    assert moto_mapping["State"] == "Disabled"
    assert [p.name for p in local.runner.pollers if p.function.logical_id == function_id] == ["IdempotencyTable stream"]


def test_functions_get_the_environment_moto_resolved_plus_the_secrets(local):
    secret_arn = local.stack.secrets["HokodoApiKeySecret"].arn
    secret = local.moto.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    assert secret["SecretString"] == local.api_key
    assert set(local.stack.functions) == set(TEMPLATE.functions())
    for function in local.stack.functions.values():
        env = function.environment
        assert env["HOKODO_API_KEY_SECRET"] == secret_arn
        assert env["HOKODO_BASE_URL"] == local.emulator.api_url
        assert env["IDEMPOTENCY_TABLE"] == local.stack.tables["IdempotencyTable"]
        assert env["FULFILMENT_POLICY"] == "partial_leave_open"  # a parameter override
        properties = TEMPLATE.resources[function.logical_id]["Properties"]
        assert function.timeout_seconds == properties.get("Timeout", TEMPLATE.body["Globals"]["Function"]["Timeout"])
        mapping = local.stack.mapping_for(function.logical_id)
        if mapping is not None:
            dlq_name = env["DEAD_LETTER_QUEUE_URL"].rsplit("/", 1)[-1]
            assert dlq_name == local.stack.dead_letter_queue(local.stack.queues[mapping.queue]).name
    webhooks, sync = local.stack.functions["WebhooksFunction"], local.stack.functions["SyncFunction"]
    assert webhooks.environment["WEBHOOK_SECRET"] == local.stack.secrets["WebhookUrlSecret"].arn
    bus = local.stack.event_buses["EventBus"]
    # EventBusName: !GetAtt EventBus.Name, resolved by moto; the sync function alone publishes
    assert sync.environment["EVENT_BUS_NAME"] == bus.name == f"{local.stack.name}-hokodo"
    assert sync.environment["EVENT_SOURCE"] == resolve({"Ref": "EventSource"})
    queues = {
        "WebhooksFunction": "SyncQueue",
        "TrackingFunction": "SyncQueue",
        "ReconciliationFunction": "ReconciliationRequestsQueue",
    }
    for logical_id, queue in queues.items():
        url = local.stack.functions[logical_id].environment["SYNC_QUEUE_URL"]  # AWS's form of it, as moto resolves !Ref
        assert url.rsplit("/", 1)[-1] == local.stack.queues[queue].name
    assert local.stack.unresolved == []


def test_the_url_secret_holds_its_template_with_a_generated_current_value(local):
    secret = local.stack.secrets["WebhookUrlSecret"]
    stored = json.loads(local.moto.client("secretsmanager").get_secret_value(SecretId=secret.arn)["SecretString"])
    generate = TEMPLATE.resources["WebhookUrlSecret"]["Properties"]["GenerateSecretString"]
    assert set(stored) == {"previous", "current"} and stored["previous"] == ""  # SecretStringTemplate + GenerateStringKey
    assert len(stored["current"]) == generate["PasswordLength"] and stored["current"].isalnum()  # ExcludePunctuation
    assert secret.generated == stored["current"] and secret.generated_key == generate["GenerateStringKey"]
    route = local.stack.route_for("WebhooksFunction")
    assert local.notification_url() == f"{local.api_url}/webhooks/hokodo/{stored['current']}" == local.notification_url(route)


def test_queue_functions_get_their_limits_from_the_parameters(local):
    for function in local.stack.functions.values():
        if local.stack.mapping_for(function.logical_id) is None:
            continue
        queue = local.stack.queues[local.stack.mapping_for(function.logical_id).queue]
        assert function.environment["MAX_RECEIVE_COUNT"] == str(queue.max_receive_count)
        assert function.environment["OUT_OF_ORDER_MAX_RECEIVES"] == str(resolve({"Ref": "OutOfOrderMaxReceives"}))
        assert function.environment["MAX_AMOUNT"] == str(resolve({"Ref": "MaxAmount"}))


def test_each_function_has_its_log_group_with_the_retention_parameter(local):
    groups = {g["logGroupName"]: g for g in local.moto.client("logs").describe_log_groups()["logGroups"]}
    for logical_id in local.stack.functions:
        name = f"/aws/lambda/{local.stack.name}/{logical_id}"
        assert groups[name]["retentionInDays"] == resolve({"Ref": "LogRetentionDays"})


def test_parameters_cloudformation_would_refuse_are_refused_before_anything_starts():
    stack = LocalStack(parameters={"MaxReceiveCount": "3", "OutOfOrderMaxReceives": "3"})
    with pytest.raises(ParameterError, match="OutOfOrderMaxReceivesBelowMaxReceiveCount3: OutOfOrderMaxReceives must be below"):
        stack.start()
    assert stack.moto.endpoint == "" and stack.emulator.base_url == ""  # moto's CloudFormation would have created it


def test_only_what_is_really_not_emulated_is_listed_as_such_and_the_rest_is_stood_in_for(local):
    alarms = set(TEMPLATE.of_type("AWS::CloudWatch::Alarm"))
    queries = set(TEMPLATE.of_type("AWS::Logs::QueryDefinition"))
    # TLS only: the local endpoints are HTTP. AlarmTopic is not there: its Condition (an AlarmEmail) is false.
    assert set(local.stack.not_emulated) - {"Dashboard"} == alarms | queries | {
        "DocumentsBucketPolicy",
        "DocumentsAccessLogBucketPolicy",
    }
    assert set(local.stack.stood_in_for) == {
        "HokodoApiKeySecret",
        "WebhookUrlSecret",
        "DocumentsQueuePolicy",
        "EventTargetsQueuePolicy",
        "WebhookHttpApi",
        "WebhookHttpApiApiGatewayDefaultStage",  # SAM's $default stage of the HTTP API
        "ReconciliationFunctionSchedule",  # what the ScheduleV2 event becomes
        "ReconciliationFunctionEventInvokeConfig",  # the runner never retries a scheduled run
        "DocumentsBucket",
        "DocumentsAccessLogBucket",
        "IdempotencyTable",
    }
    assert "NotificationConfiguration" in local.stack.stood_in_for["DocumentsBucket"]
    policy = local.sqs.get_queue_attributes(QueueUrl=local.stack.queues["DocumentsQueue"].url, AttributeNames=["Policy"])
    [statement] = json.loads(policy["Attributes"]["Policy"])["Statement"]
    assert statement["Resource"] == local.stack.queues["DocumentsQueue"].arn


def test_a_message_sent_to_a_queue_reaches_its_function_and_hokodo(local):
    dp = local.admin.create_deferred_payment(10_000)["id"]
    queue = local.stack.queues["ShipmentsQueue"]
    local.sqs.send_message(
        QueueUrl=queue.url, MessageBody=json.dumps({"event_id": "stack-1", "deferred_payment_id": dp, "amount": 2_500})
    )
    deliveries = local.runner.settle()
    # the shipment; the idempotency table's stream (what was applied) to ledger tracking, which asks for its sync
    assert [d.function for d in deliveries if d.function != "DocumentsFunction"] == [
        "ShipmentsFunction",
        "TrackingFunction",
        "SyncFunction",
    ]
    assert local.admin.get_deferred_payment(dp)["protected_captures"] == 2_500
    [captured] = local.published()  # on the bus within the same settle: no notification, no reconciliation
    assert (captured["detail-type"], captured["detail"]["amount"]) == ("Deferred Payment Captured", 2_500)


def test_background_pollers_deliver_and_stop(local):
    dp = local.admin.create_deferred_payment(10_000)["id"]
    queue = local.stack.queues["CancellationsQueue"]
    local.runner.start(interval=0.1)
    try:
        body = {"event_id": "stack-2", "deferred_payment_id": dp, "amount": 1_000}
        local.sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(body))
        deadline = time.monotonic() + 10
        while local.admin.get_deferred_payment(dp)["voided_authorisation"] != 1_000:
            assert time.monotonic() < deadline, "the cancellation was not applied by the background poller"
            time.sleep(0.05)
    finally:
        local.runner.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("poller-")]
