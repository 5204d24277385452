"""What operators see must be true: template.yaml checked as SAM translates it, for what AWS really does with it.
Alarm e-mails reach the subscriber (the topic's key lets CloudWatch use it); every alarm watches a metric that exists
(its dimensions name what the service emits); the exactly-once ledger cannot be deleted by hand; the reconciliation
never runs twice at once; the documents queue accepts its bucket only; every name the stack derives fits its
service's limit, whatever the stack's name; documents encrypted with the merchant's own key can be read."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

import pytest
from conftest import ROOT
from hokodo_local.template import ParameterError, SamTemplate
from template_support import (
    ACCOUNT,
    REGION,
    STACK_UUID,
    StackValues,
    Unresolved,
    a_cycle,
    allows,
    condition_holds,
    dependencies,
    references,
)
from test_template import actions, roles_for

TEMPLATE = SamTemplate.load()
GLOBAL_VARIABLES = TEMPLATE.body["Globals"]["Function"]["Environment"]["Variables"]
KMS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LONGEST_STACK_NAME = "Hokodo-PostSale-" + "Production-" * 10 + "x" * 2  # CloudFormation's longest: 128 characters


@cache
def _translated(parameters: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    return TEMPLATE.translate("s3://placeholder/code.zip", dict(parameters), REGION)


def translated(**parameters: str) -> dict[str, Any]:
    """The plain CloudFormation SAM makes of the template with these parameter values (a fresh copy each time)."""
    return copy.deepcopy(_translated(tuple(sorted(parameters.items()))))


def of_type(body: dict, resource_type: str) -> dict[str, dict]:
    return {lid: r for lid, r in body["Resources"].items() if r["Type"] == resource_type}


def test_the_longest_stack_name_is_cloudformations_longest():
    assert len(LONGEST_STACK_NAME) == 128 and re.fullmatch(r"[A-Za-z][-A-Za-z0-9]*", LONGEST_STACK_NAME)


# -- 1. alarm e-mails are delivered --------------------------------------------------------------------
def alarm_arn(account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:hokodo-postsale-test-ShipmentsDeadLetterAlarm-1A2B3C4D5E6F"


def test_every_topic_key_lets_cloudwatch_alarms_publish():
    """CloudWatch needs kms:Decrypt and kms:GenerateDataKey* on an encrypted topic's key. alias/aws/sns's policy is AWS's
    and grants it nothing: alarms on such a topic change state and notify no one."""
    body = translated(AlarmEmail="oncall@example.com")
    stack = StackValues(body, {"AlarmEmail": "oncall@example.com"})
    topics = {lid: t for lid, t in of_type(body, "AWS::SNS::Topic").items() if stack.exists(t)}
    assert topics, "the stack makes a topic for AlarmEmail"
    for topic_id, topic in topics.items():
        key_reference = topic["Properties"].get("KmsMasterKeyId")
        if key_reference is None:  # not encrypted: CloudWatch needs nothing more
            continue
        assert not isinstance(key_reference, str), f"{topic_id}: {key_reference} is a key whose policy is not the stack's"
        [key_id] = references(key_reference)
        key = body["Resources"][key_id]
        assert key["Type"] == "AWS::KMS::Key" and key.get("Condition") == topic.get("Condition")  # made with the topic
        assert key["Properties"]["EnableKeyRotation"] is True
        policy = stack.value(key["Properties"]["KeyPolicy"])
        assert all(s["Effect"] == "Allow" for s in policy["Statement"])  # no Deny to reason about

        def granted(principal: dict, action: str, request: dict, statements: list = policy["Statement"]) -> bool:
            return any(
                s["Principal"] == principal
                and allows(s, action)
                and s["Resource"] == "*"
                and condition_holds(s.get("Condition"), request)
                for s in statements
            )

        own_alarm = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": alarm_arn()}
        for action in ("kms:Decrypt", "kms:GenerateDataKey"):
            assert granted({"Service": "cloudwatch.amazonaws.com"}, action, own_alarm), action
            # ...for this account's alarms only (the confused deputy: another account's alarm naming this topic)
            other = {"aws:SourceAccount": "999999999999", "aws:SourceArn": alarm_arn(account="999999999999")}
            assert not granted({"Service": "cloudwatch.amazonaws.com"}, action, other), action
        # The account administers the key (without it, no one could change or delete it)
        assert granted({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "kms:PutKeyPolicy", {})
        assert not any(
            granted({"Service": "cloudwatch.amazonaws.com"}, a, own_alarm) for a in ("kms:Encrypt", "kms:PutKeyPolicy")
        )


def test_no_alarm_topic_key_without_the_topic():
    for parameters in ({}, {"AlarmTopicArn": "arn:aws:sns:eu-west-1:123456789012:oncall"}):
        body = translated(**parameters)
        stack = StackValues(body, parameters)
        assert not any(stack.exists(k) for k in of_type(body, "AWS::KMS::Key").values()), parameters


# -- 2. every alarm watches a metric that exists -------------------------------------------------------
def emitted_by_powertools(metric: str) -> dict[str, Any]:
    """The EMF blob Powertools writes when the bundle emits `metric`, with the template's service and namespace."""
    from aws_lambda_powertools import Metrics
    from hokodo_postsale import observability

    emitters = {"Webhook5xx": lambda: observability.answered(503)}  # an alarm on another metric: add how it is emitted
    assert metric in emitters, f"{metric}: no known emitter (add one above)"
    metrics = Metrics(
        namespace=GLOBAL_VARIABLES["POWERTOOLS_METRICS_NAMESPACE"], service=GLOBAL_VARIABLES["POWERTOOLS_SERVICE_NAME"]
    )
    metrics.clear_metrics()
    try:
        emitters[metric]()
        return metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()


def rule_name_shapes(rule_id: str, rule: dict) -> list[Any]:
    """The values that give a rule's name. Ref gives "bus|rule" for a rule on a custom bus (its physical id)."""
    shapes = [{"Fn::GetAtt": [rule_id, "RuleName"]}, {"Fn::Select": [1, {"Fn::Split": ["|", {"Ref": rule_id}]}]}]
    if rule["Properties"].get("EventBusName", "default") == "default":
        shapes.append({"Ref": rule_id})
    return shapes


def dimension_gives_the_metrics_value(name: str, value: Any, resources: dict) -> bool:
    """Whether an alarm dimension's value is what the service puts in that dimension of its metrics."""
    targets = references(value)
    if not isinstance(value, dict) or len(targets) != 1:
        return False
    [target] = targets
    resource = resources.get(target, {})
    if name == "QueueName":  # AWS/SQS: the queue's name (Ref would be its URL)
        return resource.get("Type") == "AWS::SQS::Queue" and value == {"Fn::GetAtt": [target, "QueueName"]}
    if name == "FunctionName":  # AWS/Lambda: the function's name, what Ref of a function gives
        return resource.get("Type") == "AWS::Lambda::Function" and value == {"Ref": target}
    if name == "RuleName":  # AWS/Events: the rule's name
        return resource.get("Type") == "AWS::Events::Rule" and value in rule_name_shapes(target, resource)
    if name == "EventBusName":  # AWS/Events: the bus's name (Ref would be the name too, but GetAtt says so)
        return resource.get("Type") == "AWS::Events::EventBus" and value == {"Fn::GetAtt": [target, "Name"]}
    return False


AWS_DIMENSION_SETS = {  # the dimension sets each service publishes its metrics under (that an alarm here may use)
    "AWS/SQS": [{"QueueName"}],
    "AWS/Lambda": [{"FunctionName"}],
    "AWS/Events": [{"RuleName"}, {"EventBusName", "RuleName"}],
}


def test_every_alarms_dimensions_name_what_the_service_emits():
    """An alarm whose dimension matches no metric is INSUFFICIENT_DATA forever, which notBreaching shows as OK."""
    body = translated()
    resources, alarms = body["Resources"], of_type(body, "AWS::CloudWatch::Alarm")
    custom_namespace = GLOBAL_VARIABLES["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarms
    for alarm_id, alarm in alarms.items():
        properties = alarm["Properties"]
        namespace, dimensions = properties["Namespace"], {d["Name"]: d["Value"] for d in properties.get("Dimensions", [])}
        if namespace == custom_namespace:  # ours: exactly the dimensions Powertools writes with the metric
            blob = emitted_by_powertools(properties["MetricName"])
            [directive] = blob["_aws"]["CloudWatchMetrics"]
            assert directive["Namespace"] == namespace, alarm_id
            assert properties["MetricName"] in {m["Name"] for m in directive["Metrics"]}, alarm_id
            assert [sorted(dimensions)] == [sorted(d) for d in directive["Dimensions"]], alarm_id
            assert dimensions == {d: blob[d] for d in dimensions}, alarm_id
            continue
        assert set(dimensions) in AWS_DIMENSION_SETS[namespace], (alarm_id, namespace, set(dimensions))
        for name, value in dimensions.items():
            assert dimension_gives_the_metrics_value(name, value, resources), f"{alarm_id}: {name} = {json.dumps(value)}"
        if {"EventBusName", "RuleName"} <= set(dimensions):  # the rule is on that bus
            [rule_id] = references(dimensions["RuleName"])
            assert resources[rule_id]["Properties"]["EventBusName"] == dimensions["EventBusName"], alarm_id


def test_the_dimension_check_refuses_what_would_never_match():
    resources = translated()["Resources"]
    assert resources["ExpiriesAndClawbacksRule"]["Properties"]["EventBusName"] == {"Fn::GetAtt": ["EventBus", "Name"]}
    wrong = [
        ("RuleName", {"Ref": "ExpiriesAndClawbacksRule"}),  # "bus|rule" for a rule on a custom bus
        ("QueueName", {"Ref": "ShipmentsQueue"}),  # the queue's URL
        ("FunctionName", {"Fn::GetAtt": ["ShipmentsFunction", "Arn"]}),
        ("EventBusName", {"Fn::GetAtt": ["EventBus", "Arn"]}),
        ("FunctionName", {"Ref": "ShipmentsQueue"}),
        ("QueueName", "ShipmentsQueue"),
    ]
    for name, value in wrong:
        assert not dimension_gives_the_metrics_value(name, value, resources), (name, value)


# -- 3. the exactly-once ledger cannot be deleted by hand ---------------------------------------------
def test_the_ledger_has_deletion_protection_unless_turned_off():
    table = TEMPLATE.resources["IdempotencyTable"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"  # stack deletion and replacement
    parameter = TEMPLATE.body["Parameters"]["IdempotencyTableDeletionProtection"]
    assert parameter["Type"] == "String" and parameter["AllowedValues"] == ["true", "false"] and parameter["Default"] == "true"
    for value in ("true", "false"):
        body = translated(IdempotencyTableDeletionProtection=value)
        protection = StackValues(body, {"IdempotencyTableDeletionProtection": value}).value(
            body["Resources"]["IdempotencyTable"]["Properties"]["DeletionProtectionEnabled"]
        )
        assert protection == value  # CloudFormation reads "true"/"false" as the Boolean
    assert StackValues(translated()).value({"Ref": "IdempotencyTableDeletionProtection"}) == "true"
    with pytest.raises(ParameterError, match="is not one of"):
        TEMPLATE.check_parameters({"IdempotencyTableDeletionProtection": "no"})


def test_the_runbook_says_how_to_delete_the_ledger_on_purpose():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    assert "--no-deletion-protection-enabled" in runbook and "delete-table" in runbook


def test_every_parameter_is_in_the_readmes_parameter_table():
    readme = (ROOT / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    documented = {name for row in rows for name in re.findall(r"`([A-Za-z]+)`", row.split("|")[1])}
    assert set(TEMPLATE.body["Parameters"]) <= documented, set(TEMPLATE.body["Parameters"]) - documented


# -- 4. the reconciliation never runs twice at once ----------------------------------------------------
def test_a_scheduled_function_runs_one_at_a_time_and_lambda_never_retries_it():
    """EventBridge Scheduler invokes asynchronously: Lambda retries a failed invocation twice by default, whatever the
    schedule's own RetryPolicy says (that one covers the Invoke call only)."""
    body = translated()
    resources = body["Resources"]
    schedules = of_type(body, "AWS::Scheduler::Schedule")
    assert schedules
    invoke_configs = of_type(body, "AWS::Lambda::EventInvokeConfig").values()
    configs = {target_ref(c["Properties"]["FunctionName"]): c["Properties"] for c in invoke_configs}
    for schedule_id, schedule in schedules.items():
        target = schedule["Properties"]["Target"]
        [function_id] = references(target["Arn"])
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}, schedule_id  # unqualified: $LATEST's config applies
        assert target["RetryPolicy"]["MaximumRetryAttempts"] == 0, schedule_id
        function = resources[function_id]["Properties"]
        assert function.get("ReservedConcurrentExecutions") == 1, function_id  # a second run waits for the first
        config = configs[function_id]
        assert config["Qualifier"] == "$LATEST" and config["MaximumRetryAttempts"] == 0, function_id
        assert 60 <= config["MaximumEventAgeInSeconds"] <= 300, function_id  # a run held back is dropped, not queued for hours
        if not config.get("DestinationConfig", {}).get("OnFailure"):  # no failure destination: a failed run must alarm
            on_errors = [
                a["Properties"]
                for a in of_type(body, "AWS::CloudWatch::Alarm").values()
                if a["Properties"]["MetricName"] == "Errors"
                and a["Properties"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
            ]
            assert on_errors and all(a["Threshold"] == 0 and "AlarmActions" in a for a in on_errors), function_id


def target_ref(value: Any) -> str:
    [logical_id] = references(value)
    return logical_id


# -- 5. the documents queue accepts the documents bucket only -----------------------------------------
@pytest.mark.parametrize("stack_name", ["hokodo-postsale-production", "Hokodo-PostSale-PROD", LONGEST_STACK_NAME, "a"])
def test_the_documents_queue_accepts_only_its_bucket(stack_name):
    body = translated()
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:documents"
    stack = StackValues(body, stack_name=stack_name, known={"DocumentsQueue.Arn": queue_arn})
    bucket_name = stack.value(body["Resources"]["DocumentsBucket"]["Properties"]["BucketName"])
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", bucket_name) and "--" not in bucket_name, bucket_name
    policy = body["Resources"]["DocumentsQueuePolicy"]["Properties"]
    assert policy["Queues"] == [{"Ref": "DocumentsQueue"}]
    [statement] = stack.value(policy["PolicyDocument"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == queue_arn
    own = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": f"arn:aws:s3:::{bucket_name}"}
    assert condition_holds(statement["Condition"], own)
    for other in (
        {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": "arn:aws:s3:::another-bucket-of-the-account"},
        {"aws:SourceAccount": "999999999999", "aws:SourceArn": f"arn:aws:s3:::{bucket_name}"},
        {"aws:SourceArn": f"arn:aws:s3:::{bucket_name}"},
    ):
        assert not condition_holds(statement["Condition"], other), other


def test_the_translated_template_has_no_dependency_cycle_and_everything_names_the_bucket():
    for parameters in ({}, {"QueueType": "fifo", "AlarmEmail": "oncall@example.com", "DocumentsKmsKeyArn": KMS_KEY}):
        body = translated(**parameters)
        resources = body["Resources"]
        assert a_cycle(dependencies(resources)) is None, parameters
        bucket = resources["DocumentsBucket"]
        # S3 checks the queue's policy when the notification is set, and the log bucket's when logging is
        assert bucket["DependsOn"] == ["DocumentsQueuePolicy", "DocumentsAccessLogBucketPolicy"]
        assert "DocumentsBucket" not in references(resources["DocumentsAccessLogBucketPolicy"])  # a cycle too
        assert "DocumentsBucket" not in references(resources["DocumentsQueuePolicy"])  # that would be the cycle
        [notification] = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
        assert notification["Queue"] == {"Fn::GetAtt": ["DocumentsQueue", "Arn"]}
        assert references(resources["DocumentsBucketPolicy"]["Properties"]["Bucket"]) == {"DocumentsBucket"}
        producer = resources["ProducerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        assert [s["Resource"] for s in producer if s["Action"] == "s3:PutObject"] == [{"Fn::Sub": "${DocumentsBucket.Arn}/*"}]
        assert body["Outputs"]["DocumentsBucketName"]["Value"] == {"Ref": "DocumentsBucket"}
    # The check sees the cycle a reference to the bucket from the queue's policy would make
    [statement] = resources["DocumentsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    statement["Condition"]["ArnEquals"]["aws:SourceArn"] = {"Fn::GetAtt": ["DocumentsBucket", "Arn"]}
    cycle = a_cycle(dependencies(resources))
    assert cycle is not None and {"DocumentsBucket", "DocumentsQueuePolicy"} <= set(cycle)


# -- 6. every name derived from the stack's name fits --------------------------------------------------
NAME_LIMITS = {  # (resource type, property path): (most characters, pattern) from each service's limits
    ("AWS::Scheduler::Schedule", "Name"): (64, r"[0-9a-zA-Z-_.]+"),
    ("AWS::Scheduler::Schedule", "Description"): (512, None),
    ("AWS::Events::EventBus", "Name"): (256, r"[/\.\-_A-Za-z0-9]+"),
    ("AWS::Events::Rule", "Name"): (64, r"[\.\-_A-Za-z0-9]+"),
    ("AWS::Events::Archive", "ArchiveName"): (48, r"[\.\-_A-Za-z0-9]+"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"): (255, r"[A-Za-z0-9_-]+"),
    ("AWS::CloudWatch::Alarm", "AlarmName"): (255, None),
    ("AWS::Logs::LogGroup", "LogGroupName"): (512, r"[.\-_/#A-Za-z0-9]+"),
    ("AWS::Logs::QueryDefinition", "Name"): (255, None),
    ("AWS::SNS::Topic", "TopicName"): (256, r"[A-Za-z0-9_-]+(\.fifo)?"),
    ("AWS::SNS::Topic", "DisplayName"): (100, None),
    ("AWS::S3::Bucket", "BucketName"): (63, r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
    ("AWS::SQS::Queue", "QueueName"): (80, r"[A-Za-z0-9_-]+(\.fifo)?"),
    ("AWS::Lambda::Function", "FunctionName"): (64, r"[a-zA-Z0-9_-]+"),
    ("AWS::Lambda::LayerVersion", "LayerName"): (140, r"[a-zA-Z0-9_-]+"),
    ("AWS::IAM::Role", "RoleName"): (64, r"[\w+=,.@-]+"),
    ("AWS::DynamoDB::Table", "TableName"): (255, r"[a-zA-Z0-9_.-]+"),
    ("AWS::SecretsManager::Secret", "Name"): (512, None),
    ("AWS::ApiGatewayV2::Api", "Name"): (128, None),
    ("AWS::ApiGatewayV2::Api", "Body.info.title"): (128, None),  # the API's name when it comes with a Body
    ("AWS::KMS::Key", "Description"): (8192, None),
}


NOT_NAMES = {  # values made from the stack's id that are not names themselves
    ("AWS::SQS::QueuePolicy", "PolicyDocument.Statement"): "the documents bucket's ARN (its name: BucketName above)",
    ("AWS::S3::BucketPolicy", "PolicyDocument.Statement"): "the documents bucket's ARN, in its access log bucket's policy",
}


def property_paths(value: Any, prefix: str = "") -> dict[str, Any]:
    """Every (nested) property of a resource by dotted path, down to the values that are intrinsics or literals."""
    if isinstance(value, dict) and not any(k == "Ref" or k.startswith("Fn::") for k in value):
        return {p: v for k, item in value.items() for p, v in property_paths(item, f"{prefix}{k}.").items()}
    return {prefix.rstrip("."): value}


def mentions_stack(value: Any) -> bool:
    text = json.dumps(value)
    return "AWS::StackName" in text or "AWS::StackId" in text


@pytest.mark.parametrize("queue_type", ["standard", "fifo"])
def test_every_name_the_stack_computes_fits_for_the_longest_stack_name(queue_type):
    parameters = {"QueueType": queue_type, "AlarmEmail": "oncall@example.com"}
    body = translated(**parameters)
    stack = StackValues(body, parameters, stack_name=LONGEST_STACK_NAME)
    checked = set()
    for logical_id, resource in body["Resources"].items():
        if not stack.exists(resource):
            continue
        for path, value in property_paths(resource.get("Properties", {})).items():
            limit = NAME_LIMITS.get((resource["Type"], path))
            if limit is None:  # a value made from the stack's name or id is a name of some kind: say what its limit is
                known = (resource["Type"], path) in NOT_NAMES
                assert known or not mentions_stack(value), (
                    f"{logical_id}.{path}: add its limit to NAME_LIMITS ({json.dumps(value)})"
                )
                continue
            name = stack.value(value)
            if name is None:
                continue
            most, pattern = limit
            assert len(name) <= most, f"{logical_id}.{path}: {len(name)} characters (at most {most}): {name}"
            assert pattern is None or re.fullmatch(pattern, name), f"{logical_id}.{path}: {name}"
            checked.add((resource["Type"], path))
    assert ("AWS::Scheduler::Schedule", "Name") in checked and ("AWS::S3::Bucket", "BucketName") in checked
    assert ("AWS::SNS::Topic", "DisplayName") in checked and ("AWS::Events::EventBus", "Name") in checked


def test_a_fifo_queue_is_named_by_the_stack_not_by_cloudformation():
    """CloudFormation does not cut the name it generates for a FIFO queue to SQS's 80 characters (stack name, logical id,
    random suffix, .fifo): a long stack name fails the deploy. Standard queues' generated names are cut to fit."""
    for queue_type in ("standard", "fifo"):
        body = translated(QueueType=queue_type)
        stack = StackValues(body, {"QueueType": queue_type}, stack_name=LONGEST_STACK_NAME)
        names = []
        for queue_id, queue in of_type(body, "AWS::SQS::Queue").items():
            properties = {k: stack.value(queue["Properties"].get(k)) for k in ("FifoQueue", "QueueName")}
            properties = {k: v for k, v in properties.items() if v is not None}
            if properties.get("FifoQueue") is True:
                assert properties["QueueName"].endswith(".fifo") and len(properties["QueueName"]) <= 80, queue_id
                names.append(properties["QueueName"])
            else:
                assert "QueueName" not in properties, queue_id  # CloudFormation's generated, fitting name
        assert len(names) == len(set(names)) == (6 if queue_type == "fifo" else 0)
        assert all(STACK_UUID in n for n in names)  # unique to the stack


def test_the_names_made_from_the_stack_id_do_not_depend_on_the_stack_name():
    body = translated()
    names = [
        body["Resources"]["ReconciliationFunctionSchedule"]["Properties"]["Name"],
        body["Resources"]["DocumentsBucket"]["Properties"]["BucketName"],
    ]
    for value in names:
        computed = {StackValues(body, stack_name=n).value(value) for n in ("a", "B-b", LONGEST_STACK_NAME)}
        assert len(computed) == 1 and STACK_UUID in computed.pop()
    with pytest.raises(Unresolved):  # the evaluator never makes up what only the created stack knows
        StackValues(body).value({"Fn::GetAtt": ["DocumentsBucket", "Arn"]})


# -- 7. documents encrypted with the merchant's own key --------------------------------------------------
def kms_statements(role: dict) -> list[dict]:
    found = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    return [s for s in found if any(a.startswith("kms:") for a in actions(s))]


def test_without_a_documents_key_no_function_may_use_kms():
    roles = roles_for({})
    assert all(kms_statements(role) == [] for role in roles.values())


def test_with_a_documents_key_the_documents_function_may_only_decrypt_with_it_through_s3():
    roles = roles_for({"DocumentsKmsKeyArn": KMS_KEY})
    stack = StackValues(translated(DocumentsKmsKeyArn=KMS_KEY), {"DocumentsKmsKeyArn": KMS_KEY})
    [statement] = [stack.value(s) for s in kms_statements(roles["DocumentsFunction"])]
    assert statement["Effect"] == "Allow" and statement["Action"] == "kms:Decrypt"  # exactly that
    assert statement["Resource"] == KMS_KEY
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}
    assert all(kms_statements(role) == [] for function_id, role in roles.items() if function_id != "DocumentsFunction")


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (KMS_KEY, True),
        ("arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),
        ("arn:aws:kms:eu-west-1:111122223333:alias/documents", False),  # IAM authorizes Decrypt on the key, not its alias
        ("1234abcd-12ab-34cd-56ef-1234567890ab", False),
    ],
)
def test_the_documents_key_must_be_a_key_arn(value, accepted):
    if accepted:
        TEMPLATE.check_parameters({"DocumentsKmsKeyArn": value})
    else:
        with pytest.raises(ParameterError, match="does not match"):
            TEMPLATE.check_parameters({"DocumentsKmsKeyArn": value})
