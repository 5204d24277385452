"""The runbook's DLQ steps against the local stack (docs/runbook.md, "Rehearse it locally"):

    make dead-letters                     # the DLQs, with their short names and how many messages each holds
    make dead-letters QUEUE=shipments     # each parked message with its reason (they stay parked)
    make redrive QUEUE=shipments          # what SQS's StartMessageMoveTask does, which moto lacks

QUEUE is a DLQ's short name (its logical id in the template without `DeadLetterQueue`: shipments, returns,
cancellations, documents, sync, events, tracking), its logical id (ShipmentsDeadLetterQueue), either in any case, or a
queue URL. The endpoint is the running `make local`'s (it writes .local-stack/endpoints.json), or --endpoint.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from .stack import aws_client
from .template import ROOT, SamTemplate

# Where `make local` leaves its endpoints for these commands (and its functions' log beside it); another path in
# HOKODO_LOCAL_ENDPOINTS keeps stacks run side by side (the tests' CLIs) apart.
ENDPOINTS_FILE = Path(os.environ.get("HOKODO_LOCAL_ENDPOINTS") or ROOT / ".local-stack" / "endpoints.json")


def write_endpoints(endpoints: dict[str, str | None]) -> None:
    ENDPOINTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    ENDPOINTS_FILE.write_text(json.dumps(endpoints, indent=2) + "\n")


def forget_endpoints() -> None:
    ENDPOINTS_FILE.unlink(missing_ok=True)


def moto_endpoint(given: str | None) -> str:
    if given:
        return given
    if not ENDPOINTS_FILE.exists():
        raise SystemExit("no local stack running: start `make local` first, or give --endpoint")
    return str(json.loads(ENDPOINTS_FILE.read_text())["moto"])


def template_dead_letter_queues() -> dict[str, str]:
    """The template's DLQs: short name (lower case) -> logical id, e.g. shipments -> ShipmentsDeadLetterQueue."""
    return {
        lid.removesuffix("DeadLetterQueue").lower(): lid
        for lid in sorted(SamTemplate.load().of_type("AWS::SQS::Queue"))
        if lid.endswith("DeadLetterQueue")
    }


def dead_letter_queue_id(queue: str) -> str:
    """The logical id of the template's DLQ named `queue` (short name or logical id, any case); else exits naming them."""
    dead_letter_queues = template_dead_letter_queues()
    names = dead_letter_queues | {lid.lower(): lid for lid in dead_letter_queues.values()}
    logical_id = names.get(queue.lower())
    if logical_id is None:
        valid = ", ".join(dead_letter_queues)
        raise SystemExit(f"no dead-letter queue {queue!r} in template.yaml: QUEUE is one of {valid} (or a logical id, a URL)")
    return logical_id


def find_queue(sqs: Any, queue: str) -> str:
    """The URL of the running stack's DLQ named `queue`, or `queue` itself when it is a URL."""
    if queue.startswith("http"):
        return queue
    logical_id = dead_letter_queue_id(queue)
    urls = [u for u in sqs.list_queues().get("QueueUrls", []) if logical_id in u.rsplit("/", 1)[-1]]
    if len(urls) != 1:
        raise SystemExit(f"{len(urls)} queues of the running stack match {logical_id}: {', '.join(urls) or 'none'}")
    return str(urls[0])


def list_dead_letter_queues(out: TextIO, sqs: Any | None) -> None:
    """Each DLQ of the template: its short name, logical id and, with a running stack, its messages and URL."""
    urls = sqs.list_queues().get("QueueUrls", []) if sqs is not None else []
    print("dead-letter queues (QUEUE= a short name, any case):", file=out)
    for short, logical_id in template_dead_letter_queues().items():
        url = next((u for u in urls if logical_id in u.rsplit("/", 1)[-1]), None)
        where = ""
        if url is not None:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
            where = f"  {attributes['ApproximateNumberOfMessages']} message(s)  {url}"
        print(f"  {short:<14} {logical_id:<30}{where}".rstrip(), file=out)


def dead_letters(sqs: Any, dlq_url: str) -> list[dict[str, Any]]:
    """Every message of a DLQ with its attributes, read without taking it (visible again at once)."""
    found: dict[str, dict[str, Any]] = {}
    for _ in range(50):
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0)
        fresh = [m for m in batch.get("Messages", []) if m["MessageId"] not in found]
        if not fresh:
            break
        found |= {m["MessageId"]: m for m in fresh}
    return list(found.values())


def source_of(sqs: Any, dlq_url: str) -> str:
    """The queue whose redrive policy names this DLQ (where StartMessageMoveTask sends its messages by default)."""
    arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get("Attributes", {})
        policy = attributes.get("RedrivePolicy")
        if policy and json.loads(policy).get("deadLetterTargetArn") == arn:
            return str(url)
    raise SystemExit(f"no queue redrives to {dlq_url}")


def redrive(sqs: Any, dlq_url: str) -> int:
    """Every DLQ message back to its source queue as a new message, with its body and attributes, then deleted."""
    source, moved = source_of(sqs, dlq_url), 0
    while batch := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages"):
        for message in batch:
            sqs.send_message(QueueUrl=source, MessageBody=message["Body"], MessageAttributes=message.get("MessageAttributes", {}))
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


def main(out: TextIO, command: str, queue: str | None, endpoint: str | None) -> int:
    if not queue:  # `make dead-letters` alone: which queues there are (and `make redrive` alone: the same, and how)
        running = endpoint or (json.loads(ENDPOINTS_FILE.read_text())["moto"] if ENDPOINTS_FILE.exists() else None)
        list_dead_letter_queues(out, aws_client("sqs", running) if running else None)
        if running is None:
            print("(no local stack running: start `make local` to see their messages)", file=out)
        print(f"then: make {command} QUEUE=<short name>", file=out)
        return 0 if command == "dead-letters" else 2
    if not queue.startswith("http"):
        dead_letter_queue_id(queue)  # a wrong name is told before anything else
    sqs = aws_client("sqs", moto_endpoint(endpoint))
    url = find_queue(sqs, queue)
    if command == "redrive":
        print(f"moved {redrive(sqs, url)} message(s) from {url} to {source_of(sqs, url)}", file=out)
        return 0
    letters = dead_letters(sqs, url)
    for message in letters:
        attributes = {
            k.removeprefix("hokodo_postsale."): v.get("StringValue") for k, v in message.get("MessageAttributes", {}).items()
        }
        print(f"- {message['Body'][:300]}", file=out)
        for name in ("reason", "error_type", "receive_count", "source_message_id"):
            print(f"    {name}: {attributes.get(name)}", file=out)
    print(f"{len(letters)} message(s) in {url}", file=out)
    return 0
