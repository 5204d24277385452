"""Shared fixtures: moto server as AWS over real HTTP, the Hokodo emulator over real HTTP, and the
real handlers loaded fresh with the environment the template would give them."""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from pathlib import Path

import boto3
import httpx
import pytest
from hokodo_emulator import Emulator
from hokodo_emulator.admin import AdminClient
from hokodo_local.lambda_context import LocalLambdaContext
from hokodo_local.runner import import_fresh
from hokodo_local.sqs_event_source import SqsEventSource
from hokodo_local.stack import MotoServer

# As the template sets them, before anything imports the layer (its module-level Logger reads them once).
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "hokodo-postsale")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "HokodoPostSale")

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
API_KEY = f"test-key-{uuid.uuid4().hex}"  # a value we can search captured logs for


@pytest.fixture(scope="session")
def moto_endpoint():
    server = MotoServer()
    yield server.start()
    server.stop()


@pytest.fixture(scope="session")
def emulator():
    with Emulator(api_key=API_KEY, webhook_attempts=1) as emu:
        yield emu


@pytest.fixture(params=["default"])
def profile(request):
    """How the emulator reads Hokodo (emulator/README.md, "Profiles"): a profile's name, or {behaviour: value} applied
    alone. Modules that must hold under every reading parametrise it (indirect) with PROFILES."""
    return request.param


# The guide's reading, the sparsest public evidence, and each sparse behaviour alone.
PROFILES = ["default", "sparse"]
SPARSE_ALONE = {
    "no-event-ids": {"event_ids": False},
    "newest-first": {"events_order": "newest_first"},
    "own-type-names": {
        "event_type_names": {"capture_remaining": "capture_remaining", "void_remaining": "void_remaining", "expiration": "expiry"}
    },
    "no-events": {"events_field": False},
    "null-totals": {"null_zero_totals": True},
    "no-clawback-change": {"changes_clawback": False},
}


@pytest.fixture
def hokodo(emulator, profile) -> AdminClient:
    admin = AdminClient(emulator.base_url)
    admin.reset()
    if isinstance(profile, dict):
        admin.set_profile(**profile)
    elif profile != "default":
        admin.set_profile(name=profile)
    return admin


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """A clean moto account, with the environment variables boto3 and Powertools read."""
    httpx.post(f"{moto_endpoint}/moto-api/reset")
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "hokodo-postsale",
        "POWERTOOLS_METRICS_NAMESPACE": "HokodoPostSale",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


class Bundle:
    """One queue function wired like the template: queue + DLQ with redrive, table, secret, handler."""

    def __init__(
        self,
        kind: str,
        monkeypatch,
        emulator,
        *,
        secret_name: str,
        policy: str,
        max_receive_count: int,
        env: dict,
        fifo: bool = False,
    ):
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.fifo = fifo
        suffix, fifo_attributes = (".fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}) if fifo else ("", {})
        self.dlq_url = self.sqs.create_queue(QueueName=f"{kind}-dlq{suffix}", Attributes=fifo_attributes)["QueueUrl"]
        dlq_arn = self._arn(self.dlq_url)
        self.queue_url = self.sqs.create_queue(
            QueueName=kind + suffix,
            Attributes={
                "VisibilityTimeout": "1",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}),
                **fifo_attributes,
            },
        )["QueueUrl"]
        for name, value in {
            "IDEMPOTENCY_TABLE": "idempotency",
            "DEAD_LETTER_QUEUE_URL": self.dlq_url,
            "HOKODO_BASE_URL": emulator.base_url + "/v1/",
            "HOKODO_API_KEY_SECRET": secret_name,
            "FULFILMENT_POLICY": policy,
            "HOKODO_TIMEOUT_SECONDS": "2",
            "MAX_RECEIVE_COUNT": str(max_receive_count),  # as the template passes MaxReceiveCount
            **env,
        }.items():
            monkeypatch.setenv(name, value)
        self.app = load_function(kind)
        self.timeout_seconds = 30.0
        self.source = SqsEventSource(self.sqs, self.queue_url, self._arn(self.queue_url), self.app.lambda_handler, region=REGION)

    def _arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def send(self, *messages) -> None:
        """Each message a dict (sent as JSON) or a str (sent as is); on FIFO, grouped by deferred payment."""
        for message in messages:
            body = message if isinstance(message, str) else json.dumps(message)
            group = {"MessageGroupId": message["deferred_payment_id"]} if self.fifo and isinstance(message, dict) else {}
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, **group)

    def context(self) -> LocalLambdaContext:
        return LocalLambdaContext(function_name=f"local-{self.app.__name__}", timeout_seconds=self.timeout_seconds)

    def run(self, max_polls: int = 50):
        """Deliver everything visible, the way Lambda's event source would, until the queue is empty or an invocation
        leaves records for redelivery: those come back only when the test says (`time.sleep` past the 1 s visibility
        timeout, then `run` again), however slow the machine is."""
        invocations = []
        for _ in range(max_polls):
            invocation = self.source.poll_once(self.context())
            if invocation is None:
                break
            invocations.append(invocation)
            if invocation.failed:
                break
        return invocations

    def dead_letters(self, keep: bool = False) -> list[dict]:
        """Every message in the DLQ, as {body, reason, error_type, attributes} (reason None when SQS redrove it).
        Read messages are deleted unless `keep` (then they stay, e.g. for `redrive`)."""
        found, seen = [], set()
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0 if keep else 30
            ).get("Messages", [])
            fresh = [m for m in batch if m["MessageId"] not in seen]
            if not fresh:
                return found
            for m in fresh:
                seen.add(m["MessageId"])
                attrs = m.get("MessageAttributes", {})
                found.append(
                    {
                        "body": m["Body"],
                        "reason": attrs.get("hokodo_postsale.reason", {}).get("StringValue"),
                        "error_type": attrs.get("hokodo_postsale.error_type", {}).get("StringValue"),
                        "attributes": attrs,
                    }
                )
                if not keep:
                    self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"])

    def redrive(self) -> int:
        """What SQS's message move task (StartMessageMoveTask) does, which moto lacks: each DLQ message is sent
        to the source queue again as a new message, with its body and attributes, and deleted from the DLQ."""
        moved = 0
        while batch := self.sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        ):
            for m in batch:
                extra = {"MessageGroupId": "redrive"} if self.fifo else {}
                attributes = m.get("MessageAttributes", {})
                self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=m["Body"], MessageAttributes=attributes, **extra)
                self.sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=m["ReceiptHandle"])
                moved += 1
        return moved

    def invoke(self, received: list[dict], receive_counts: list[int] | None = None) -> dict:
        """Invoke the handler once with Lambda's event for these received messages; `receive_counts` sets each
        record's ApproximateReceiveCount (what a record that was received more often than its neighbours carries)."""
        event = self.source.event(received)
        for record, count in zip(event["Records"], receive_counts or [], strict=False):
            record["attributes"]["ApproximateReceiveCount"] = str(count)
        return self.app.lambda_handler(event, self.context())


def load_function(kind: str):
    """Import functions/<kind>/app.py afresh, so module-level setup reads this test's environment."""
    return import_fresh(ROOT / "functions" / kind / "app.py", f"{kind}_app")


# As template.yaml defines it: the items of every function, the reconciliation's index of open deferred payments,
# and the stream ledger tracking reads.
IDEMPOTENCY_TABLE = {
    "TableName": "idempotency",
    "AttributeDefinitions": [
        {"AttributeName": "id", "AttributeType": "S"},
        {"AttributeName": "open", "AttributeType": "S"},
        {"AttributeName": "synced_at", "AttributeType": "N"},
    ],
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "open-deferred-payments",
            "KeySchema": [{"AttributeName": "open", "KeyType": "HASH"}, {"AttributeName": "synced_at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    "BillingMode": "PAY_PER_REQUEST",
}


@pytest.fixture
def shared_resources(aws) -> str:
    """The idempotency table and the API key secret every function shares; returns the secret's name."""
    boto3.client("dynamodb", region_name=REGION).create_table(**IDEMPOTENCY_TABLE)
    secret_name = f"hokodo-api-key-{uuid.uuid4().hex[:8]}"  # a fresh name: Powertools caches secrets by name
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name=secret_name, SecretString=API_KEY)
    return secret_name


@pytest.fixture
def make_bundle(shared_resources, emulator, monkeypatch):
    def make(
        kind: str, *, policy: str = "partial_sometimes_cancel", max_receive_count: int = 3, fifo: bool = False, **env
    ) -> Bundle:
        return Bundle(
            kind,
            monkeypatch,
            emulator,
            secret_name=shared_resources,
            policy=policy,
            max_receive_count=max_receive_count,
            env=env,
            fifo=fifo,
        )

    return make


def ledger(admin: AdminClient, deferred_payment_id: str) -> dict:
    """The money fields of a deferred payment, as the emulator holds them."""
    dp = admin.get_deferred_payment(deferred_payment_id)
    return {k: dp.get(k) or 0 for k in LEDGER_FIELDS}  # a profile may show a zero total as null


LEDGER_FIELDS = (
    "authorisation",
    "protected_captures",
    "unprotected_captures",
    "refunds",
    "voided_authorisation",
    "expired_authorisation",
    "clawback_amount",
)


def zero() -> dict:
    """A ledger with nothing in it; tests spell out only the fields they expect to move."""
    return dict.fromkeys(LEDGER_FIELDS, 0)


def message(event_id: str, deferred_payment_id: str, **fields) -> dict:
    """An upstream post-sale message (shipment, return or cancellation) as a dict."""
    return {"event_id": event_id, "deferred_payment_id": deferred_payment_id, **fields}


def capture_elsewhere(emulator, deferred_payment_id: str, amount: int) -> None:
    """Someone other than the bundle (the merchant's dashboard, another integration) captures at Hokodo."""
    url = f"{emulator.api_url}payment/deferred_payments/{deferred_payment_id}/capture"
    httpx.post(url, json={"amount": amount}, headers={"Authorization": f"Token {API_KEY}"}).raise_for_status()


def post_sale_calls(admin: AdminClient, deferred_payment_id: str | None = None) -> list[dict]:
    """Requests that reached the emulator's post-sale endpoints and were applied (not replays, not faults)."""
    return [
        r
        for r in admin.requests()
        if r["method"] == "POST"
        and "/deferred_payments/" in r["path"]
        and (deferred_payment_id is None or deferred_payment_id in r["path"])
        and not r.get("replayed")
        and not r.get("fault")
        and 200 <= r["status"] < 300
    ]


@pytest.fixture
def notifications(shared_resources, emulator, monkeypatch):
    """The webhooks, reconciliation and ledger tracking functions, with the bus, the URL secret and the HTTP route."""
    from notifications_support import Notifications

    wired = Notifications(monkeypatch, emulator, shared_resources, load_function)
    yield wired
    wired.close()


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """`make test`'s header once. When its output is not a terminal (CI, a pipe), pytest-xdist (3.8) writes its status
    line when the workers start and again once they have collected; under -q that line is "bringing up nodes..." both
    times (in a terminal it is rewritten in place). Only the first is kept."""
    reporter = config.pluginmanager.get_plugin("terminaldistreporter")
    if reporter is None or config.option.verbose >= 0:
        return
    show = reporter.ensure_show_status
    shown = []

    def once() -> None:
        if not shown:
            shown.append(True)
            show()

    reporter.ensure_show_status = once


def emf_metrics(stdout: str) -> Counter[str]:
    """The sum of each metric over every EMF blob the handlers printed (a value is a number or a list of them)."""
    sums: Counter[str] = Counter()
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        blob = json.loads(line)
        if "_aws" not in blob:
            continue
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                sums[metric["Name"]] += sum(value) if isinstance(value, list) else value
    return sums
