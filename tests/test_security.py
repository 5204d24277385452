"""Secrets stay secret and data at rest is protected: the Hokodo API key and the webhook URL secret never appear in
any log line (every logger at DEBUG, the functions' own JSON lines included), an error, a DLQ copy or an event on the
bus; the template encrypts the queues, the bucket and the table, blocks public access and refuses plain HTTP."""

from __future__ import annotations

import io
import json
import logging

import pytest
from conftest import API_KEY, message
from hokodo_local.template import SamTemplate
from hokodo_postsale.runner.batch import logger as layer_logger
from notifications_support import payload_of
from test_documents import drop, make_documents  # noqa: F401 - make_documents is a fixture

RESOURCES = SamTemplate.load().body["Resources"]


@pytest.fixture
def every_log_line(caplog):
    """Every logger at DEBUG, and the layer's JSON lines (what CloudWatch would keep), captured as text."""
    caplog.set_level(logging.DEBUG)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(layer_logger.registered_formatter)
    layer_logger.addHandler(handler)
    yield lambda: lines.getvalue() + caplog.text
    layer_logger.removeHandler(handler)


def test_no_secret_reaches_logs_dead_letters_or_events(make_bundle, make_documents, notifications, hokodo, every_log_line):  # noqa: F811
    shipments = make_bundle("shipments", POWERTOOLS_LOG_LEVEL="DEBUG")
    documents = make_documents()
    dp = hokodo.create_deferred_payment(100_000, notification_url=notifications.url())
    hokodo.add_faults({"status": 503}, {"status": 401})  # retried, then an answer that names the credentials
    shipments.send(message("ship-1", dp["id"], amount=1_000), message("ship-2", "defpay-Unknown00000000000000", amount=1))
    shipments.run()
    drop(documents, f"invoices/{dp['order']}/i.pdf", b"not a pdf")
    documents.run()
    hokodo.clawback(dp["id"], 100)
    notifications.post(payload_of(hokodo, dp["id"]))
    notifications.post(payload_of(hokodo, dp["id"]), secret="a-wrong-secret")
    dead = shipments.dead_letters() + documents.dead_letters()
    events = notifications.published()
    assert dead and events and "dead-lettered" in every_log_line()
    everything = every_log_line() + json.dumps(dead, default=str) + json.dumps(events)
    for secret in (API_KEY, notifications.current):
        assert secret not in everything


def test_queues_bucket_and_table_are_encrypted_and_the_bucket_private_and_tls_only():
    queues = {n: r for n, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"}
    assert queues and all(q["Properties"].get("SqsManagedSseEnabled") is True for q in queues.values())
    bucket = RESOURCES["DocumentsBucket"]["Properties"]
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    [tls] = RESOURCES["DocumentsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": False}} and tls["Action"] == "s3:*"
    assert RESOURCES["IdempotencyTable"]["Properties"]["SSESpecification"]["SSEEnabled"] is True
    assert RESOURCES["AlarmTopic"]["Properties"]["KmsMasterKeyId"]


def test_the_webhook_routes_access_log_never_records_the_path_that_holds_the_url_secret():
    settings = RESOURCES["WebhookHttpApi"]["Properties"]["AccessLogSettings"]
    fields = json.loads(settings["Format"])
    assert "$context.routeKey" in fields.values()  # the route's template: /webhooks/hokodo/{secret}
    assert not [v for v in fields.values() if "path" in v.lower()]  # $context.path, rawPath: the secret itself
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["WebhookAccessLogGroup", "Arn"]}
