"""`python -m hokodo_local serve`: the local stack kept running, its queues polled in the background,
with instructions for sending it messages by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

from .local_stack import LocalStack
from .report import Printer
from .stack import CREDENTIALS, REGION


def run_serve(
    out: TextIO,
    *,
    policy: str | None = None,
    log_level: str | None = None,
    moto_port: int = 0,
    emulator_port: int = 0,
    interval: float = 0.5,
    on_stack: Callable[[LocalStack], None] = lambda local: None,
) -> None:
    """Runs until the local stack is halted (the CLI halts it on SIGINT and SIGTERM; `on_stack` hands it over)."""
    printer = Printer(out)
    parameters = ({"FulfilmentPolicy": policy} if policy else {}) | ({"LogLevel": log_level} if log_level else {})
    local = LocalStack(parameters=parameters, moto_port=moto_port, emulator_port=emulator_port, on_delivery=printer.delivery)
    on_stack(local)
    with local:
        print_usage(local, printer)
        local.runner.start(interval=interval)
        local.halted.wait()


def print_usage(local: LocalStack, printer: Printer) -> None:
    stack, moto, emulator = local.stack, local.moto.endpoint, local.emulator.base_url
    printer.heading("Local stack running (no Docker); Ctrl-C (or SIGTERM) stops it")
    printer.stack(stack, moto=moto, emulator=emulator, parameters=local.parameters)
    printer.heading("Queues")
    for mapping in stack.mappings:
        queue = stack.queues[mapping.queue]
        dlq = stack.dead_letter_queue(queue)
        printer.line(f"   {queue.logical_id:<30}{queue.url}")
        if dlq:
            printer.line(f"   {dlq.logical_id:<30}{dlq.url}")
    example_queue = stack.queues[stack.mappings[0].queue] if stack.mappings else None
    admin = f"{emulator}/_admin"
    key_id, secret = CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"]
    aws = f"AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} aws --region {REGION} --endpoint-url {moto}"
    json_header = "-H 'Content-Type: application/json'"
    printer.heading("Create a deferred payment (Hokodo's side of checkout); note the id it answers")
    printer.line(f"""   curl -s -X POST {admin}/deferred_payments {json_header} -d '{{"authorisation": 100000}}'""")
    if example_queue is not None:
        body = json.dumps({"event_id": "oms-ship-1", "deferred_payment_id": "defpay-<id>", "amount": 40000})
        printer.heading("Send a message: AWS CLI")
        printer.line(f"   {aws} sqs send-message --queue-url {example_queue.url} --message-body '{body}'")
        printer.heading("Send a message: boto3")
        printer.line(
            f'   sqs = boto3.client("sqs", endpoint_url="{moto}", region_name="{REGION}", '
            f'aws_access_key_id="{key_id}", aws_secret_access_key="{secret}")'
        )
        printer.line(f"   sqs.send_message(QueueUrl={example_queue.url!r}, MessageBody=json.dumps({body}))")
    printer.heading("Look")
    printer.line(f"   what reached Hokodo:   curl -s {admin}/requests")
    printer.line(f"   a ledger:              curl -s {admin}/deferred_payments/<id>")
    printer.line(f"""   expire authorisations: curl -s -X POST {admin}/clock/advance {json_header} -d '{{"days": 29}}'""")
    printer.line(f"   a DLQ:                 {aws} sqs receive-message --queue-url <DLQ url> --message-attribute-names All")
    printer.heading("Deliveries (a line per Lambda invocation)")
