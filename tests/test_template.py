"""template.yaml read as data: each function's environment and least privilege (queue functions, documents,
webhooks, reconciliation, ledger tracking), queue timings and retention, log groups, and the rule that keeps
OutOfOrderMaxReceives below MaxReceiveCount."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from itertools import product

import pytest
from conftest import ROOT
from hokodo_local.template import ParameterError, SamTemplate, evaluate_rule_function
from hokodo_postsale.settings import DEFAULT_MAX_AMOUNT
from template_support import StackValues

TEMPLATE = SamTemplate.load()
PARAMETERS = TEMPLATE.body["Parameters"]
GLOBALS = TEMPLATE.body["Globals"]["Function"]
KINDS = {"ShipmentsFunction": "shipment", "ReturnsFunction": "return", "CancellationsFunction": "cancellation"}  # post-sale
QUEUE_FUNCTIONS = {**KINDS, "DocumentsFunction": "document"}  # every function fed by an SQS queue, and its kind
# The event path: the deferred payments' sync items, and the sync queue between them
SYNC_FUNCTIONS = ("WebhooksFunction", "SyncFunction", "ReconciliationFunction", "TrackingFunction")
DAY = 24 * 3600
# CloudWatch Logs' allowed retention periods (PutRetentionPolicy), in days
LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]


def queue_functions() -> dict[str, dict]:
    """Functions fed by an SQS event, by logical id."""
    return {
        lid: r
        for lid, r in TEMPLATE.of_type("AWS::Serverless::Function").items()
        if any(e["Type"] == "SQS" for e in r["Properties"].get("Events", {}).values())
    }


def sqs_events(function: dict) -> list[dict]:
    return [e["Properties"] for e in function["Properties"]["Events"].values() if e["Type"] == "SQS"]


def target(value: dict) -> str:
    """The logical id a `!Ref X` or `!GetAtt X.Attr` points at."""
    return value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]


def test_the_queue_functions_are_the_three_post_sale_kinds_documents_and_the_sync_queue():
    # a new queue function needs its kind here (and its IAM prefixes)
    assert set(queue_functions()) == set(QUEUE_FUNCTIONS) | {"SyncFunction"}


def test_every_function_is_a_queue_function_or_a_sync_function():
    assert set(TEMPLATE.of_type("AWS::Serverless::Function")) == set(QUEUE_FUNCTIONS) | set(SYNC_FUNCTIONS)


# -- environment --------------------------------------------------------------------------------
@pytest.mark.parametrize("function_id", sorted(QUEUE_FUNCTIONS))
def test_each_queue_function_gets_its_limits_from_the_parameters(function_id):
    own = TEMPLATE.resources[function_id]["Properties"].get("Environment", {}).get("Variables", {})
    environment = GLOBALS["Environment"]["Variables"] | own  # SAM merges a function's variables over Globals'
    assert environment["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    assert environment["OUT_OF_ORDER_MAX_RECEIVES"] == {"Ref": "OutOfOrderMaxReceives"}
    assert environment["MAX_AMOUNT"] == {"Ref": "MaxAmount"}


def test_max_amount_is_a_positive_integer_parameter_defaulting_to_the_layers_default():
    max_amount = PARAMETERS["MaxAmount"]
    assert max_amount["Type"] == "Number" and max_amount["MinValue"] == 1
    assert max_amount["Default"] == DEFAULT_MAX_AMOUNT == 1_000_000_000
    assert "minor units" in max_amount["Description"]


# -- least privilege ----------------------------------------------------------------------------
TABLE_ACTIONS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:BatchGetItem"}


def roles_for(parameters: dict[str, str]) -> dict[str, dict]:
    """Each function's IAM role as SAM makes it (policy templates expanded) for these parameter values (conditional
    statements kept or dropped as CloudFormation would), by function logical id."""
    translated = TEMPLATE.translate("s3://placeholder/code.zip", parameters, "eu-west-1")
    resources, stack = translated["Resources"], StackValues(translated, parameters)
    functions = TEMPLATE.of_type("AWS::Serverless::Function")
    return {
        lid: stack.without_conditions(resources[target(resources[lid]["Properties"]["Role"])]["Properties"]) for lid in functions
    }


@pytest.fixture(scope="module")
def roles() -> dict[str, dict]:
    """Each function's IAM role, with the parameters' defaults."""
    return roles_for({})


def statements(role: dict) -> list[dict]:
    found = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert all(s["Effect"] == "Allow" for s in found)  # the evaluator below knows no Deny
    return found


def actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def references(value) -> set[str]:
    """Every logical id a policy Resource refers to (Ref, GetAtt, Fn::Sub's ${X} and ${X.Attr} and its variables)."""
    if isinstance(value, list):
        return set().union(*(references(v) for v in value))
    if not isinstance(value, dict):
        return set()
    if "Ref" in value or "Fn::GetAtt" in value:
        return {target(value)}
    if "Fn::Sub" in value:
        text, variables = (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
        named = {n.split(".")[0] for n in re.findall(r"\$\{([^}!]+)\}", text) if not n.startswith("AWS::")} - set(variables)
        return named | references(list(variables.values()))
    return set().union(*(references(v) for v in value.values()))


def may(role: dict, action: str, key: str) -> bool:
    """Whether the role may do a DynamoDB item `action` on the table item whose partition key is `key`:
    some statement allows the action on the table, under a LeadingKeys condition that the key meets."""
    for statement in statements(role):
        if action not in actions(statement) or references(statement["Resource"]) != {"IdempotencyTable"}:
            continue
        patterns = statement.get("Condition", {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        if patterns is None or any(fnmatchcase(key, p) for p in patterns):
            return True
    return False


@pytest.mark.parametrize("function_id", sorted(QUEUE_FUNCTIONS))
def test_every_table_statement_is_limited_by_leading_keys(roles, function_id):
    table_statements = [s for s in statements(roles[function_id]) if any(a.startswith("dynamodb:") for a in actions(s))]
    assert table_statements
    for statement in table_statements:
        assert set(actions(statement)) <= TABLE_ACTIONS  # no Query, Scan, wildcard or table-level action
        assert references(statement["Resource"]) == {"IdempotencyTable"}
        assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]


@pytest.mark.parametrize("function_id", sorted(KINDS))
def test_a_function_writes_only_its_own_items_and_reads_the_applied_events_of_every_kind(roles, function_id):
    role, kind = roles[function_id], KINDS[function_id]
    for action in TABLE_ACTIONS:
        assert may(role, action, f"hokodo-postsale.{kind}#6f1ed002ab5595859014ebf0951522d9")  # Powertools record
        assert may(role, action, f"hokodo-postsale.{kind}.rejections#oms-1")  # the bundle's per-event item
    for other in set(KINDS.values()) - {kind}:
        for action in TABLE_ACTIONS:
            assert may(role, action, f"hokodo-postsale.{other}#6f1ed002") == (action in READ_ACTIONS)
            assert not may(role, action, f"hokodo-postsale.{other}.rejections#oms-1")
    for action in TABLE_ACTIONS:  # what the bundle applied per deferred payment, read for an action left in doubt
        assert may(role, action, "hokodo-postsale.sync#defpay-1") == (action == "dynamodb:GetItem")
    look_alikes = [f"hokodo-postsale.{kind}s#1", f"hokodo-postsale.{kind}x.rejections#1", f"x.hokodo-postsale.{kind}#1", "app#1"]
    for key in look_alikes:
        assert not any(may(role, action, key) for action in TABLE_ACTIONS), key


def by_service(role: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for statement in statements(role):
        for service in {a.split(":")[0] for a in actions(statement)}:
            found.setdefault(service, []).append(statement)
    return found


@pytest.mark.parametrize("function_id", sorted(QUEUE_FUNCTIONS))
def test_a_function_sends_only_to_its_own_dlq_and_reads_only_the_api_key(roles, function_id):
    role = roles[function_id]
    own_dlq = target(TEMPLATE.resources[function_id]["Properties"]["Environment"]["Variables"]["DEAD_LETTER_QUEUE_URL"])
    services = by_service(role)
    assert set(services) == {"dynamodb", "sqs", "secretsmanager"} | ({"s3"} if function_id == "DocumentsFunction" else set())
    for statement in services["sqs"]:
        assert actions(statement) == ["sqs:SendMessage*"]  # SendMessage and SendMessageBatch
        assert references(statement["Resource"]) == {own_dlq}
    for statement in services["secretsmanager"]:
        assert actions(statement) == ["secretsmanager:GetSecretValue"]
        assert references(statement["Resource"]) == {"HokodoApiKeySecret"}
    # What SAM adds for every function with an SQS event: logs, and receive/delete on its event source's queue
    # (this managed policy allows them on any queue: see the README's notes on permissions).
    assert sorted(arn.rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"]) == [
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaSQSQueueExecutionRole",
        "AWSXrayWriteOnlyAccess",  # active tracing
    ]


def test_documents_writes_only_its_own_items_and_reads_no_other_kinds(roles):
    role = roles["DocumentsFunction"]
    for action in TABLE_ACTIONS:
        assert may(role, action, "hokodo-postsale.document#6f1ed002ab5595859014ebf0951522d9")  # Powertools record
        assert may(role, action, "hokodo-postsale.document.state#s3://bucket/key")  # the bundle's per-event item
    others = [f"hokodo-postsale.{kind}#6f1ed002" for kind in KINDS.values()] + ["hokodo-postsale.sync#defpay-1"]
    look_alikes = ["hokodo-postsale.documents#1", "hokodo-postsale.documentx.state#1", "x.hokodo-postsale.document#1"]
    for key in others + look_alikes:
        assert not any(may(role, action, key) for action in TABLE_ACTIONS), key


def test_documents_reaches_only_its_bucket_reading_and_tagging_objects(roles):
    s3 = by_service(roles["DocumentsFunction"])["s3"]
    granted = {a for statement in s3 for a in actions(statement)}
    assert granted == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:ListBucket",
    }  # never PutObject or DeleteObject: the ERP writes documents, the function only reads and tags them
    for statement in s3:
        assert references(statement["Resource"]) == {"DocumentsBucket"}
        object_level = statement["Resource"] == {"Fn::Sub": "${DocumentsBucket.Arn}/*"}
        assert object_level == (actions(statement) != ["s3:ListBucket"])


SYNC_ITEM_ACTIONS = {
    "WebhooksFunction": {"dynamodb:UpdateItem"},  # puts a notified deferred payment on the watch list
    "SyncFunction": {"dynamodb:GetItem", "dynamodb:UpdateItem"},  # the watermark and its lease
    "ReconciliationFunction": set(),  # reads the watch list through its index only
    "TrackingFunction": {"dynamodb:UpdateItem"},  # adds what the bundle applied
}


@pytest.mark.parametrize("function_id", SYNC_FUNCTIONS)
def test_the_sync_functions_reach_only_the_sync_items(roles, function_id):
    role = roles[function_id]
    granted = SYNC_ITEM_ACTIONS[function_id]
    for action in TABLE_ACTIONS:
        assert may(role, action, "hokodo-postsale.sync#defpay-1") == (action in granted), action
    kinds = [*QUEUE_FUNCTIONS.values()]
    refused = [f"hokodo-postsale.{k}#6f1ed002" for k in kinds] + [f"hokodo-postsale.{k}.state#e-1" for k in kinds]
    for key in [*refused, "hokodo-postsale.syncs#1", "x.hokodo-postsale.sync#1", "app#1"]:
        assert not any(may(role, action, key) for action in TABLE_ACTIONS), key
    for statement in by_service(role)["dynamodb"]:
        if actions(statement) == ["dynamodb:Query"]:  # the reconciliation's list of open deferred payments, keys only
            assert function_id == "ReconciliationFunction"
            assert statement["Resource"] == {"Fn::Sub": "${IdempotencyTable.Arn}/index/open-deferred-payments"}
        else:
            assert statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["hokodo-postsale.sync#*"]


@pytest.mark.parametrize(
    ("function_id", "secrets"),
    [
        ("WebhooksFunction", {"WebhookUrlSecret"}),  # never Hokodo's API key: it only queues
        ("SyncFunction", {"HokodoApiKeySecret"}),
        ("ReconciliationFunction", set()),
        ("TrackingFunction", set()),
    ],
)
def test_the_sync_functions_read_only_their_secrets(roles, function_id, secrets):
    statements_ = by_service(roles[function_id]).get("secretsmanager", [])
    assert all(actions(s) == ["secretsmanager:GetSecretValue"] for s in statements_)
    assert set().union(*(references(s["Resource"]) for s in statements_)) == secrets
    assert all(len(references(s["Resource"])) == 1 for s in statements_)


def test_only_the_sync_function_publishes_and_only_to_the_bus(roles):
    publishers = set()
    for function_id, role in roles.items():
        for statement in by_service(role).get("events", []):
            assert actions(statement) == ["events:PutEvents"]
            assert statement["Resource"] == {"Fn::GetAtt": ["EventBus", "Arn"]}
            publishers.add(function_id)
    assert publishers == {"SyncFunction"}


@pytest.mark.parametrize(
    ("function_id", "queues"),
    [
        ("WebhooksFunction", {"SyncQueue"}),
        ("SyncFunction", {"SyncDeadLetterQueue"}),
        ("ReconciliationFunction", {"ReconciliationRequestsQueue"}),  # a queue of its own: a round never delays a fact
        ("TrackingFunction", {"TrackingDeadLetterQueue", "SyncQueue"}),
    ],
)
def test_the_sync_functions_send_only_to_the_sync_queue_or_their_dlq(roles, function_id, queues):
    statements_ = by_service(roles[function_id])["sqs"]  # SAM's SQSSendMessagePolicy, or a stream's OnFailure queue
    assert all(actions(s) in (["sqs:SendMessage*"], ["sqs:SendMessage"]) for s in statements_)
    assert set().union(*(references(s["Resource"]) for s in statements_)) == queues


def test_tracking_reads_only_the_tables_stream(roles):
    role = roles["TrackingFunction"]
    assert set(by_service(role)) == {"dynamodb", "sqs"}
    # What SAM adds for a DynamoDB event: logs, and reading streams (this managed policy allows any stream).
    assert sorted(arn.rsplit("/", 1)[-1] for arn in role["ManagedPolicyArns"]) == [
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaDynamoDBExecutionRole",
        "AWSXrayWriteOnlyAccess",  # active tracing
    ]


# -- queues -------------------------------------------------------------------------------------
def largest(value, name: str) -> int:
    """The largest value a template value can take: a literal, a Number parameter up to its MaxValue,
    either branch of an Fn::If, nothing (AWS::NoValue) as 0."""
    if isinstance(value, int):
        return value
    if "Fn::If" in value:
        return max(largest(branch, name) for branch in value["Fn::If"][1:])
    if value == {"Ref": "AWS::NoValue"}:
        return 0
    parameter = PARAMETERS[value["Ref"]]
    assert "MaxValue" in parameter, f"{name}: {value['Ref']} has no MaxValue, so no visibility timeout covers it"
    return int(parameter["MaxValue"])


@pytest.mark.parametrize("function_id", sorted(QUEUE_FUNCTIONS))
def test_visibility_timeout_is_six_function_timeouts_plus_the_batching_window_for_any_parameter_value(function_id):
    function = TEMPLATE.resources[function_id]["Properties"]
    timeout = largest(function.get("Timeout", GLOBALS["Timeout"]), "Timeout")
    for event in sqs_events(TEMPLATE.resources[function_id]):
        queue = TEMPLATE.resources[target(event["Queue"])]["Properties"]
        window = largest(event.get("MaximumBatchingWindowInSeconds", 0), "MaximumBatchingWindowInSeconds")
        assert queue["VisibilityTimeout"] >= 6 * timeout + window, (queue["VisibilityTimeout"], timeout, window)


def test_a_dead_letter_queue_keeps_messages_14_days_well_beyond_its_source_queue():
    """A message moved to a standard DLQ keeps its original enqueue time: with the same retention as its
    source queue, a message dead-lettered late would expire from the DLQ almost at once."""
    queues = TEMPLATE.of_type("AWS::SQS::Queue")
    sources = {lid: q["Properties"] for lid, q in queues.items() if "RedrivePolicy" in q["Properties"]}
    assert set(sources) == {target(e["Queue"]) for f in queue_functions().values() for e in sqs_events(f)}
    for source in sources.values():
        dead_letter = queues[target(source["RedrivePolicy"]["deadLetterTargetArn"])]["Properties"]
        assert dead_letter["MessageRetentionPeriod"] == 14 * DAY  # SQS's longest
        assert dead_letter["MessageRetentionPeriod"] - source["MessageRetentionPeriod"] >= 7 * DAY
        assert source["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}


# -- logs ---------------------------------------------------------------------------------------
def test_log_retention_is_a_parameter_with_cloudwatch_logs_values():
    retention = PARAMETERS["LogRetentionDays"]
    assert [int(v) for v in retention["AllowedValues"]] == LOG_RETENTION_DAYS
    assert retention["Default"] in LOG_RETENTION_DAYS


@pytest.mark.parametrize("function_id", sorted(TEMPLATE.of_type("AWS::Serverless::Function")))
def test_each_function_logs_to_its_own_log_group_with_that_retention(function_id):
    log_group_id = target(TEMPLATE.resources[function_id]["Properties"]["LoggingConfig"]["LogGroup"])
    log_group = TEMPLATE.resources[log_group_id]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert log_group["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{AWS::StackName}}/{function_id}"}
    others = [lid for lid, r in TEMPLATE.of_type("AWS::Serverless::Function").items() if lid != function_id]
    assert all(target(TEMPLATE.resources[o]["Properties"]["LoggingConfig"]["LogGroup"]) != log_group_id for o in others)


# -- what checkov's skips (.checkov.yaml) rest on ----------------------------------------------
def test_every_queue_is_encrypted_at_rest():
    """CKV_AWS_27 is skipped because it reads KmsMasterKeyId only: each queue sets SSE-SQS or a KMS key."""
    for lid, queue in TEMPLATE.of_type("AWS::SQS::Queue").items():
        properties = queue["Properties"]
        assert properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties, lid


def test_only_the_reconciliation_is_invoked_asynchronously_and_with_a_constant_input():
    """CKV_AWS_116 (a DLQ for asynchronous invocations) is skipped: every other function is invoked synchronously."""
    sources = {
        lid: {e["Type"] for e in f["Properties"].get("Events", {}).values()}
        for lid, f in TEMPLATE.of_type("AWS::Serverless::Function").items()
    }
    assert set().union(*sources.values()) == {"SQS", "DynamoDB", "HttpApi", "ScheduleV2"}
    assert [lid for lid, types in sources.items() if "ScheduleV2" in types] == ["ReconciliationFunction"]
    [schedule] = TEMPLATE.resources["ReconciliationFunction"]["Properties"]["Events"].values()
    assert isinstance(schedule["Properties"]["Input"], str)


def test_every_skipped_checkov_check_says_why():
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    start = lines.index("skip-check:")
    for number, line in enumerate(lines[start + 1 :], start + 1):
        if not line.startswith("  "):
            break
        if line.startswith("  - "):
            assert lines[number - 1].startswith("  #"), f"{line.strip()} has no reason above it"


# -- parameters and rules -----------------------------------------------------------------------
def allowed(name: str) -> list[int]:
    return [int(v) for v in PARAMETERS[name]["AllowedValues"]]


def test_the_rules_refuse_exactly_out_of_order_max_receives_at_or_above_max_receive_count():
    refused = set()
    for max_receives, out_of_order in product(allowed("MaxReceiveCount"), allowed("OutOfOrderMaxReceives")):
        values = TEMPLATE.parameter_values({"MaxReceiveCount": max_receives, "OutOfOrderMaxReceives": out_of_order})
        errors = TEMPLATE.rule_errors(values)
        assert all(e.endswith("OutOfOrderMaxReceives must be below MaxReceiveCount.") for e in errors)
        if errors:
            refused.add((max_receives, out_of_order))
    pairs = set(product(allowed("MaxReceiveCount"), allowed("OutOfOrderMaxReceives")))
    assert refused == {(m, o) for m, o in pairs if o >= m}
    assert all(any(o < m for o in allowed("OutOfOrderMaxReceives")) for m in allowed("MaxReceiveCount"))
    assert TEMPLATE.rule_errors(TEMPLATE.parameter_values({})) == []  # the defaults pass


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"MaxReceiveCount": "4", "OutOfOrderMaxReceives": "4"}, "must be below MaxReceiveCount"),
        ({"OutOfOrderMaxReceives": "7"}, "must be below MaxReceiveCount"),  # against the default MaxReceiveCount (5)
        ({"MaxReceiveCount": "11"}, "MaxReceiveCount: 11 is not one of"),
        ({"MaxAmount": "0"}, "MaxAmount: 0 is below its MinValue 1"),
        ({"MaxAmount": "12.5x"}, "MaxAmount: 12.5x is not a number"),
        ({"BatchingWindowSeconds": "21"}, "BatchingWindowSeconds: 21 is above its MaxValue 20"),
        ({"LogRetentionDays": "2"}, "LogRetentionDays: 2 is not one of"),
        ({"HokodoBaseUrl": "https://api.hokodo.co/v1"}, "does not match"),
        ({"MaxRecieveCount": "3"}, "MaxRecieveCount: no such parameter"),
    ],
)
def test_the_local_stack_refuses_what_cloudformation_would(overrides, problem):
    with pytest.raises(ParameterError, match=problem):
        TEMPLATE.check_parameters(overrides)


def test_valid_overrides_pass():
    TEMPLATE.check_parameters({"MaxReceiveCount": "10", "OutOfOrderMaxReceives": "9", "MaxAmount": "5", "QueueType": "fifo"})


def test_the_rule_evaluator_follows_cloudformations_rule_functions():
    values = {"A": "3", "B": "x"}
    assert evaluate_rule_function({"Fn::Equals": [{"Ref": "A"}, 3]}, values)  # Ref gives strings; so do literals
    assert evaluate_rule_function({"Fn::Contains": [["1", "3"], {"Ref": "A"}]}, values)
    assert not evaluate_rule_function({"Fn::Not": [{"Fn::Equals": [{"Ref": "B"}, "x"]}]}, values)
    assert evaluate_rule_function({"Fn::Or": [{"Fn::Equals": [{"Ref": "B"}, "y"]}, {"Fn::Equals": [{"Ref": "A"}, "3"]}]}, values)
    assert not evaluate_rule_function({"Fn::And": [True, {"Fn::Equals": [{"Ref": "B"}, "y"]}]}, values)
    with pytest.raises(NotImplementedError):
        evaluate_rule_function({"Fn::EachMemberIn": [["a"], ["a"]]}, values)


@pytest.mark.parametrize("function_id", sorted(TEMPLATE.of_type("AWS::Serverless::Function")))
def test_each_function_has_a_requirements_file_so_sam_build_stays_quiet(function_id):
    """SAM's Python builder warns "requirements.txt file not found" for a CodeUri without one: every function needs
    only the layer, and says so in an empty one."""
    code = TEMPLATE.root / TEMPLATE.resources[function_id]["Properties"]["CodeUri"]
    assert (code / "requirements.txt").is_file() and (code / "app.py").is_file()
