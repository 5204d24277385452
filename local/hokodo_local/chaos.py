"""`python -m hokodo_local chaos` (`make chaos`): the local stack driven through its real entry points (SQS sends,
S3 puts, Hokodo's notifications through the HTTP route) by a seeded mix of events, while Hokodo misbehaves at a set
rate (5xx, 429 with Retry-After, answers later than the client waits after applying, dropped connections before and
after applying, lost and duplicated notifications), the harness delivers some messages twice and publishes some
again later, kills some invocations between Hokodo's answer and the idempotency write, and runs several invocations
per queue at once, as Lambda does with MaximumConcurrency > 1. Then, as an operator would once the cause is gone,
faults stop, every DLQ is redriven once, and the reconciliation runs once. `profile` is how the emulator reads Hokodo
(`default`: the guide's; `sparse`: as little as public evidence shows: no event ids, newest first, own type names, no
`events`, nulls for zero totals...).

Everything is then compared with what the inputs say (chaos_model.py), reading Hokodo in full: each order's ledger at
Hokodo with the one its inputs give, each uploaded document with the bytes dropped, each of the deferred payment's
totals (captured, refunded, voided, expired, clawed back) with the facts on the bus (their amounts add up to it, each
id once), and each input is accounted for: applied once, or parked with a reason. One line of key=value pairs says it;
the exit code is 1 if anything was lost, applied twice, missed or published twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from . import chaos_model as model
from .lambda_context import LocalLambdaContext
from .local_stack import LocalStack
from .runner import Container, StreamPoller
from .sqs_event_source import SqsEventSource

WORKERS_PER_QUEUE = 3
FUNCTION_TIMEOUT = 6.0  # seconds: a killed invocation's in-progress record blocks its event this long
HOKODO_TIMEOUT = "1"  # the client gives up after 1 s; injected slow answers take 1.5 s and are applied


@dataclass
class Tally:
    duplicates: int = 0
    crashes: int = 0
    invocations: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


def run(
    out: TextIO,
    *,
    seed: int,
    events: int,
    fault_rate: float,
    profile: str = "default",
    on_stack: Callable[[LocalStack], None] = lambda local: None,
) -> int:
    rng = random.Random(seed)
    orders = model.orders(seed, events)
    tally = Tally()
    parameters = {"MaxReceiveCount": "6", "OutOfOrderMaxReceives": "5", "LogLevel": "ERROR"}
    runtime = {"POWERTOOLS_METRICS_DISABLED": "true", "HOKODO_TIMEOUT_SECONDS": HOKODO_TIMEOUT, "HOKODO_MAX_ATTEMPTS": "3"}
    quiet = contextlib.redirect_stdout(io.StringIO())  # the functions' log lines (their CloudWatch streams on AWS)
    with (
        quiet,
        warnings.catch_warnings(),
        LocalStack(parameters=parameters, runtime_env=runtime, function_stdout=io.StringIO()) as local,
    ):
        warnings.simplefilter("ignore")
        on_stack(local)  # the CLI halts it on SIGINT/SIGTERM
        local.admin.set_profile(name=profile)
        authorise(local, orders)
        faults_on(local, rng, fault_rate)
        with Workers(local, tally, crash_rate=fault_rate / 3, rng=random.Random(seed + 1)) as workers:
            send_all(local, orders, rng, tally)
            workers.drain()
            hokodo_acts(local, orders)
            faults_off(local)
            workers.crash_rate = 0.0
            redrive_all(local)
            workers.drain()
            workers.track()
            local.runner.run_schedule(local.stack.schedules[0])  # it queues a sync of every watched deferred payment
            workers.drain()
        local.admin.set_profile(name="default")  # the harness reads Hokodo in full to compare (the ledger is the same)
        summary = compare(local, orders, tally, seed) | {"profile": profile}
    print(" ".join(f"{k}={v}" for k, v in summary.items()), file=out, flush=True)
    failed = ("lost", "double_applied", "missed_events", "duplicate_events", "ledger_mismatches", "wrong_documents")
    return 1 if any(summary[k] for k in failed) else 0


def authorise(local: LocalStack, orders: list[model.Order]) -> None:
    url = local.notification_url()
    for order in orders:
        dp = local.admin.create_deferred_payment(order.authorisation, notification_url=url)
        order.deferred_payment, order.order_id = dp["id"], dp["order"]


def faults_on(local: LocalStack, rng: random.Random, rate: float) -> None:
    share = {"503": 0.35, "429": 0.15, "timeout": 0.15, "drop": 0.15, "drop_after_apply": 0.2}
    local.admin.set_faults(error_rates={k: rate * v for k, v in share.items()}, timeout_seconds=1.5)
    local.admin.set_webhook_rates(drop=rate / 2, duplicate=rate / 2, seed=rng.randrange(1 << 30))


def faults_off(local: LocalStack) -> None:
    local.admin.clear_faults()
    local.admin.set_webhook_rates(0, 0)


def send_all(local: LocalStack, orders: list[model.Order], rng: random.Random, tally: Tally) -> None:
    """Every input through its entry point, all orders interleaved; some twice at once, some again later."""
    queue_of = {m.function: local.stack.queues[m.queue].url for m in local.stack.mappings}
    bucket = next(iter(local.stack.buckets.values())).name
    s3 = local.moto.client("s3")
    items = [(o, i) for o in orders for i in o.inputs]
    rng.shuffle(items)
    later: list[tuple[str, str]] = []
    for order, item in items:
        if item.kind == "document":
            s3.put_object(
                Bucket=bucket,
                Key=order.document_key(item),
                Body=item.content,
                Metadata={"metadata": json.dumps({model.MARK: item.id})},
            )
            continue
        url = _queue(queue_of, item.kind)
        body = json.dumps(order.message(item))
        copies = 2 if rng.random() < 0.05 else 1
        for _ in range(copies):
            local.sqs.send_message(QueueUrl=url, MessageBody=body)
        tally.add("duplicates", copies - 1)
        if rng.random() < 0.05:
            later.append((url, body))
    time.sleep(1.0)
    for url, body in later:  # the upstream publishes the same event again
        local.sqs.send_message(QueueUrl=url, MessageBody=body)
    tally.add("duplicates", len(later))


def _queue(queue_of: dict[str, str], kind: str) -> str:
    function = {"shipment": "ShipmentsFunction", "return": "ReturnsFunction", "cancellation": "CancellationsFunction"}[kind]
    return queue_of[function]


def hokodo_acts(local: LocalStack, orders: list[model.Order]) -> None:
    """Hokodo's side: clawbacks, then 29 days pass and what is left of each authorisation expires."""
    for order in orders:
        if order.clawback:
            local.admin.clawback(order.deferred_payment, order.clawback)
    local.admin.advance_clock(days=29)
    _wait_for_notifications(local)


def _wait_for_notifications(local: LocalStack, timeout: float = 120.0) -> None:
    deadline, seen = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        count = len(local.admin.webhooks())
        if count == seen:
            return
        seen = count
        time.sleep(1.0)


def redrive_all(local: LocalStack) -> None:
    """What the runbook has the operator do: every DLQ message back to its source queue, as a new message (SQS's message
    move task), except a document upload in doubt that Hokodo turns out to hold: that message is deleted (the runbook's
    "A document upload in doubt": look at the order's documents at Hokodo first)."""
    for queue in local.stack.queues.values():
        dlq = local.stack.dead_letter_queue(queue)
        if dlq is None:
            continue
        while batch := local.sqs.receive_message(QueueUrl=dlq.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages"
        ):
            for message in batch:
                if not _at_hokodo_already(local, message):
                    local.sqs.send_message(
                        QueueUrl=queue.url, MessageBody=message["Body"], MessageAttributes=message.get("MessageAttributes", {})
                    )
                local.sqs.delete_message(QueueUrl=dlq.url, ReceiptHandle=message["ReceiptHandle"])


def _at_hokodo_already(local: LocalStack, message: dict) -> bool:
    """Whether a message parked as an upload in doubt names a document the order already holds at Hokodo."""
    error_type = message.get("MessageAttributes", {}).get("hokodo_postsale.error_type", {}).get("StringValue")
    if error_type != "OutcomeInDoubt":
        return False
    from urllib.parse import unquote_plus

    key = unquote_plus(json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"])
    target, filename = key.split("/")[1], key.rsplit("/", 1)[-1]
    order = target if target.startswith("order-") else local.admin.get_deferred_payment(target)["order"]
    return any(d["filename"] == filename for d in local.admin.order_documents(order))


class Workers:
    """Lambda's pollers, several per queue, each with its own execution environment (a container of its own), plus
    ledger tracking on the table's stream. `crash_rate`: the share of idempotency completions killed."""

    def __init__(self, local: LocalStack, tally: Tally, *, crash_rate: float, rng: random.Random):
        self.local, self.tally, self.crash_rate, self._rng = local, tally, crash_rate, rng
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sources: list[SqsEventSource] = []
        self._real_update = DynamoDBPersistenceLayer._update_record
        self._stream = next(p for p in local.runner.pollers if isinstance(p, StreamPoller))

    def __enter__(self) -> Workers:
        self._install_crashes()
        for mapping in self.local.stack.mappings:
            queue, function = self.local.stack.queues[mapping.queue], self.local.stack.functions[mapping.function]
            for n in range(WORKERS_PER_QUEUE):
                container = Container(function)
                source = SqsEventSource(self.local.sqs, queue.url, queue.arn, container.handler, batch_size=mapping.batch_size)
                self._sources.append(source)
                thread = threading.Thread(
                    target=self._poll, args=(source, function.name), name=f"chaos-{function.name}-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        DynamoDBPersistenceLayer._update_record = self._real_update  # type: ignore[method-assign]

    def _install_crashes(self) -> None:
        real, workers = self._real_update, self

        def update_or_crash(persistence: Any, data_record: Any) -> Any:
            with workers.tally.lock:
                crash = workers._rng.random() < workers.crash_rate
            if crash:  # Hokodo answered, the container dies before Powertools records the result
                workers.tally.add("crashes")
                raise ConnectionError("chaos: the container died before the idempotency record was completed")
            return real(persistence, data_record)

        DynamoDBPersistenceLayer._update_record = update_or_crash  # type: ignore[method-assign]

    def _poll(self, source: SqsEventSource, name: str) -> None:
        while not self._stop.is_set():
            context = LocalLambdaContext(function_name=name, timeout_seconds=FUNCTION_TIMEOUT)
            try:
                invocation = source.poll_once(context, wait_seconds=0)
            except Exception:  # moto busy: try again, as Lambda's poller would
                invocation = None
            if invocation is None:
                self._stop.wait(0.2)
            else:
                self.tally.add("invocations")

    def track(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while (self._stream.poll_once() is not None or self._stream.busy()) and time.monotonic() < deadline:
            pass

    def drain(self, timeout: float = 600.0) -> None:
        """Until no source queue has a message visible or in flight, twice in a row a second apart."""
        deadline, quiet = time.monotonic() + timeout, 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the queues did not drain")
            time.sleep(1.0)
            self._stream.poll_once()
            quiet = quiet + 1 if not self._busy() else 0

    def _busy(self) -> bool:
        for source in {s.queue_url: s for s in self._sources}.values():
            attributes = self.local.sqs.get_queue_attributes(
                QueueUrl=source.queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            if int(attributes["ApproximateNumberOfMessages"]) or int(attributes["ApproximateNumberOfMessagesNotVisible"]):
                return True
        return False


def compare(local: LocalStack, orders: list[model.Order], tally: Tally, seed: int) -> dict[str, Any]:
    requests = local.admin.requests()
    parked, uploaded, actions = _parked(local), _uploaded(requests), _applied_actions(requests)
    published = local.published()
    counts: Counter[str] = Counter()
    lost: list[str] = []
    for order in orders:
        dp = local.admin.get_deferred_payment(order.deferred_payment)
        ledger, _ = model.expected_ledger(order, dp["events"])
        counts["ledger_mismatches"] += any(dp[k] != v for k, v in vars(ledger).items())
        for item in order.inputs:
            done = uploaded.get(item.id, []) if item.kind == "document" else [a for (i, a), n in actions.items() if i == item.id]
            if item.kind == "document":
                counts["double_applied"] += max(0, len(done) - 1)
                counts["wrong_documents"] += sum(sha != hashlib.sha256(item.content).hexdigest() for sha in done)
            if not item.valid and done:
                counts["double_applied"] += 1  # an invalid input must never reach Hokodo
            outcome = "applied" if done else "parked" if item.id in parked else "lost"
            counts[outcome] += 1
            if outcome == "lost":
                lost.append(item.id)
        missed, extra = _unpublished(dp, published)
        counts["missed_events"] += missed
        counts["over_published"] += extra
    counts["double_applied"] += sum(n - 1 for n in actions.values() if n > 1)
    ids = Counter(e["detail"]["id"] for e in published)
    webhooks = local.admin.webhooks()
    faults = sum(1 for r in requests if r.get("fault")) + sum(
        1 for w in webhooks if w.get("error") == "dropped" or w.get("duplicate_of")
    )
    return {
        "events": sum(len(o.inputs) for o in orders),
        "deferred_payments": len(orders),
        "faults": faults,
        "duplicates": tally.duplicates,
        "crashes": tally.crashes,
        "applied": counts["applied"],
        "parked": counts["parked"],
        "lost": counts["lost"],
        "double_applied": counts["double_applied"],
        "missed_events": counts["missed_events"],
        "duplicate_events": sum(n - 1 for n in ids.values() if n > 1) + counts["over_published"],
        "ledger_mismatches": counts["ledger_mismatches"],
        "wrong_documents": counts["wrong_documents"],
        "published": len(published),
        "seed": seed,
        "lost_inputs": ",".join(lost[:10]) or "-",
    }


def _applied_actions(requests: list[dict]) -> Counter[tuple[str, str]]:
    """(input id, action) -> how many post-sale requests Hokodo applied for it (2xx, not a replay of a stored answer;
    an answer lost on the way back still counts: Hokodo applied it). Exactly once means 1 each."""
    applied: Counter[tuple[str, str]] = Counter()
    for request in requests:
        if request["method"] == "POST" and "/deferred_payments/" in request["path"] and request["status"] in (200, 201):
            if not request["replayed"]:
                mark = ((request["body"] or {}).get("metadata") or {}).get(model.MARK, "")
                applied[(mark, request["path"].rsplit("/", 1)[-1])] += 1
    return applied


def _parked(local: LocalStack) -> set[str]:
    """The input ids of every message left in a DLQ with a reason (after the redrive: parked for good)."""
    found = set()
    for queue in local.stack.queues.values():
        dlq = local.stack.dead_letter_queue(queue)
        while dlq and (
            batch := local.sqs.receive_message(
                QueueUrl=dlq.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=300
            ).get("Messages")
        ):
            for message in batch:
                if message.get("MessageAttributes", {}).get("hokodo_postsale.reason"):
                    found.add(_input_id(message["Body"]))
    return found


def _input_id(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if "event_id" in data:
        return str(data["event_id"])
    key = (data.get("Records") or [{}])[0].get("s3", {}).get("object", {}).get("key", "")
    from urllib.parse import unquote_plus

    return unquote_plus(key).rsplit("/", 1)[-1].removesuffix(".pdf")


def _uploaded(requests: list[dict]) -> dict[str, list[str]]:
    """Input id -> the sha256 of each document Hokodo stored for it (applied uploads, not replays)."""
    found: dict[str, list[str]] = {}
    for request in requests:
        if (
            request["method"] == "POST"
            and request["path"].endswith("/documents")
            and request["status"] == 201
            and not request["replayed"]
        ):
            metadata = json.loads((request["body"] or {}).get("metadata") or "{}")
            found.setdefault(metadata.get(model.MARK, ""), []).append(request["body"]["file"]["sha256"])
    return found


FACT_TOTALS = {  # detail-type -> the deferred payment's total its amounts add up to
    "Deferred Payment Captured": ("protected_captures", "unprotected_captures", "refunds"),
    "Deferred Payment Refunded": ("refunds",),
    "Deferred Payment Voided": ("voided_authorisation",),
    "Deferred Payment Expired": ("expired_authorisation",),
    "Deferred Payment Clawback": ("clawback_amount",),
}


def _unpublished(dp: dict, published: list[dict]) -> tuple[int, int]:
    """(totals whose facts on the bus add up to less than Hokodo's total, totals whose facts add up to more): each fact of
    a deferred payment published once, with the right amount, whatever Hokodo's events showed."""
    mine = {e["detail"]["id"]: e for e in published if e["detail"]["deferred_payment_id"] == dp["id"]}.values()
    missed = extra = 0
    for detail_type, fields in FACT_TOTALS.items():
        total = sum(dp[field] or 0 for field in fields)
        on_bus = sum(e["detail"]["amount"] for e in mine if e["detail-type"] == detail_type)
        missed += on_bus < total
        extra += on_bus > total
    return missed, extra
