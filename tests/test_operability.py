"""What the on-call engineer and the person deploying get from the template: an alarm on every DLQ, queue age,
function errors and throttles, webhook 5xx and failed event deliveries, all notifying the optional topic; a
dashboard whose body is valid JSON over the stack's own resources; saved log queries; deploy environments; and a
producer policy that can only send and drop."""

from __future__ import annotations

import json
import re
import tomllib

import pytest
from conftest import ROOT
from hokodo_local.template import SamTemplate

BODY = SamTemplate.load().body
RESOURCES = BODY["Resources"]
NOTIFY = {
    "Fn::If": [
        "AlarmsNotify",
        [{"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AlarmTopic"}]}],
        {"Ref": "AWS::NoValue"},
    ]
}


def of_type(kind: str) -> dict[str, dict]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def alarms_on(metric: str) -> set[str]:
    """The logical ids the alarms on `metric` watch (the Ref/GetAtt of their dimension)."""
    watched = set()
    for alarm in of_type("AWS::CloudWatch::Alarm").values():
        if alarm["Properties"]["MetricName"] == metric:
            for dimension in alarm["Properties"].get("Dimensions", []):
                value = dimension["Value"]
                watched.add(value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0] if isinstance(value, dict) else value)
    return watched


def test_every_queue_dlq_and_function_has_its_alarms():
    queues = {n for n, r in of_type("AWS::SQS::Queue").items() if "RedrivePolicy" in r["Properties"]}
    dead_letters = {n for n in of_type("AWS::SQS::Queue") if "DeadLetter" in n}
    functions = set(of_type("AWS::Serverless::Function"))
    assert queues == {
        "ShipmentsQueue",
        "ReturnsQueue",
        "CancellationsQueue",
        "DocumentsQueue",
        "SyncQueue",
        "ReconciliationRequestsQueue",
    }
    assert alarms_on("ApproximateAgeOfOldestMessage") == queues
    assert alarms_on("ApproximateNumberOfMessagesVisible") == dead_letters and len(dead_letters) == 7
    assert alarms_on("Errors") == functions == alarms_on("Throttles") and len(functions) == 8
    assert alarms_on("Webhook5xx") == {"hokodo-postsale"}
    assert {"EventBus", "ExpiriesAndClawbacksRule"} == alarms_on("FailedInvocations")


def test_every_alarm_notifies_the_given_topic_or_the_one_made_for_the_email():
    assert all(a["Properties"]["AlarmActions"] == NOTIFY for a in of_type("AWS::CloudWatch::Alarm").values())
    topic = RESOURCES["AlarmTopic"]
    assert topic["Condition"] == "CreatesAlarmTopic" and topic["Properties"]["Subscription"][0]["Protocol"] == "email"


def test_the_dashboard_is_json_over_the_stacks_own_resources():
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    referenced = set(re.findall(r"\$\{([A-Za-z0-9:]+?)(?:\.[A-Za-z]+)?\}", body))
    assert referenced - {"AWS::Region"} <= set(RESOURCES)
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    titles = " ".join(w["properties"]["title"] for w in widgets)
    for needed in (
        "Queue depth",
        "oldest message",
        "Dead-letter",
        "errors and throttles",
        "duration",
        "Hokodo latency",
        "Hokodo answers",
        "Webhook answers",
        "Events published",
    ):
        assert needed in titles


def test_saved_queries_cover_parked_messages_and_one_deferred_payment():
    queries = {
        r["Properties"]["Name"]["Fn::Sub"]: r["Properties"]["QueryString"] for r in of_type("AWS::Logs::QueryDefinition").values()
    }
    assert any("parked" in name and "dead-lettered" in query for name, query in queries.items())
    assert any("deferred payment X" in name and "deferred_payment_id" in query for name, query in queries.items())


def test_the_producer_policy_can_only_send_messages_and_drop_documents():
    statements = RESOURCES["ProducerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert [(s["Effect"], s["Action"]) for s in statements] == [("Allow", "sqs:SendMessage"), ("Allow", "s3:PutObject")]
    assert [r["Fn::GetAtt"][0] for r in statements[0]["Resource"]] == ["ShipmentsQueue", "ReturnsQueue", "CancellationsQueue"]


@pytest.mark.parametrize(
    ("env", "base_url"), [("sandbox", "https://api-sandbox.hokodo.co/v1/"), ("production", "https://api.hokodo.co/v1/")]
)
def test_deploy_environments_name_their_stack_and_hokodo(env, base_url):
    from samcli.cli.types import CfnParameterOverridesType

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())[env]
    overrides = CfnParameterOverridesType().convert(config["deploy"]["parameters"]["parameter_overrides"], None, None)
    assert overrides["HokodoBaseUrl"] == base_url and set(overrides) <= set(BODY["Parameters"])
    assert config["global"]["parameters"]["stack_name"].endswith(env)


def test_no_output_carries_a_secret_value():
    for name, output in BODY["Outputs"].items():
        text = json.dumps(output["Value"])
        assert "SecretString" not in text and "resolve:secretsmanager" not in text, name
