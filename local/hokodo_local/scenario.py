"""The merchant scenario of `python -m hokodo_local demo`, through the bundle's real entry points only:
SQS messages sent with boto3 to moto, delivered to the handlers as Lambda's event source would.

Hokodo's own side (checkout authorisations, expiry, clawback) is driven through the emulator's
admin API. Each entry point is found in template.yaml (a function with a given CodeUri): a path the
template does not have yet is reported as not available rather than faked, so when the documents and
webhooks functions arrive, the steps that use them only need their delivery written (see `Demo.drop`
and `Demo.notify`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from .local_stack import LocalStack
from .report import DeadLetter, Printer
from .stack import Queue


@dataclass(frozen=True)
class EntryPoint:
    """One way into the bundle, found by its function's CodeUri in template.yaml."""

    name: str
    code_dir: str
    missing: str  # why it is not available while the template lacks it


SHIPMENTS = EntryPoint("shipments", "functions/shipments", "no shipments function in template.yaml")
RETURNS = EntryPoint("returns", "functions/returns", "no returns function in template.yaml")
CANCELLATIONS = EntryPoint("cancellations", "functions/cancellations", "no cancellations function in template.yaml")
DOCUMENTS = EntryPoint("documents", "functions/documents", "no documents function in template.yaml")
WEBHOOKS = EntryPoint("webhooks", "functions/webhooks", "no webhooks function / event bus in template.yaml")


@dataclass
class DemoResult:
    deferred_payments: dict[str, str] = field(default_factory=dict)  # order label -> deferred payment id
    orders: dict[str, str] = field(default_factory=dict)  # order label -> Hokodo order id
    ledgers: dict[str, dict] = field(default_factory=dict)  # order label -> the emulator's deferred payment
    hokodo_requests: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)  # what reached EventBridge
    dead_letters: list[DeadLetter] = field(default_factory=list)
    not_available: list[str] = field(default_factory=list)  # entry point names


class Demo:
    def __init__(self, local: LocalStack, out: TextIO):
        self.local = local
        self.printer = Printer(out)
        self.result = DemoResult()
        self._step = 0
        self._requests_seen = 0

    # -- the scenario -------------------------------------------------------------------------
    def run(self) -> DemoResult:
        self.step("Checkout: Hokodo authorises two orders (emulator admin API: Hokodo's side)")
        a = self.authorise("A", 100_000)
        b = self.authorise("B", 50_000)

        self.step("Order A: part of it ships (shipment message)")
        first_shipment = {
            "event_id": "oms-ship-A-1",
            "deferred_payment_id": a,
            "amount": 40_000,
            "metadata": {"shipment": "SH-1"},
        }
        self.send(SHIPMENTS, first_shipment)

        self.step("Order A: the same shipment message arrives again (SQS delivers at least once)")
        self.send(SHIPMENTS, first_shipment)

        self.step("Order A: the rest ships (capture_remaining)")
        self.send(SHIPMENTS, {"event_id": "oms-ship-A-2", "deferred_payment_id": a, "capture_remaining": True})

        self.step("Order A: the ERP drops the invoice PDF (S3 put)")
        self.drop(DOCUMENTS, f"invoices/{self.result.orders['A']}/invoice-A.pdf")

        self.step("Order A: the buyer returns an item (return message -> refund)")
        self.send(RETURNS, {"event_id": "oms-return-A-1", "deferred_payment_id": a, "amount": 15_000})

        self.step("Order B: part of it is cancelled (cancellation message -> void)")
        self.send(CANCELLATIONS, {"event_id": "oms-cancel-B-1", "deferred_payment_id": b, "amount": 20_000})

        self.step(
            "Order B: 15000 ships while Hokodo answers 503 for a while; the cancellation of the rest, sent right after, "
            "names the shipment in `after` and waits for it"
        )
        self.local.admin.add_faults(*[{"status": 503, "path_contains": f"{b}/capture"}] * 4)
        self.send(
            SHIPMENTS,
            {"event_id": "oms-ship-B-1", "deferred_payment_id": b, "amount": 15_000},
            (
                CANCELLATIONS,
                {
                    "event_id": "oms-cancel-B-rest",
                    "deferred_payment_id": b,
                    "remaining": True,
                    "after": [{"kind": "shipment", "event_id": "oms-ship-B-1"}],
                },
            ),
        )
        self.show_ledger("B", b)

        self.step("A bad message: an amount as a float (money is integer minor units)")
        self.send(SHIPMENTS, {"event_id": "oms-ship-B-1", "deferred_payment_id": b, "amount": 100.5})

        self.step("Hokodo: 29 days pass, order B's remaining authorisation expires (emulator clock)")
        self.local.admin.advance_clock(days=29)
        self.show_ledger("B", b)

        self.step("Hokodo: a clawback on order A (emulator admin API)")
        self.local.admin.clawback(a, 5_000)
        self.show_ledger("A", a)

        self.step("Hokodo notifies the merchant (webhook -> webhooks function -> EventBridge)")
        self.notify()

        return self.summarise()

    # -- the entry points ---------------------------------------------------------------------
    def authorise(self, label: str, amount: int) -> str:
        dp = self.local.admin.create_deferred_payment(amount, currency="GBP")
        self.result.deferred_payments[label] = dp["id"]
        self.result.orders[label] = dp["order"]
        self.printer.line(f"   order {label}: {dp['id']}, authorisation {amount} (minor units), expires {dp['expires_at']}")
        return dp["id"]

    def send(self, entry: EntryPoint, message: dict[str, Any], *more: tuple[EntryPoint, dict[str, Any]]) -> None:
        """Send to the queue of each entry point's function (its event source mapping's queue), then let them run."""
        for entry_point, body in ((entry, message), *more):
            queue = self._queue_of(entry_point)
            if queue is None:
                continue
            text = json.dumps(body)
            self.printer.line(f"   SQS send-message {queue.logical_id}: {text}")
            self.local.sqs.send_message(QueueUrl=queue.url, MessageBody=text)
        self.deliver()

    def drop(self, entry: EntryPoint, key: str) -> None:
        if self._available(entry):  # pragma: no cover - waits for the documents function
            self.printer.line(f"   {entry.name}: the template has it; write this step's S3 put of {key} (scenario.py)")

    def notify(self) -> None:
        if self._available(WEBHOOKS):  # pragma: no cover - waits for the webhooks function
            self.printer.line("   webhooks: the template has it; write this step's webhook delivery (scenario.py)")

    def deliver(self) -> None:
        """Run the functions until their queues are empty, then show what reached Hokodo and the DLQs."""
        dlq_depths = self._dlq_depths()
        for delivery in self.local.runner.settle():
            self.printer.delivery(delivery)
        requests = self.local.admin.requests()
        for request in requests[self._requests_seen :]:
            self.printer.hokodo_request(request)
        if len(requests) == self._requests_seen:
            self.printer.line("   Hokodo: no request")
        self._requests_seen = len(requests)
        for logical_id, depth in self._dlq_depths().items():
            if depth > dlq_depths[logical_id]:
                self.printer.line(f"   {logical_id}: +{depth - dlq_depths[logical_id]} message(s)")

    # -- the end report -----------------------------------------------------------------------
    def summarise(self) -> DemoResult:
        admin, printer, result = self.local.admin, self.printer, self.result
        result.hokodo_requests = admin.requests()
        result.ledgers = {label: admin.get_deferred_payment(dp) for label, dp in result.deferred_payments.items()}
        result.dead_letters = read_dead_letters(self.local)

        printer.heading("What was sent to Hokodo (the emulator's request log)")
        for request in result.hokodo_requests:
            printer.hokodo_request(request)
        printer.heading("Deferred payment ledgers (minor units)")
        for label, dp in result.ledgers.items():
            printer.ledger(label, dp)
        printer.heading("What reached EventBridge")
        if WEBHOOKS.name in result.not_available:
            printer.line(f"   nothing: not available yet ({WEBHOOKS.missing})")
        for event in result.events:  # pragma: no cover - waits for the webhooks function
            printer.line(f"   {event}")
        printer.heading("What reached each DLQ, and why")
        for letter in result.dead_letters:
            printer.dead_letter(letter)
        if not result.dead_letters:
            printer.line("   nothing")
        if result.not_available:
            printer.heading("Not available yet: " + ", ".join(result.not_available))
        return result

    # -- helpers ------------------------------------------------------------------------------
    def step(self, title: str) -> None:
        self.local.raise_if_halted()
        self._step += 1
        self.printer.heading(f"{self._step}. {title}")

    def show_ledger(self, label: str, deferred_payment_id: str) -> None:
        self.printer.ledger_summary(label, self.local.admin.get_deferred_payment(deferred_payment_id))

    def _available(self, entry: EntryPoint) -> bool:
        if self.local.template.function_for(entry.code_dir) is not None:
            return True
        self.printer.line(f"   {entry.name}: not available yet ({entry.missing})")
        if entry.name not in self.result.not_available:
            self.result.not_available.append(entry.name)
        return False

    def _queue_of(self, entry: EntryPoint) -> Queue | None:
        if not self._available(entry):
            return None
        function = self.local.template.function_for(entry.code_dir)
        mapping = self.local.stack.mapping_for(function.logical_id)
        return self.local.stack.queues[mapping.queue]

    def _dlq_depths(self) -> dict[str, int]:
        return {
            q.logical_id: int(
                self.local.sqs.get_queue_attributes(QueueUrl=q.url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            for q in dead_letter_queues(self.local)
        }


def dead_letter_queues(local: LocalStack) -> list[Queue]:
    queues = (local.stack.dead_letter_queue(q) for q in local.stack.queues.values())
    return list({q.logical_id: q for q in queues if q is not None}.values())


def read_dead_letters(local: LocalStack) -> list[DeadLetter]:
    """Every message in every DLQ, with the reason the function attached (they stay in the queue)."""
    letters = []
    for queue in dead_letter_queues(local):
        seen: set[str] = set()
        while True:
            messages = local.sqs.receive_message(
                QueueUrl=queue.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                attributes = message.get("MessageAttributes", {})
                letters.append(
                    DeadLetter(
                        queue=queue.logical_id,
                        body=message["Body"],
                        reason=attributes.get("hokodo_postsale.reason", {}).get("StringValue"),
                        error_type=attributes.get("hokodo_postsale.error_type", {}).get("StringValue"),
                    )
                )
    return letters


def run_demo(
    out: TextIO,
    *,
    policy: str | None = None,
    log_level: str = "ERROR",
    moto_port: int = 0,
    emulator_port: int = 0,
    on_stack: Callable[[LocalStack], None] = lambda local: None,
) -> DemoResult:
    """Start the local stack, play the scenario, print the report, stop everything. `on_stack` gets the
    stack before it starts (the CLI halts it from its main thread on SIGINT/SIGTERM)."""
    parameters = {"LogLevel": log_level} | ({"FulfilmentPolicy": policy} if policy else {})
    # The functions' CloudWatch metrics (EMF lines on stdout) would drown the demo's output.
    local = LocalStack(
        parameters=parameters,
        moto_port=moto_port,
        emulator_port=emulator_port,
        runtime_env={"POWERTOOLS_METRICS_DISABLED": "true"},
    )
    on_stack(local)
    with local:
        printer = Printer(out)
        printer.heading("Local stack (no Docker)")
        printer.stack(local.stack, moto=local.moto.endpoint, emulator=local.emulator.base_url, parameters=local.parameters)
        return Demo(local, out).run()
