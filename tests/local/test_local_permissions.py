"""Permissions proved, not only declared: every AWS call the demo's functions make is evaluated against the function's
own role as template.yaml gives it (translated, intrinsics resolved to the local ARNs), and a template with one
permission removed is shown to deny the call that needs it."""

from __future__ import annotations

import copy
import io
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from hokodo_local import iam
from hokodo_local.iam import Mapper, Request, Role, Statement, TableKeys, evaluate
from hokodo_local.local_stack import LocalStack
from hokodo_local.scenario import INVOICE_PDF, run_demo
from hokodo_local.template import SamTemplate

# The function that publishes to the bus. When publishing moves (a SyncFunction), change it here.
PUBLISHER = "SyncFunction"  # the one function that publishes to the bus

REGION = "eu-west-1"
TABLE_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/idempotency"


# -- the evaluator, alone --------------------------------------------------------------------------------------------
def role(*statements: Statement) -> Role:
    return Role("F", "FRole", statements)


def allow(label: str, actions: str | tuple[str, ...], resources: str | tuple[str, ...], **condition) -> Statement:
    return Statement(
        label,
        "Allow",
        actions=(actions,) if isinstance(actions, str) else actions,
        resources=(resources,) if isinstance(resources, str) else resources,
        condition={op: {k: tuple(v) for k, v in keys.items()} for op, keys in condition.items()},
    )


OWN_ITEMS = allow(
    "Policy0/OwnItems",
    ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"),
    TABLE_ARN,
    **{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["app.shipment#*", "app.shipment.*"]}},
)
MAPPER = Mapper(tables={"idempotency": TableKeys("id", {"open-index": "open"})}, secrets={"ApiKey": "arn:secret:ApiKey-abc"})


def requests(service: str, operation: str, params: dict) -> list[Request]:
    return MAPPER.requests(service, operation, params, REGION)


def test_leading_keys_must_all_match_one_statement():
    [own] = requests("dynamodb", "UpdateItem", {"TableName": "idempotency", "Key": {"id": {"S": "app.shipment#abc"}}})
    assert own == Request("dynamodb:UpdateItem", TABLE_ARN, (("dynamodb:LeadingKeys", ("app.shipment#abc",)),))
    assert evaluate(role(OWN_ITEMS), own).allowed

    keys = [{"id": {"S": "app.shipment.state#e1"}}, {"id": {"S": "app.return#e2"}}]
    [batch] = requests("dynamodb", "BatchGetItem", {"RequestItems": {"idempotency": {"Keys": keys}}})
    verdict = evaluate(role(OWN_ITEMS), batch)
    assert not verdict.allowed
    assert "Policy0/OwnItems allows it only if ForAllValues:StringLike dynamodb:LeadingKeys" in verdict.reason
    assert "app.return#e2" in verdict.reason

    reads = allow("Policy0/Reads", "dynamodb:BatchGetItem", TABLE_ARN, **{
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["app.shipment.*", "app.return#*"]}})  # fmt: skip
    assert evaluate(role(OWN_ITEMS, reads), batch).allowed_by == ("Policy0/Reads",)


def test_an_explicit_deny_wins_and_wildcards_match():
    [get] = requests("secretsmanager", "GetSecretValue", {"SecretId": "ApiKey"})
    assert get == Request("secretsmanager:GetSecretValue", "arn:secret:ApiKey-abc")
    wide = allow("Policy1[0]", "secretsmanager:Get*", "arn:secret:*")
    assert evaluate(role(wide), get).allowed
    deny = Statement("Policy2/NoSecrets", "Deny", actions=("secretsmanager:*",), resources=("*",))
    assert evaluate(role(wide, deny), get) == iam.Verdict(False, "denied explicitly by Policy2/NoSecrets")
    assert evaluate(role(), get).reason == "no statement of FRole allows it"


def test_string_and_arn_conditions():
    [send] = requests("sqs", "SendMessage", {"QueueUrl": "http://127.0.0.1:5000/123456789012/dlq", "MessageBody": "{}"})
    assert send.resource == "arn:aws:sqs:eu-west-1:123456789012:dlq"
    # A condition on a key the local evaluator cannot supply is never taken as met (nor skipped).
    on_source = allow("P/FromRule", "sqs:SendMessage", "*", ArnEquals={"aws:SourceArn": ["arn:aws:events:rule/x"]})
    verdict = evaluate(role(on_source), send)
    assert not verdict.allowed and "condition key aws:SourceArn is not known to the local evaluator" in verdict.reason

    [query] = requests(
        "dynamodb",
        "Query",
        {"TableName": "idempotency", "IndexName": "open-index", "KeyConditionExpression": "#o = :one",
         "ExpressionAttributeNames": {"#o": "open"}, "ExpressionAttributeValues": {":one": {"S": "1"}}},
    )  # fmt: skip
    assert query == Request("dynamodb:Query", TABLE_ARN + "/index/open-index", (("dynamodb:LeadingKeys", ("1",)),))
    for operator, values, allowed in [
        ("StringEquals", ["1"], True),
        ("StringEquals", ["2"], False),
        ("StringLike", ["?"], True),
        ("StringNotEquals", ["1"], False),
        ("ForAnyValue:StringEquals", ["2", "1"], True),
        ("ArnLike", ["*"], True),
        ("ArnEquals", ["2"], False),
    ]:
        statement = allow("P/Q", "dynamodb:Query", "arn:aws:dynamodb:*:*:table/idempotency/index/*", **{
            operator: {"dynamodb:LeadingKeys": values}})  # fmt: skip
        assert evaluate(role(statement), query).allowed is allowed, operator


OBJECT = {"Bucket": "docs", "Key": "invoices/o/INV.pdf"}
OBJECT_ARN = "arn:aws:s3:::docs/invoices/o/INV.pdf"
VERSION = {**OBJECT, "VersionId": "v1"}


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("sqs", "SendMessageBatch", {"QueueUrl": "http://h/123456789012/q", "Entries": []}, [
            ("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:q")
        ]),
        ("s3", "GetObject", OBJECT, [("s3:GetObject", OBJECT_ARN)]),
        ("s3", "GetObject", VERSION, [("s3:GetObjectVersion", OBJECT_ARN)]),
        ("s3", "HeadObject", OBJECT, [("s3:GetObject", OBJECT_ARN)]),
        ("s3", "GetObjectTagging", VERSION, [("s3:GetObjectVersionTagging", OBJECT_ARN)]),
        ("s3", "PutObjectTagging", {**VERSION, "Tagging": {}}, [("s3:PutObjectVersionTagging", OBJECT_ARN)]),
        ("s3", "PutObjectTagging", {**OBJECT, "Tagging": {}}, [("s3:PutObjectTagging", OBJECT_ARN)]),
        ("s3", "ListObjectsV2", {"Bucket": "docs"}, [("s3:ListBucket", "arn:aws:s3:::docs")]),
        ("events", "PutEvents", {"Entries": [{"EventBusName": "bus"}, {"EventBusName": "bus"}, {}]}, [
            ("events:PutEvents", "arn:aws:events:eu-west-1:123456789012:event-bus/bus"),
            ("events:PutEvents", "arn:aws:events:eu-west-1:123456789012:event-bus/default"),
        ]),
        ("dynamodbstreams", "GetRecords", {"ShardIterator": TABLE_ARN + "/stream/label|1|AAAA"}, [
            ("dynamodb:GetRecords", TABLE_ARN + "/stream/label")
        ]),
        ("dynamodb", "BatchGetItem", {"RequestItems": {"idempotency": {"Keys": [{"id": {"S": "a"}}]}, "other": {"Keys": []}}}, [
            ("dynamodb:BatchGetItem", TABLE_ARN),
            ("dynamodb:BatchGetItem", "arn:aws:dynamodb:eu-west-1:123456789012:table/other"),
        ]),
        ("dynamodb", "TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": "idempotency", "Item": {"id": {"S": "a"}}}},
            {"ConditionCheck": {"TableName": "idempotency", "Key": {"id": {"S": "b"}}}},
        ]}, [("dynamodb:PutItem", TABLE_ARN), ("dynamodb:ConditionCheckItem", TABLE_ARN)]),
    ],
)  # fmt: skip
def test_the_mapping_names_the_iam_action_and_resource(service, operation, params, expected):
    assert [(r.action, r.resource) for r in requests(service, operation, params)] == expected


def test_an_unmapped_call_is_denied_saying_so_and_a_key_it_cannot_read_is_never_taken_as_met():
    permissions = iam.Permissions({"F": role(allow("P/All", "*", "*"))}, MAPPER)
    [decision] = permissions.decide("F", "kms", "Decrypt", {}, via=iam.FUNCTION, region=REGION)
    assert not decision.verdict.allowed
    assert "not evaluated: no mapping of kms.Decrypt to its IAM action and resource" in decision.verdict.reason
    # A table whose key schema is unknown: its LeadingKeys cannot be derived, so a condition on them is not met.
    [unknown] = requests("dynamodb", "GetItem", {"TableName": "elsewhere", "Key": {"pk": {"S": "app.shipment#1"}}})
    assert unknown.unknown == ("dynamodb:LeadingKeys",)
    anywhere = allow("P/Own", "dynamodb:GetItem", "*", **{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["app.*"]}})
    verdict = evaluate(role(anywhere), unknown)
    assert not verdict.allowed and "the call's dynamodb:LeadingKeys could not be derived here" in verdict.reason


def test_the_hook_sees_every_session_and_the_thread_pools_a_function_starts():
    """Calls are evaluated before they are sent: a role with no statement denies them with AWS's error, whichever
    session made the client (boto3's default one, a session of its own as Powertools makes) and in whichever thread of
    the function's; calls made outside a function are not the function's (here: sent, to a closed port)."""
    permissions = iam.Permissions({"F": role()}, MAPPER)
    options = {
        "region_name": REGION,
        "endpoint_url": "http://127.0.0.1:9",
        "aws_access_key_id": "k",
        "aws_secret_access_key": "s",
    }
    config = Config(retries={"max_attempts": 1}, connect_timeout=1)
    with iam.enforcing(permissions):
        sqs = boto3.client("sqs", config=config, **options)
        secrets = boto3.session.Session().client("secretsmanager", config=config, **options)
        with pytest.raises(iam.PermissionDenied) as raised, iam.acting_as("F"):  # noqa: PT012
            with pytest.raises(
                ClientError, match="AccessDeniedException.*F: sqs:SendMessage on arn:aws:sqs:eu-west-1:123456789012:q"
            ):
                sqs.send_message(QueueUrl="http://127.0.0.1:9/123456789012/q", MessageBody="{}")
            with ThreadPoolExecutor(2) as pool, pytest.raises(iam.AccessDenied):
                pool.submit(secrets.get_secret_value, SecretId="ApiKey").result()
        with pytest.raises(EndpointConnectionError):
            sqs.send_message(QueueUrl="http://127.0.0.1:9/123456789012/q", MessageBody="{}")
    assert [d.call.request.action for d in raised.value.decisions] == ["sqs:SendMessage", "secretsmanager:GetSecretValue"]
    assert len(permissions.decisions) == 2


# -- the demo, through its roles -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo() -> LocalStack:
    """The demo played once with every call evaluated; its LocalStack (stopped), with every decision taken."""
    stacks: list[LocalStack] = []
    run_demo(io.StringIO(), log_level="ERROR", on_stack=stacks.append)  # raises PermissionDenied if any call was denied
    return stacks[0]


def test_every_call_the_demos_functions_made_was_allowed_by_their_roles(demo):
    permissions = demo.permissions
    print("\nWhat each function used in the demo (all allowed by its role in template.yaml):\n" + permissions.table())
    idle = [
        f"{function} {label}: {', '.join(actions)}"
        for function, grants in permissions.unused().items()
        for label, actions in grants.items()
    ]
    print("Granted by the template's own statements, not used in the demo:\n" + "\n".join(idle))
    assert permissions.denied() == []
    calls = [d.call for d in permissions.decisions]
    assert all(c.request is not None for c in calls)  # nothing unmapped
    # Every function of the template made calls, each evaluated with its own role.
    assert {c.function for c in calls} == set(demo.stack.functions) == set(permissions.roles)
    # Powertools' own clients are seen too: each queue function reads the API key itself (its provider is per container).
    readers = {c.function for c in calls if c.request.action == "secretsmanager:GetSecretValue"}
    assert {m.function for m in demo.stack.mappings} <= readers


def test_event_source_mappings_read_and_delete_with_the_functions_roles(demo):
    used = demo.permissions.used()
    queues_of: dict[str, set[str]] = {}  # a function may have several queues (the sync function: two)
    for mapping in demo.stack.mappings:
        queues_of.setdefault(mapping.function, set()).add(demo.stack.queues[mapping.queue].arn)
    for function, queues in queues_of.items():
        actions = used[f"{function} ({iam.EVENT_SOURCE_MAPPING})"]
        assert {"sqs:ReceiveMessage", "sqs:DeleteMessage"} <= set(actions)
        assert actions["sqs:ReceiveMessage"] == queues
    for mapping in demo.stack.stream_mappings:
        actions = used[f"{mapping.function} ({iam.EVENT_SOURCE_MAPPING})"]
        assert set(actions) == {"dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"}


def test_dynamodb_calls_carry_the_partition_keys_they_touch(demo):
    for decision in demo.permissions.decisions:
        request = decision.call.request
        if request.action.startswith("dynamodb:") and request.action not in (
            "dynamodb:DescribeStream",
            "dynamodb:GetShardIterator",
            "dynamodb:GetRecords",
        ):
            keys = request.value("dynamodb:LeadingKeys")
            assert keys, decision.describe()
            if request.action != "dynamodb:Query":
                assert all(k.startswith("hokodo-postsale.") for k in keys), decision.describe()


# What each function may write in the shared table, by partition key prefix (its idempotency and event state items).
WRITES = {
    "ShipmentsFunction": "hokodo-postsale.shipment",
    "ReturnsFunction": "hokodo-postsale.return",
    "CancellationsFunction": "hokodo-postsale.cancellation",
    "DocumentsFunction": "hokodo-postsale.document",
    "WebhooksFunction": "hokodo-postsale.sync",
    "SyncFunction": "hokodo-postsale.sync",
    "TrackingFunction": "hokodo-postsale.sync",
    "ReconciliationFunction": None,  # reads the watch list through its index, writes no item
}


def test_each_function_reaches_only_its_own_queue_secrets_and_items(demo):
    """Least privilege, beyond what the demo happened to call: each role checked against every queue, secret and kind
    of item of the stack."""
    stack, permissions = demo.stack, demo.permissions

    def allowed(function: str, service: str, operation: str, params: dict) -> bool:
        return all(
            evaluate(permissions.roles[function], r).allowed
            for r in permissions.mapper.requests(service, operation, params, REGION)
        )

    # Dead letters: each queue function to its own DLQ only; ledger tracking's stream mapping to its OnFailure queue.
    senders = {m.function: stack.dead_letter_queue(stack.queues[m.queue]) for m in stack.mappings}
    senders |= {m.function: stack.queue_by_arn(m.on_failure) for m in stack.stream_mappings if m.on_failure}
    for function in stack.functions:
        for other, queue in senders.items():
            assert allowed(function, "sqs", "SendMessage", {"QueueUrl": queue.url}) is (function == other), (
                function,
                queue.logical_id,
            )
    # Secrets: none but those its environment names (ledger tracking's names the API key through Globals, unreadable).
    for function in stack.functions:
        for secret in stack.secrets.values():
            if allowed(function, "secretsmanager", "GetSecretValue", {"SecretId": secret.arn}):
                assert secret.arn in stack.functions[function].environment.values(), (function, secret.logical_id)
    # Items: each writes only its own kind's.
    table = next(iter(stack.tables.values()))
    for function in stack.functions.keys() & WRITES.keys():
        for prefix in set(WRITES.values()) - {None}:
            for separator in "#.":
                key = {"TableName": table, "Key": {"id": {"S": f"{prefix}{separator}x"}}}
                if prefix == "hokodo-postsale.sync" and separator == ".":
                    continue
                assert allowed(function, "dynamodb", "UpdateItem", key) is (WRITES[function] == prefix), (function, prefix)
    # What the bundle applied per deferred payment: read by the post-sale kinds for an action left in doubt (rare: no
    # demo makes that call), and by the sync function, which keeps the watermark on the same item.
    readers = {"ShipmentsFunction", "ReturnsFunction", "CancellationsFunction", "SyncFunction"}
    for function in stack.functions:
        key = {"TableName": table, "Key": {"id": {"S": "hokodo-postsale.sync#defpay-1"}}}
        assert allowed(function, "dynamodb", "GetItem", key) is (function in readers), function


def test_only_aws_managed_policies_grant_on_every_resource(demo):
    """The template's own statements name their resources; `*` comes only from the managed policies SAM attaches (logs,
    X-Ray, and the SQS and DynamoDB stream pollers': reading and deleting any queue's messages, reading any stream)."""
    wide = {
        (function, statement.label)
        for function, role in demo.permissions.roles.items()
        for statement in role.statements
        if statement.effect == "Allow" and any(r == "*" for r in statement.resources)
    }
    assert all(label.split("[")[0] in MANAGED for _, label in wide), wide
    queue_functions = {m.function for m in demo.stack.mappings}
    assert {f for f, label in wide if label.startswith("AWSLambdaSQSQueueExecutionRole")} == queue_functions
    for role in demo.permissions.roles.values():
        assert not role.notes, role.notes  # every managed policy's document known, every statement resolved
        assert all(s.unresolved is None for s in role.statements)


MANAGED = {
    "AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess",
    "AWSLambdaSQSQueueExecutionRole",
    "AWSLambdaDynamoDBExecutionRole",
}


# -- a permission removed --------------------------------------------------------------------------------------------
def without_action(body: dict, function: str, action: str) -> dict:
    """A copy of the template body where no inline statement of `function`'s Policies names `action` (a statement left
    with no action goes)."""
    body = copy.deepcopy(body)
    policies = body["Resources"][function]["Properties"]["Policies"]
    removed = 0
    for policy in policies:
        if not isinstance(policy, dict) or "Statement" not in policy:
            continue
        kept = []
        for statement in policy["Statement"]:
            if "Action" not in statement:  # a conditional statement (Fn::If), kept as it is
                kept.append(statement)
                continue
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            left = [a for a in actions if a != action]
            removed += len(actions) - len(left)
            if left:
                kept.append({**statement, "Action": left})
        policy["Statement"] = kept
    assert removed, f"{function} has no inline statement naming {action}"
    return body


def without_policy_template(body: dict, function: str, template: str) -> dict:
    """A copy of the template body without `function`'s SAM policy template `template` (e.g. SQSSendMessagePolicy)."""
    body = copy.deepcopy(body)
    properties = body["Resources"][function]["Properties"]
    kept = [p for p in properties["Policies"] if not (isinstance(p, dict) and template in p)]
    assert len(kept) < len(properties["Policies"]), f"{function} has no {template}"
    properties["Policies"] = kept
    return body


@pytest.mark.parametrize(
    ("function", "mutation", "denied_action"),
    [
        (PUBLISHER, ("action", "events:PutEvents"), "events:PutEvents"),
        ("DocumentsFunction", ("action", "s3:PutObjectVersionTagging"), "s3:PutObjectVersionTagging"),
        ("ShipmentsFunction", ("policy template", "SQSSendMessagePolicy"), "sqs:SendMessage"),
        ("ReturnsFunction", ("policy template", "AWSSecretsManagerGetSecretValuePolicy"), "secretsmanager:GetSecretValue"),
        ("ReconciliationFunction", ("action", "dynamodb:Query"), "dynamodb:Query"),
    ],
    ids=["publish", "tag-document", "dead-letter", "read-api-key", "query-open-index"],
)
def test_a_template_with_a_permission_removed_denies_exactly_the_calls_that_need_it(demo, function, mutation, denied_action):
    permissions = demo.permissions
    assert any(d.call.function == function and d.call.request.action == denied_action for d in permissions.decisions), (
        f"{function} made no {denied_action} call in the demo: has that call moved to another function?"
    )
    kind, name = mutation
    body = demo.template.body
    mutated = without_action(body, function, name) if kind == "action" else without_policy_template(body, function, name)

    decisions = permissions.reevaluate(permissions.roles_for(SamTemplate(mutated, demo.template.root), demo.parameters))

    denied = [d for d in decisions if not d.verdict.allowed]
    assert denied, f"removing {name} from {function} denied nothing"
    assert {(d.call.function, d.call.request.action) for d in denied} == {(function, denied_action)}
    assert all(d.verdict.reason == f"no statement of {function}Role allows it" for d in denied)
    # What the run would have failed with, naming the function, the action and the resource.
    message = str(iam.PermissionDenied(denied))
    assert f"{function}: {denied_action} on {denied[0].call.request.resource}" in message and "DENIED" in message


def test_a_narrowed_leading_keys_condition_names_the_condition_that_failed(demo):
    """The shipments function may read the other kinds' records only through ReadAppliedEvents: without the returns'
    records there, a shipment whose `after` names a return would be denied. The demo's cancellation that waits for a
    shipment shows the same with the cancellations function."""
    body = copy.deepcopy(demo.template.body)
    [statement] = [
        s
        for s in body["Resources"]["CancellationsFunction"]["Properties"]["Policies"][0]["Statement"]
        if s["Sid"] == "ReadAppliedEvents"
    ]
    statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"].remove("hokodo-postsale.shipment#*")
    permissions = demo.permissions

    decisions = permissions.reevaluate(permissions.roles_for(SamTemplate(body, demo.template.root), demo.parameters))

    denied = [d for d in decisions if not d.verdict.allowed]
    assert denied and {(d.call.function, d.call.request.action) for d in denied} == {
        ("CancellationsFunction", "dynamodb:BatchGetItem")
    }
    for decision in denied:
        assert any(k.startswith("hokodo-postsale.shipment#") for k in decision.call.request.value("dynamodb:LeadingKeys"))
        assert "ReadAppliedEvents allows it only if ForAllValues:StringLike dynamodb:LeadingKeys" in decision.verdict.reason


def test_a_denied_call_fails_the_invocation_live_and_the_stack_says_why():
    """The documents function run with its tagging permission removed: Hokodo gets the document, tagging its S3 version
    is denied (as AWS would answer: AccessDenied), the invocation fails naming function, action and resource, and
    leaving the stack raises the same."""
    template = SamTemplate.load()
    mutated = SamTemplate(without_action(template.body, "DocumentsFunction", "s3:PutObjectVersionTagging"), template.root)
    started = time.monotonic()
    with pytest.raises(iam.PermissionDenied) as raised:  # noqa: PT012 - the stack raises it when it stops
        with LocalStack(template=mutated, function_stdout=io.StringIO(), parameters={"LogLevel": "ERROR"}) as local:
            [poller] = [
                p for p in local.runner.pollers if getattr(p, "function", None) and p.function.logical_id == "DocumentsFunction"
            ]
            assert poller.poll_once() is not None  # S3's test event, skipped
            order = local.admin.create_deferred_payment(10_000)["order"]
            bucket = next(iter(local.stack.buckets.values()))
            key = f"invoices/{order}/INV-1.pdf"
            local.moto.client("s3").put_object(Bucket=bucket.name, Key=key, Body=INVOICE_PDF, Metadata={"amount": "10000"})

            invocation = poller.poll_once().invocation

            assert isinstance(invocation.error, iam.PermissionDenied)
            [decision] = invocation.error.decisions
            assert (decision.call.function, decision.call.request.action) == ("DocumentsFunction", "s3:PutObjectVersionTagging")
            assert decision.call.request.resource == f"{bucket.arn}/{key}"
            assert f"DocumentsFunction: s3:PutObjectVersionTagging on {bucket.arn}/{key}" in str(invocation.error)
            assert len(local.admin.requests()) >= 1  # Hokodo got the document before the tagging was denied
    assert "s3:PutObjectVersionTagging" in str(raised.value) and "no statement of DocumentsFunctionRole allows it" in str(
        raised.value
    )
    assert time.monotonic() - started < 30
