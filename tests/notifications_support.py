"""The webhooks, sync, reconciliation and ledger tracking functions wired as the template wires them, on moto and the
emulator: the bus with a rule to a queue (to read back what was published), the URL secret, the HTTP route
served locally as API Gateway would, the sync queue (with its DLQ) feeding the sync function, and the idempotency
table's stream feeding ledger tracking."""

from __future__ import annotations

import functools
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
from hokodo_local.http_api import LocalHttpApi, Route
from hokodo_local.lambda_context import LocalLambdaContext
from hokodo_local.sqs_event_source import SqsEventSource
from hokodo_local.stream_event_source import DynamoDBStreamEventSource
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
SOURCE = "hokodo.postsale.test"
BUS = "hokodo-events"


class Notifications:
    def __init__(self, monkeypatch, emulator, api_key_secret: str, load_function, **env: str):
        self.events, self.sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
        self.secrets = boto3.client("secretsmanager", region_name=REGION)
        self.events.create_event_bus(Name=BUS)
        self.published_url = self.sqs.create_queue(QueueName="published-events")["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(QueueUrl=self.published_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self.events.put_rule(Name="everything", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
        self.events.put_targets(Rule="everything", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])
        self.sync_dlq_url = self.sqs.create_queue(QueueName="sync-dlq")["QueueUrl"]
        self.sync_url = self.sqs.create_queue(
            QueueName="sync",
            Attributes={
                "VisibilityTimeout": "1",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": self._arn(self.sync_dlq_url), "maxReceiveCount": "5"}),
            },
        )["QueueUrl"]
        self.current = f"url-secret-{uuid.uuid4().hex}"
        self.secret_name = f"webhook-url-secret-{uuid.uuid4().hex[:8]}"
        self.secrets.create_secret(Name=self.secret_name, SecretString=json.dumps({"current": self.current, "previous": ""}))
        for name, value in {
            "IDEMPOTENCY_TABLE": "idempotency",
            "HOKODO_BASE_URL": emulator.base_url + "/v1/",
            "HOKODO_API_KEY_SECRET": api_key_secret,
            "HOKODO_TIMEOUT_SECONDS": "2",
            "HOKODO_MAX_ATTEMPTS": "2",
            "EVENT_BUS_NAME": BUS,
            "EVENT_SOURCE": SOURCE,
            "WEBHOOK_SECRET": self.secret_name,
            "SECRET_MAX_AGE_SECONDS": "0",
            "DRIFT_SETTLE_SECONDS": "0",
            "SYNC_QUEUE_URL": self.sync_url,
            "DEAD_LETTER_QUEUE_URL": self.sync_dlq_url,
            "MAX_RECEIVE_COUNT": "5",
            **env,
        }.items():
            monkeypatch.setenv(name, value)
        self.webhooks = load_function("webhooks")
        self.sync_function = load_function("sync")
        self.reconciliation = load_function("reconciliation")
        self.tracking = load_function("tracking")
        self.syncs = SqsEventSource(self.sqs, self.sync_url, self._arn(self.sync_url), self.sync_function.lambda_handler)
        route = Route("POST", "/webhooks/hokodo/{secret}", self.webhooks.lambda_handler, lambda: self.context("webhooks", 30))
        self.api = LocalHttpApi([route])
        self.api.start()
        stream_arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName="idempotency")["Table"][
            "LatestStreamArn"
        ]
        streams = boto3.client("dynamodbstreams", region_name=REGION)
        self.stream = DynamoDBStreamEventSource(streams, stream_arn, self.tracking.lambda_handler, region=REGION)

    def _arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    @staticmethod
    def context(name: str, timeout: float) -> LocalLambdaContext:
        return LocalLambdaContext(function_name=f"local-{name}", timeout_seconds=timeout)

    def url(self, secret: str | None = None) -> str:
        return f"{self.api.url}/webhooks/hokodo/{self.current if secret is None else secret}"

    def post(self, payload: object, secret: str | None = None, *, raw: bytes | None = None) -> Answer:
        """POST to the route as Hokodo would, through the local HTTP API (with the standard library's client: httpx
        would log the URL, secret included, and this harness stands for Hokodo, not for the bundle)."""
        content = raw if raw is not None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.url(secret), data=content, method="POST", headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local route
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.read())

    def rotate(self, current: str, previous: str) -> None:
        self.secrets.put_secret_value(
            SecretId=self.secret_name, SecretString=json.dumps({"current": current, "previous": previous})
        )
        self.current = current

    def track(self) -> None:
        """Ledger tracking catches up with the idempotency table's stream, as its event source mapping would."""
        self.stream.drain(lambda: self.context("tracking", 60))

    def sync(self, max_polls: int = 50) -> list:
        """The sync function takes what is visible on the sync queue, as its event source mapping would, until the
        queue shows nothing (a failed request comes back after the 1 s visibility timeout: `settle` waits for it)."""
        invocations = []
        for _ in range(max_polls):
            invocation = self.syncs.poll_once(self.context("sync", 30))
            if invocation is None:
                return invocations
            invocations.append(invocation)
        return invocations

    def settle(self, timeout: float = 20.0) -> None:
        """The stream and the sync queue drained, waiting for requests left for redelivery, until nothing is left."""
        deadline = time.monotonic() + timeout
        while True:
            self.track()
            if not self.sync() and not self.in_flight():
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the sync queue still has requests in flight")
            time.sleep(0.2)

    def in_flight(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.sync_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return sum(int(v) for v in attributes.values())

    def reconcile(self) -> dict:
        """What the schedule does: invoke the reconciliation function with the schedule's input (it queues syncs)."""
        return self.reconciliation.lambda_handler(
            {"source": "hokodo-postsale.reconciliation"}, self.context("reconciliation", 120)
        )

    def dead_letters(self) -> list[dict]:
        """The sync DLQ's messages (deleted as read): {body, reason, error_type}."""
        found = []
        while messages := self.sqs.receive_message(
            QueueUrl=self.sync_dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in messages:
                attributes = message.get("MessageAttributes", {})
                found.append(
                    {
                        "body": json.loads(message["Body"]),
                        "reason": attributes.get("hokodo_postsale.reason", {}).get("StringValue"),
                        "error_type": attributes.get("hokodo_postsale.error_type", {}).get("StringValue"),
                    }
                )
                self.sqs.delete_message(QueueUrl=self.sync_dlq_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def published(self, settle: bool = True) -> list[dict]:
        """Every event the bus delivered to the rule's queue since the last call, oldest first, once the stream and the
        sync queue have settled; each detail is checked against its published JSON Schema (schemas/events/)."""
        if settle:
            self.settle()
        found = []
        while messages := self.sqs.receive_message(QueueUrl=self.published_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                event = json.loads(message["Body"])
                detail_schema(event["detail-type"]).validate(event["detail"])
                found.append(event)
                self.sqs.delete_message(QueueUrl=self.published_url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def close(self) -> None:
        self.api.stop()


@functools.cache
def detail_schema(detail_type: str) -> Draft202012Validator:
    path = ROOT / "schemas" / "events" / f"{detail_type.lower().replace(' ', '-')}.schema.json"
    return Draft202012Validator(json.loads(path.read_text()))


@dataclass(frozen=True)
class Answer:
    status_code: int
    content: bytes

    def json(self) -> object:
        return json.loads(self.content)


def payload_of(hokodo, deferred_payment_id: str) -> dict:
    """A notification as Hokodo sends it (the shape the official integration receives), for this deferred payment."""
    dp = hokodo.get_deferred_payment(deferred_payment_id)
    return {"created": dp["created"], "data": {"order": {"id": dp["order"], "status": dp["status"], "deferred_payment": dp}}}
