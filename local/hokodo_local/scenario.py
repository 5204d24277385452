"""The merchant scenario of `python -m hokodo_local demo`, through the bundle's real entry points only: SQS messages
sent with boto3 to moto, an invoice put into the documents bucket, Hokodo's notifications POSTed by the emulator to
the local HTTP API's route, and the reconciliation run as its schedule would run it; each function invoked as its
event source would (queues and the table's stream polled, routes served).

Hokodo's own side (checkout authorisations, expiry, clawback, a lost notification) is driven through the emulator's
admin API. Each entry point is found in template.yaml from its function's CodeUri: the queue of its event source
mapping, the bucket that notifies that queue, its HttpApi route, its schedule.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from .local_stack import LocalStack
from .report import DeadLetter, Printer
from .runner import Delivery
from .stack import Bucket, Function, Queue

WEBHOOK_TIMEOUT = 10.0  # seconds to wait for the notifications an action makes Hokodo send
INVOICE_PDF = b"%PDF-1.7\n% the ERP's invoice for order A\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


@dataclass(frozen=True)
class EntryPoint:
    """One way into the bundle: the function with this CodeUri in template.yaml."""

    name: str
    code_dir: str

    def function(self, local: LocalStack) -> Function:
        found = local.template.function_for(self.code_dir)
        if found is None:
            raise LookupError(f"template.yaml has no function with CodeUri {self.code_dir} ({self.name})")
        return local.stack.functions[found.logical_id]


SHIPMENTS = EntryPoint("shipments", "functions/shipments")
RETURNS = EntryPoint("returns", "functions/returns")
CANCELLATIONS = EntryPoint("cancellations", "functions/cancellations")
DOCUMENTS = EntryPoint("documents", "functions/documents")
WEBHOOKS = EntryPoint("webhooks", "functions/webhooks")
RECONCILIATION = EntryPoint("reconciliation", "functions/reconciliation")


@dataclass
class DemoResult:
    deferred_payments: dict[str, str] = field(default_factory=dict)  # order label -> deferred payment id
    orders: dict[str, str] = field(default_factory=dict)  # order label -> Hokodo order id
    ledgers: dict[str, dict] = field(default_factory=dict)  # order label -> the emulator's deferred payment
    hokodo_requests: list[dict] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)  # {key, version, tag, document}: each drop, as Hokodo holds it
    payout_items: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # label -> {"before": [...], "after": [...]}
    notifications: list[dict] = field(default_factory=list)  # the emulator's webhook log
    events: list[dict] = field(default_factory=list)  # what was published to the bus, in order
    step_events: dict[int, list[dict]] = field(default_factory=dict)  # step -> what reached the bus during it
    rule_deliveries: dict[str, list[dict]] = field(default_factory=dict)  # the template's rules: rule -> events its queue got
    reconciliation: Any = None  # what the scheduled function returned
    dead_letters: list[DeadLetter] = field(default_factory=list)


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


class DeliveryLog:
    """What the runner reports, from any thread (the HTTP API invokes the webhooks function in threads of its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []

    def __call__(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def take(self) -> list[Delivery]:
        with self._lock:
            taken, self._deliveries = self._deliveries, []
        return taken


class Demo:
    def __init__(self, local: LocalStack, deliveries: DeliveryLog, out: TextIO):
        self.local = local
        self.deliveries = deliveries
        self.printer = Printer(out)
        self.result = DemoResult()
        self._step = 0
        self._requests_seen = 0
        self._webhooks_seen = 0
        self._before: dict[str, tuple[str, int]] = {}

    # -- the scenario -------------------------------------------------------------------------
    def run(self) -> DemoResult:
        self.printer.heading("S3 sent its test event to the documents queue when the bucket's notification was set")
        self.deliver()

        url = self.local.notification_url(self.local.stack.route_for(WEBHOOKS.function(self.local).logical_id))
        self.step("Checkout: Hokodo authorises four orders, each with the local route as its notification URL")
        self.printer.line(f"   notification URL: {url}")
        a = self.authorise("A", 100_000, url)
        b = self.authorise("B", 50_000, url)
        c = self.authorise("C", 30_000, url)
        d = self.authorise("D", 20_000, url)

        self.step("Order A: part of it ships (shipment message); Hokodo notifies the status change")
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

        self.step("Order A: the ERP drops the invoice PDF into the documents bucket (S3 put_object)")
        self.drop("A", "invoices", "INV-A-1.pdf", amount="100000", description="Invoice INV-A-1")

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
        self.send(SHIPMENTS, {"event_id": "oms-ship-B-2", "deferred_payment_id": b, "amount": 100.5})

        self.step("Orders C and D: part of each ships; the rest stays authorised")
        self.send(
            SHIPMENTS,
            {"event_id": "oms-ship-C-1", "deferred_payment_id": c, "amount": 10_000},
            (SHIPMENTS, {"event_id": "oms-ship-D-1", "deferred_payment_id": d, "amount": 5_000}),
        )

        self.step(
            "Hokodo: 29 days pass (emulator clock); C's and D's remaining authorisations expire, and the notification "
            "of D's expiry is lost on the way (emulator webhook fault)"
        )
        self.local.admin.add_webhook_faults({"drop": True, "deferred_payment": d})
        self.local.admin.advance_clock(days=29)
        self.deliver()
        self.show_ledger("C", c)
        self.show_ledger("D", d)

        self.step("Hokodo: a clawback on order A (emulator admin API)")
        self.local.admin.clawback(a, 5_000)
        self.deliver()

        schedule = self.local.stack.schedule_for(RECONCILIATION.function(self.local).logical_id)
        self.step(
            f"The reconciliation's schedule fires ({schedule.expression} in the template; run once now, with its Input): "
            "D's expiry, whose notification was lost, is published"
        )
        self.result.reconciliation = self.local.runner.run_schedule(schedule).invocation.response
        self.deliver()

        return self.summarise()

    # -- the entry points ---------------------------------------------------------------------
    def authorise(self, label: str, amount: int, notification_url: str) -> str:
        dp = self.local.admin.create_deferred_payment(amount, currency="GBP", notification_url=notification_url)
        self.result.deferred_payments[label] = dp["id"]
        self.result.orders[label] = dp["order"]
        self.printer.line(
            f"   order {label}: {dp['id']} ({dp['order']}), authorisation {amount} (minor units), expires {dp['expires_at']}"
        )
        return dp["id"]

    def send(self, entry: EntryPoint, message: dict[str, Any], *more: tuple[EntryPoint, dict[str, Any]]) -> None:
        """Send to the queue of each entry point's function (its event source mapping's queue), then let them run."""
        for entry_point, body in ((entry, message), *more):
            queue = self._queue_of(entry_point)
            text = json.dumps(body)
            self.printer.line(f"   SQS send-message {queue.logical_id}: {text}")
            self.local.sqs.send_message(QueueUrl=queue.url, MessageBody=text)
        self.deliver()

    def drop(self, label: str, prefix: str, filename: str, **metadata: str) -> None:
        """Put a document into the bucket that notifies the documents function's queue, as an ERP would."""
        bucket, order = self._bucket_of(DOCUMENTS), self.result.orders[label]
        s3 = self.local.moto.client("s3")
        before = self.local.admin.payout_items(order)
        self.printer.line(f"   payout items of order {label}: {self._payout_items(before)}")
        key = f"{prefix}/{order}/{filename}"
        version = s3.put_object(Bucket=bucket.name, Key=key, Body=INVOICE_PDF, ContentType="application/pdf", Metadata=metadata)[
            "VersionId"
        ]
        shown = " ".join(f"{k}={v!r}" for k, v in metadata.items())
        self.printer.line(f"   S3 put-object s3://{bucket.name}/{key}  metadata {shown}  -> version {version}")
        self.deliver()
        tags = s3.get_object_tagging(Bucket=bucket.name, Key=key, VersionId=version)["TagSet"]
        self.printer.line(f"   S3 tags of version {version}: " + (", ".join(f"{t['Key']}={t['Value']}" for t in tags) or "none"))
        tag = next((t["Value"] for t in tags if t["Key"] == "hokodo-document-id"), None)
        document = self.local.admin.document(tag) if tag else None
        if document:
            self.printer.line(
                f"   Hokodo's document {document['id']}: {document['doc_type']}, amount {document['amount']}, "
                f"{document['filename']} ({document['size']} bytes), order {document['order']}"
            )
        after = self.local.admin.payout_items(order)
        self.printer.line(f"   payout items of order {label}: {self._payout_items(after)}")
        self.result.documents.append({"key": key, "version": version, "tag": tag, "document": document})
        self.result.payout_items[label] = {"before": before, "after": after}

    def deliver(self) -> None:
        """Run the functions until their queues and stream are done, wait for the notifications Hokodo sends, then show
        what happened, in the order it happened: every invocation, each request that reached Hokodo and each notification
        Hokodo sent; then what was published to the bus and what reached the DLQs."""
        dlq_depths = self._dlq_depths()
        self.local.runner.settle()
        if self._await_notifications():
            self.local.runner.settle()  # what the notifications queued: the sync function reads and publishes
        happened: list[tuple[float, Callable[[], None]]] = []
        for delivery in self.deliveries.take():
            happened.append((delivery.started, lambda d=delivery: self.printer.delivery(d)))
        for webhook in self._new_webhooks():
            label = self._label(webhook.get("deferred_payment"))
            happened.append((_epoch(webhook.get("at")), lambda w=webhook, lb=label: self.printer.notification(w, lb)))
        requests = self.local.admin.requests()
        for request in requests[self._requests_seen :]:
            happened.append((_epoch(request.get("at")), lambda r=request: self.printer.hokodo_request(r)))
        for _, show in sorted(happened, key=lambda h: h[0]):
            show()
        if len(requests) == self._requests_seen:
            self.printer.line("   Hokodo: no request")
        self._requests_seen = len(requests)
        for event in self.local.published():
            self.result.events.append(event)
            self.result.step_events.setdefault(self._step, []).append(event)
            self.printer.event(event, self._label(event["detail"].get("deferred_payment_id")))
        for logical_id, depth in self._dlq_depths().items():
            if depth > dlq_depths[logical_id]:
                self.printer.line(f"   {logical_id}: +{depth - dlq_depths[logical_id]} message(s)")

    # -- the end report -----------------------------------------------------------------------
    def summarise(self) -> DemoResult:
        admin, printer, result = self.local.admin, self.printer, self.result
        result.hokodo_requests = admin.requests()
        result.ledgers = {label: admin.get_deferred_payment(dp) for label, dp in result.deferred_payments.items()}
        result.notifications = admin.webhooks()
        result.rule_deliveries = read_rule_deliveries(self.local)
        result.dead_letters = read_dead_letters(self.local)

        printer.heading("What was sent to Hokodo (the emulator's request log)")
        for request in result.hokodo_requests:
            printer.hokodo_request(request)
        printer.heading("Deferred payment ledgers (minor units)")
        for label, dp in result.ledgers.items():
            printer.ledger(label, dp)
        printer.heading("Hokodo's notifications (the emulator's webhook log)")
        for webhook in result.notifications:
            printer.notification(webhook, self._label(webhook.get("deferred_payment")))
        printer.heading("What was published to the bus (read back through the local stack's rule)")
        for event in result.events:
            printer.event(event, self._label(event["detail"].get("deferred_payment_id")))
        for rule, events in result.rule_deliveries.items():
            printer.heading(f"What the template's rule {rule} delivered to its queue")
            for event in events:
                printer.event(event, self._label(event["detail"].get("deferred_payment_id")))
        printer.heading("What reached each DLQ, and why")
        for letter in result.dead_letters:
            printer.dead_letter(letter)
        if not result.dead_letters:
            printer.line("   nothing")
        return result

    # -- helpers ------------------------------------------------------------------------------
    def step(self, title: str) -> None:
        self.local.raise_if_halted()
        self._step += 1
        self.printer.heading(f"{self._step}. {title}")
        self._before = self._notifiable()

    def show_ledger(self, label: str, deferred_payment_id: str) -> None:
        self.printer.ledger_summary(label, self.local.admin.get_deferred_payment(deferred_payment_id))

    def _notifiable(self) -> dict[str, tuple[str, int, int]]:
        """Per order: its status, and how many expirations and clawbacks Hokodo recorded."""
        found = {}
        for label, dp_id in self.result.deferred_payments.items():
            dp = self.local.admin.get_deferred_payment(dp_id)
            types = [e["type"] for e in dp["events"]]
            found[label] = (dp["status"], types.count("expiration"), types.count("clawback"))
        return found

    def _await_notifications(self) -> int:
        """Wait until the emulator has sent (or lost) what this step's changes make it send, as its README says: a
        notification per expiry, per clawback, and per other status change. Returns how many."""
        now = self._notifiable()
        expected = 0
        for label, (status, expirations, clawbacks) in now.items():
            before_status, before_expirations, before_clawbacks = self._before.get(label, (status, expirations, clawbacks))
            expected += (expirations - before_expirations) + (clawbacks - before_clawbacks)
            expected += status != before_status and expirations == before_expirations
        self._before = now
        if expected:
            logged = self.local.admin.wait_for_webhooks(self._webhooks_seen + expected, timeout=WEBHOOK_TIMEOUT)
            if len(logged) < self._webhooks_seen + expected:
                self.printer.line(
                    f"   (expected {expected} notification(s); the emulator logged {len(logged) - self._webhooks_seen})"
                )
        return expected

    def _new_webhooks(self) -> list[dict]:
        logged = self.local.admin.webhooks()
        new, self._webhooks_seen = logged[self._webhooks_seen :], len(logged)
        return new

    def _label(self, deferred_payment_id: str | None) -> str:
        return next((label for label, dp in self.result.deferred_payments.items() if dp == deferred_payment_id), "?")

    @staticmethod
    def _payout_items(items: list[dict]) -> str:
        return ", ".join(f"{i['amount']} {i['status']}" for i in items) or "none"

    def _queue_of(self, entry: EntryPoint) -> Queue:
        mapping = self.local.stack.mapping_for(entry.function(self.local).logical_id)
        return self.local.stack.queues[mapping.queue]

    def _bucket_of(self, entry: EntryPoint) -> Bucket:
        queue = self._queue_of(entry)
        bucket = self.local.stack.bucket_notifying(queue.logical_id)
        if bucket is None:
            raise LookupError(f"no bucket of template.yaml notifies {queue.logical_id} ({entry.name})")
        return bucket

    def _dlq_depths(self) -> dict[str, int]:
        return {
            q.logical_id: int(
                self.local.sqs.get_queue_attributes(QueueUrl=q.url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
                    "ApproximateNumberOfMessages"
                ]
            )
            for q in dead_letter_queues(self.local)
        }


def _epoch(iso: str | None) -> float:
    """An ISO 8601 instant (the emulator's logs, on the wall clock) as time.time() seconds; unknown: last."""
    try:
        return datetime.fromisoformat(iso or "").timestamp()
    except ValueError:
        return float("inf")


def dead_letter_queues(local: LocalStack) -> list[Queue]:
    queues = (local.stack.dead_letter_queue(q) for q in local.stack.queues.values())
    return list({q.logical_id: q for q in queues if q is not None}.values())


def read_messages(local: LocalStack, queue: Queue) -> list[dict]:
    """Every message in a queue, with its attributes; they stay in the queue (hidden for a minute)."""
    found, seen = [], set()
    while True:
        messages = local.sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            return found
        seen.update(m["MessageId"] for m in fresh)
        found += fresh


def read_dead_letters(local: LocalStack) -> list[DeadLetter]:
    """Every message in every DLQ, with the reason the function attached (they stay in the queue)."""
    letters = []
    for queue in dead_letter_queues(local):
        for message in read_messages(local, queue):
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


def read_rule_deliveries(local: LocalStack) -> dict[str, list[dict]]:
    """What each of the template's rules delivered to the queues it targets (they stay in the queue)."""
    found = {}
    for bus in local.stack.event_buses.values():
        for rule, queues in bus.targets.items():
            for logical_id in queues:
                messages = read_messages(local, local.stack.queues[logical_id])
                found[f"{rule} -> {logical_id}"] = [json.loads(m["Body"]) for m in messages]
    return found


def run_demo(
    out: TextIO,
    *,
    policy: str | None = None,
    log_level: str = "ERROR",
    moto_port: int = 0,
    emulator_port: int = 0,
    api_port: int = 0,
    on_stack: Callable[[LocalStack], None] = lambda local: None,
) -> DemoResult:
    """Start the local stack, play the scenario, print the report, stop everything. `on_stack` gets the
    stack before it starts (the CLI halts it from its main thread on SIGINT/SIGTERM)."""
    parameters = {"LogLevel": log_level} | ({"FulfilmentPolicy": policy} if policy else {})
    deliveries = DeliveryLog()
    # The functions' CloudWatch metrics (EMF lines on stdout) would drown the demo's output: they are disabled, and what
    # the functions print all the same (Powertools' single_metric ignores POWERTOOLS_METRICS_DISABLED) is not shown.
    local = LocalStack(
        parameters=parameters,
        moto_port=moto_port,
        emulator_port=emulator_port,
        api_port=api_port,
        runtime_env={"POWERTOOLS_METRICS_DISABLED": "true"},
        on_delivery=deliveries,
        function_stdout=_Discard(),
    )
    on_stack(local)
    with local:
        printer = Printer(out)
        printer.heading("Local stack (no Docker)")
        printer.stack(
            local.stack,
            moto=local.moto.endpoint,
            emulator=local.emulator.base_url,
            http_api=local.api_url,
            parameters=local.parameters,
            schedules="run here once, on demand, by the last step",
        )
        return Demo(local, deliveries, out).run()
