"""The runbook's DLQ steps against the local stack (docs/runbook.md, "Rehearse it locally"):

    make dead-letters QUEUE=ShipmentsDeadLetterQueue   # each parked message with its reason (they stay parked)
    make redrive QUEUE=ShipmentsDeadLetterQueue        # what SQS's StartMessageMoveTask does, which moto lacks

QUEUE is a queue URL, or a part of its name (the template's logical id is part of it). The endpoint is the running
`make local`'s (it writes .local-stack/endpoints.json), or --endpoint.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from .stack import aws_client
from .template import ROOT

ENDPOINTS_FILE = ROOT / ".local-stack" / "endpoints.json"


def write_endpoints(endpoints: dict[str, str | None]) -> None:
    ENDPOINTS_FILE.parent.mkdir(exist_ok=True)
    ENDPOINTS_FILE.write_text(json.dumps(endpoints, indent=2) + "\n")


def forget_endpoints() -> None:
    ENDPOINTS_FILE.unlink(missing_ok=True)


def moto_endpoint(given: str | None) -> str:
    if given:
        return given
    if not ENDPOINTS_FILE.exists():
        raise SystemExit("no local stack running: start `make local` first, or give --endpoint")
    return str(json.loads(ENDPOINTS_FILE.read_text())["moto"])


def find_queue(sqs: Any, queue: str) -> str:
    if queue.startswith("http"):
        return queue
    urls = [u for u in sqs.list_queues().get("QueueUrls", []) if queue in u.rsplit("/", 1)[-1]]
    if len(urls) != 1:
        raise SystemExit(f"{len(urls)} queues match {queue!r}: {', '.join(urls) or 'none'}")
    return urls[0]


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


def main(out: TextIO, command: str, queue: str, endpoint: str | None) -> int:
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
