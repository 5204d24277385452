"""docs/runbook.md, rehearsed on the local stack with the commands it gives: park a message, read its reason, fix
the cause, redrive, see it applied once; replay an event from the bus's archive; rotate the webhook URL secret
without refusing a notification."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from hokodo_local.local_stack import LocalStack
from hokodo_local.template import ROOT

UNKNOWN = "defpay-CreatedLaterOnHokodo0000001"


@pytest.fixture(scope="module")
def local():
    # A secret's value is cached SECRET_MAX_AGE_SECONDS (300 s on AWS): 0 here, so a rotation shows at once.
    with LocalStack(runtime_env={"POWERTOOLS_METRICS_DISABLED": "true", "SECRET_MAX_AGE_SECONDS": "0"}) as stack:
        yield stack


def operator(local: LocalStack, *args: str, check: bool = True) -> str:
    """`make dead-letters` / `make redrive`, as the runbook says, against this stack's moto endpoint."""
    command = [sys.executable, "-m", "hokodo_local", *args, "--endpoint", local.moto.endpoint]
    env = {"PYTHONPATH": f"{ROOT / 'local'}:{ROOT / 'layers/postsale'}:{ROOT / 'emulator'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, capture_output=True, text=True, check=check, cwd=ROOT, env=env, timeout=60)
    return done.stdout + done.stderr


def test_park_read_the_reason_fix_redrive_applied_once(local):
    queue = local.stack.queues["ShipmentsQueue"]
    local.sqs.send_message(
        QueueUrl=queue.url, MessageBody=json.dumps({"event_id": "ship-rb-1", "deferred_payment_id": UNKNOWN, "amount": 12_000})
    )
    local.runner.settle()
    shown = operator(local, "dead-letters", "shipments")
    assert "reason: Hokodo capture failed with 404" in shown and "error_type: DeferredPaymentNotFound" in shown
    assert "1 message(s)" in shown  # read, not taken
    local.admin.create_deferred_payment(50_000, id=UNKNOWN)  # the cause, fixed: the order exists at Hokodo now
    assert "moved 1 message(s)" in operator(local, "redrive", "Shipments")  # any case
    local.runner.settle()
    assert local.admin.get_deferred_payment(UNKNOWN)["protected_captures"] == 12_000
    applied = [r for r in local.admin.requests() if UNKNOWN in r["path"] and r["status"] == 201 and not r["replayed"]]
    assert len(applied) == 1
    assert "0 message(s)" in operator(local, "dead-letters", "ShipmentsDeadLetterQueue")  # the logical id works too


DEAD_LETTER_QUEUES = ("cancellations", "documents", "events", "returns", "shipments", "sync", "tracking")


def test_dead_letters_without_a_queue_lists_the_dlqs_with_their_messages(local):
    listed = operator(local, "dead-letters").splitlines()
    rows = {line.split()[0]: line.split() for line in listed if line.startswith("  ")}
    assert set(rows) == set(DEAD_LETTER_QUEUES)
    for short, (_, logical_id, count, unit, url) in rows.items():
        assert logical_id.lower() == f"{short}deadletterqueue" and count.isdigit() and unit == "message(s)"
        assert url == local.stack.queues[logical_id].url
    assert listed[-1] == "then: make dead-letters QUEUE=<short name>"


def test_a_wrong_queue_name_lists_the_valid_ones(local):
    for command in ("dead-letters", "redrive"):
        told = operator(local, command, "shipment-dlq", check=False)
        assert "no dead-letter queue 'shipment-dlq'" in told and all(name in told for name in DEAD_LETTER_QUEUES)


def post(url: str, body: dict) -> int:
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local route
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def notification(local: LocalStack, dp: str) -> dict:
    return {"data": {"order": {"deferred_payment": {"id": dp}}}}


def test_replay_an_event_from_the_archive_keeps_its_id(local):
    dp = local.admin.create_deferred_payment(30_000)["id"]
    local.admin.clawback(dp, 700)
    assert post(local.notification_url(), notification(local, dp)) == 202
    local.runner.settle()  # the sync queue: the deferred payment read back, its clawback published
    [event] = [e for e in local.published() if e["detail"]["deferred_payment_id"] == dp]
    events = local.moto.client("events")
    bus = next(iter(local.stack.event_buses.values()))
    [archive] = events.list_archives(EventSourceArn=bus.arn)["Archives"]
    now = datetime.now(UTC)
    events.start_replay(
        ReplayName="finance-rehearsal",
        EventSourceArn=events.describe_archive(ArchiveName=archive["ArchiveName"])["ArchiveArn"],
        Destination={"Arn": bus.arn},
        EventStartTime=now - timedelta(hours=1),
        EventEndTime=now + timedelta(minutes=1),
    )
    replayed = [e for e in local.published() if e["detail"]["deferred_payment_id"] == dp]
    assert replayed and {e["detail"]["id"] for e in replayed} == {event["detail"]["id"]}  # consumers dedupe on it


def test_rotate_the_webhook_secret_without_refusing_a_notification(local):
    dp = local.admin.create_deferred_payment(30_000)["id"]
    secret = local.stack.secrets["WebhookUrlSecret"]
    old_url = local.notification_url()
    old = old_url.rsplit("/", 1)[-1]
    secrets = local.moto.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=secret.arn, SecretString=json.dumps({"current": "rotated-0123456789abcdef", "previous": old})
    )
    new_url = old_url.rsplit("/", 1)[0] + "/rotated-0123456789abcdef"
    assert post(old_url, notification(local, dp)) == 202 and post(new_url, notification(local, dp)) == 202
    secrets.put_secret_value(
        SecretId=secret.arn, SecretString=json.dumps({"current": "rotated-0123456789abcdef", "previous": ""})
    )
    assert post(old_url, notification(local, dp)) == 404 and post(new_url, notification(local, dp)) == 202
