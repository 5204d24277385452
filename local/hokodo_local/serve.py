"""`python -m hokodo_local serve`: the local stack kept running (queues and the table's stream polled in the
background, the HTTP API served, the schedules run every few seconds), with commands to use it by hand, each
runnable as printed from the repository's root. The terminal gets a line per Lambda invocation; what the functions
print (Powertools' JSON log lines and EMF metrics: their CloudWatch log streams on AWS) goes to FUNCTIONS_LOG."""

from __future__ import annotations

import contextlib
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .local_stack import LocalStack
from .operator import ENDPOINTS_FILE, forget_endpoints, template_dead_letter_queues, write_endpoints
from .report import Printer
from .scenario import DOCUMENTS, SHIPMENTS, WEBHOOKS
from .stack import CREDENTIALS, REGION
from .template import ROOT

SAMPLE_AUTHORISATION = 100_000
FUNCTIONS_LOG = ENDPOINTS_FILE.parent / "functions.log"  # .local-stack/ (gitignored), beside the endpoints


def run_serve(
    out: TextIO,
    *,
    policy: str | None = None,
    log_level: str | None = None,
    moto_port: int = 0,
    emulator_port: int = 0,
    api_port: int = 0,
    interval: float = 0.5,
    reconcile_every: float = 60.0,
    on_stack: Callable[[LocalStack], None] = lambda local: None,
) -> None:
    """Runs until the local stack is halted (the CLI halts it on SIGINT and SIGTERM; `on_stack` hands it over).
    `reconcile_every` (seconds; 0: never) is how often each schedule runs here, standing for its expression."""
    printer = Printer(out)
    parameters = ({"FulfilmentPolicy": policy} if policy else {}) | ({"LogLevel": log_level} if log_level else {})
    FUNCTIONS_LOG.parent.mkdir(parents=True, exist_ok=True)
    # Line-buffered, for `tail -f`. Everything that prints to stdout from here on goes to it (Powertools' Logger binds
    # sys.stdout when the layer is imported, as the stack loads the functions); the printer keeps the terminal (`out`).
    functions_log = FUNCTIONS_LOG.open("w", buffering=1)
    with functions_log, contextlib.redirect_stdout(functions_log):
        local = LocalStack(
            parameters=parameters,
            moto_port=moto_port,
            emulator_port=emulator_port,
            api_port=api_port,
            on_delivery=printer.delivery,
            function_stdout=functions_log,
        )
        on_stack(local)
        _serve(local, printer, interval=interval, reconcile_every=reconcile_every)


def _serve(local: LocalStack, printer: Printer, *, interval: float, reconcile_every: float) -> None:
    with local:
        write_endpoints({"moto": local.moto.endpoint, "emulator": local.emulator.base_url, "api": local.api_url})
        try:
            print_usage(local, printer, reconcile_every=reconcile_every)
            local.runner.start(interval=interval, schedule_every=reconcile_every or None)
            local.halted.wait()
        finally:
            forget_endpoints()


def print_usage(local: LocalStack, printer: Printer, *, reconcile_every: float) -> None:
    stack = local.stack
    every = (
        f"run here every {reconcile_every:g} s instead (--reconcile-every)"
        if reconcile_every
        else "not run here (--reconcile-every 0)"
    )
    printer.heading("Local stack running (no Docker); Ctrl-C (or SIGTERM) stops it")
    printer.stack(
        stack,
        moto=local.moto.endpoint,
        emulator=local.emulator.base_url,
        http_api=local.api_url,
        parameters=local.parameters,
        schedules=every,
    )
    printer.heading("Queues")
    shown: set[str] = set()
    for mapping in stack.mappings:
        queue = stack.queues[mapping.queue]
        dlq = stack.dead_letter_queue(queue)
        for each in (queue, dlq):  # a DLQ two queues share (the sync function's) is shown once
            if each is not None and each.logical_id not in shown:
                shown.add(each.logical_id)
                printer.line(f"   {each.logical_id:<30}{each.url}")
    commands = Commands(local)
    dp = commands.deferred_payment(printer)
    commands.messages(printer, dp)
    commands.documents(printer, dp)
    commands.events(printer)
    commands.look(printer, dp)
    commands.dead_letters(printer)
    commands.runbook(printer)
    printer.heading(f"Deliveries (a line per Lambda invocation; the functions' logs and metrics: {_relative(FUNCTIONS_LOG)})")


def _relative(path: Path) -> str:
    """A path as typed from the repository's root, where the printed commands run."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


class Commands:
    """Commands to use the running stack by hand, each runnable as printed (from the repository's root)."""

    def __init__(self, local: LocalStack):
        self.local, self.stack = local, local.stack
        self.moto, self.admin = local.moto.endpoint, f"{local.emulator.base_url}/_admin"
        self.key_id, self.secret = CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"]
        credentials = f"AWS_ACCESS_KEY_ID={self.key_id} AWS_SECRET_ACCESS_KEY={self.secret}"
        self.aws = f"{credentials} aws --region {REGION} --endpoint-url {self.moto}"
        self.json = "-H 'Content-Type: application/json'"

    def deferred_payment(self, printer: Printer) -> dict:
        """A deferred payment created in the emulator now, with the local notification URL, for the other commands."""
        route = self.stack.route_for(WEBHOOKS.function(self.local).logical_id)
        url = self.local.notification_url(route) if route else None
        created = {"authorisation": SAMPLE_AUTHORISATION, **({"notification_url": url} if url else {})}
        dp = self.local.admin.create_deferred_payment(**created)
        printer.heading(f"A deferred payment to try it with (created in the emulator): {dp['id']}, order {dp['order']}")
        printer.line("   another one (Hokodo's side of checkout; note the id it answers):")
        printer.line(f"   curl -s -X POST {self.admin}/deferred_payments {self.json} -d {shlex.quote(json.dumps(created))}")
        if url:
            printer.heading("Hokodo's notification URL: the route + the current value of the URL secret (a local secret)")
            printer.line(f"   {url}")
            hint = {"data": {"order": {"deferred_payment": {"id": dp["id"]}}}}
            printer.line("   notify by hand (Hokodo does it on each status change, expiry and clawback):")
            printer.line(f"   curl -s -X POST {url} {self.json} -d {shlex.quote(json.dumps(hint))}")
        return dp

    def messages(self, printer: Printer, dp: dict) -> None:
        queue = self.stack.queues[self.stack.mapping_for(SHIPMENTS.function(self.local).logical_id).queue]
        body = json.dumps({"event_id": "oms-ship-1", "deferred_payment_id": dp["id"], "amount": 40000})
        printer.heading("Send a message: AWS CLI")
        printer.line(f"   {self.aws} sqs send-message --queue-url {queue.url} --message-body {shlex.quote(body)}")
        printer.heading("Send a message: boto3 (from the repository's root)")
        printer.code(
            [
                ".venv/bin/python - <<'EOF'",
                "import json",
                "",
                "import boto3",
                "",
                f'sqs = boto3.client("sqs", endpoint_url="{self.moto}", region_name="{REGION}", '
                f'aws_access_key_id="{self.key_id}", aws_secret_access_key="{self.secret}")',
                f"body = {body}",
                f'print(sqs.send_message(QueueUrl="{queue.url}", MessageBody=json.dumps(body))["MessageId"])',
                "EOF",
            ]
        )

    def documents(self, printer: Printer, dp: dict) -> None:
        queue = self.stack.mapping_for(DOCUMENTS.function(self.local).logical_id).queue
        bucket = self.stack.bucket_notifying(queue)
        if bucket is None:
            return
        printer.heading(f"Drop an invoice: AWS CLI (bucket {bucket.logical_id} notifies {queue})")
        metadata = json.dumps({"amount": "40000", "description": "Invoice INV-1"})
        printer.line(r"   printf '%%PDF-1.7\n%%%%EOF\n' > /tmp/INV-1.pdf")
        printer.line(
            f"   {self.aws} s3 cp /tmp/INV-1.pdf s3://{bucket.name}/invoices/{dp['order']}/INV-1.pdf "
            f"--content-type application/pdf --metadata {shlex.quote(metadata)}"
        )
        printer.line(
            f"   its payout items (awaiting_document until an invoice): curl -s {self.admin}/orders/{dp['order']}/payout_items"
        )

    def events(self, printer: Printer) -> None:
        for bus in self.stack.event_buses.values():
            printer.heading(
                f"Read what was published to {bus.logical_id} (the local stack's rule {bus.read_back_rule} -> its queue)"
            )
            printer.line(
                f"   {self.aws} sqs receive-message --queue-url {bus.read_back.url} --max-number-of-messages 10 "
                "--wait-time-seconds 1 --query 'Messages[].Body' --output text"
            )
            for rule, queues in bus.targets.items():
                for logical_id in queues:
                    url = self.stack.queues[logical_id].url
                    printer.line(
                        f"   what the template's {rule} delivered ({logical_id}): "
                        f"{self.aws} sqs receive-message --queue-url {url} --max-number-of-messages 10"
                    )

    def look(self, printer: Printer, dp: dict) -> None:
        printer.heading("Look")
        printer.line(f"   what reached Hokodo:    curl -s {self.admin}/requests")
        printer.line(f"   the ledger:             curl -s {self.admin}/deferred_payments/{dp['id']}")
        printer.line(f"   Hokodo's notifications: curl -s {self.admin}/webhooks")
        printer.line(f"""   expire authorisations:  curl -s -X POST {self.admin}/clock/advance {self.json} -d '{{"days": 29}}'""")
        log = _relative(FUNCTIONS_LOG)
        printer.line(f"   the functions' logs:    tail -f {log}   (Powertools' JSON lines and EMF metrics)")

    def dead_letters(self, printer: Printer) -> None:
        names = {lid: name for name, lid in template_dead_letter_queues().items()}
        queue = self.stack.queues[self.stack.mapping_for(SHIPMENTS.function(self.local).logical_id).queue]
        shipments = self.stack.dead_letter_queue(queue)
        if shipments is None or shipments.logical_id not in names:
            return
        name = names[shipments.logical_id]
        printer.heading("Dead letters (docs/runbook.md): each message with its reason, kept in the DLQ")
        printer.line("   the DLQs and their messages:  make dead-letters")
        printer.line(f"   one DLQ's messages:           make dead-letters QUEUE={name}")
        printer.line(f"   back to its queue (redrive):  make redrive QUEUE={name}")
        printer.line(
            f"   with the AWS CLI:             {self.aws} sqs receive-message --queue-url {shipments.url} "
            "--message-attribute-names All --max-number-of-messages 10 --visibility-timeout 0"
        )

    def runbook(self, printer: Printer) -> None:
        """What the runbook's placeholders stand for here (docs/runbook.md, "Rehearse it locally")."""
        emulator = self.local.emulator.base_url
        printer.heading("The runbook's placeholders, here")
        printer.line(f"   <emulator>               {emulator}   (the bare host: <emulator>/_admin/...; Hokodo's API: /v1/)")
        printer.line(f"   <moto>, <moto endpoint>  {self.moto}   (with --region {REGION} and the credentials above)")
