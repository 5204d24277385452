"""The bundle's own facts on the bus: how long from Hokodo's 201 to a capture until PutEvents accepted its
`Deferred Payment Captured`, through every hop of production's path, each function in a process of its own:

    shipments queue -> ShipmentsFunction -> Hokodo's 201 -> Powertools' COMPLETED record -> the table's stream
    -> TrackingFunction -> the sync queue -> SyncFunction -> Hokodo GET -> PutEvents

The parent runs Lambda's event source mappings as threads, at template.yaml's settings:
- the shipments queue: batches of `BatchSize` (10) gathered for up to `BatchingWindowSeconds` (1 s), one container
  (a few shipments a second need no more);
- the table's stream: one shard, hence one tracking invocation at a time, polled every 250 ms (Lambda polls a stream
  shard about 4 times a second), batches of up to 100 records through the mapping's FilterCriteria, no window;
- the sync queue: `MaximumConcurrency` (5) pollers, each with a container of its own, long-polling (a message is
  received as soon as it is sent, as with Lambda's long-polling pollers), batches of up to 10, no window.

Shipments, each on a deferred payment of its own, are sent a few a second. Each one's 201 is the time the shipments
function received it (its timeline: the capture request's end, on the wall clock of its process); PutEvents accepted
is the end of the sync function's PutEvents whose entries carry its `Deferred Payment Captured`. The hops between
come from the same timelines (the COMPLETED write, the tracking invocation, its SendMessageBatch, the sync invocation).
The emulator's request log (`at`, the arrival, + its latency) is compared with the 201 as the function saw it.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import threading
import time
import uuid
from datetime import datetime
from typing import Any

from hokodo_local.sqs_event_source import SqsEventSource
from hokodo_local.stream_event_source import DynamoDBStreamEventSource
from services import REGION, Aws, Container

STREAM_POLL_S = 0.25  # Lambda polls each stream shard about 4 times a second
GATHER_POLL_S = 0.05  # within a batching window, short receives this often
CAPTURED = "Deferred Payment Captured"
_DEFERRED_PAYMENT = re.compile(r"(defpay-[A-Za-z0-9]+)")
_CAPTURE = "hokodo POST /v1/payment/deferred_payments/{id}/capture"


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class _Mapping(threading.Thread):
    """One event source mapping's poller; `answers` collects what each invocation measured."""

    def __init__(self, name: str, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.stop, self.answers, self.error = stop, [], None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        except Exception as exc:  # reported by the scenario, which stops
            self.error = exc
            self.stop.set()

    def step(self) -> None:
        raise NotImplementedError


class QueueMapping(_Mapping):
    """An SQS event source mapping: long-poll, gather up to `batch` records for at most `window` seconds, invoke the
    container, delete what succeeded (ReportBatchItemFailures)."""

    def __init__(self, aws: Aws, queue: str, container: Container, stop: threading.Event, *, batch: int, window: float):
        super().__init__(f"{queue}-{container.function}-{id(container)}", stop)
        self.sqs = aws.client("sqs")  # a client per thread
        self.url, arn = aws.queues[queue]
        self.source = SqsEventSource(self.sqs, self.url, arn, handler=None, batch_size=batch, region=REGION)
        self.container, self.batch, self.window = container, batch, window

    def _receive(self, most: int, wait: int) -> list[dict]:
        return self.sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=most,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def step(self) -> None:
        received = self._receive(self.batch, 1)
        if not received:
            return
        deadline = time.monotonic() + self.window
        while len(received) < self.batch and time.monotonic() < deadline:
            more = self._receive(self.batch - len(received), 0)
            received += more
            if not more:
                time.sleep(min(GATHER_POLL_S, max(0.0, deadline - time.monotonic())))
        answer = self.container.invoke(self.source.event(received))
        answer["records"] = len(received)
        self.answers.append(answer)
        failed = {f["itemIdentifier"] for f in answer["response"].get("batchItemFailures", [])}
        done = [m for m in received if m["MessageId"] not in failed]
        for i in range(0, len(done), 10):
            entries = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(done[i : i + 10])]
            self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)


class StreamMapping(_Mapping):
    """The table's stream into ledger tracking: one shard, so one invocation at a time, polled every STREAM_POLL_S
    (at once again when a full batch left records behind), through the mapping's filters."""

    def __init__(self, aws: Aws, container: Container, stop: threading.Event, *, batch: int, filters: list[str]):
        super().__init__("stream-tracking", stop)
        streams = aws.client("dynamodbstreams")
        arn = aws.dynamodb.describe_table(TableName="idempotency")["Table"]["LatestStreamArn"]
        self.container, self.batch, self.skipping = container, batch, True
        self.source = DynamoDBStreamEventSource(streams, arn, self._invoke, batch_size=batch, region=REGION, filters=filters)
        self.source.drain(lambda: None, max_polls=10_000)  # what earlier scenarios left in the stream: not this one's
        self.skipping = False

    def _invoke(self, event: dict, _: Any) -> dict:
        if self.skipping:
            return {"batchItemFailures": []}
        answer = self.container.invoke(event)
        answer["records"] = len(event["Records"])
        self.answers.append(answer)
        return answer["response"]

    def step(self) -> None:
        started = time.monotonic()
        invocation = self.source.poll_once(None)
        full = invocation is not None and len(invocation.event["Records"]) >= self.batch
        if not full:
            self.stop.wait(max(0.0, STREAM_POLL_S - (time.monotonic() - started)))


def _calls(answer: dict, what: str) -> list[tuple[float, float, str, Any]]:
    """(start, end as wall clock seconds, thread, note) of each call `what` in an invocation's timeline."""
    epoch = answer["epoch_start"]
    return [(epoch + s / 1000, epoch + e / 1000, thread, note) for w, s, e, thread, note in answer["timeline"] if w == what]


def event_latency(
    aws: Aws,
    admin: Any,
    hokodo: Any,
    *,
    shipments: Container,
    tracking: Container,
    syncs: list[Container],
    template: dict,
    events: int,
    per_second: float,
    latency_ms: float,
) -> dict:
    """Shipments sent `per_second`, each on a deferred payment of its own, followed until their Captured fact is on the
    bus. Returns the figures (percentiles in ms) with each hop's share."""
    for sync in syncs:  # each sync container warm: secret cached, a pooled connection, its clients made
        _warm_sync(aws, admin, hokodo, sync)
    stop = threading.Event()
    ship = QueueMapping(aws, "shipments", shipments, stop, batch=template["batch_size"], window=template["batching_window_s"])
    stream = StreamMapping(aws, tracking, stop, batch=template["tracking_batch_size"], filters=template["tracking_filters"])
    pollers = [
        QueueMapping(aws, "sync", sync, stop, batch=template["sync_batch_size"], window=template["sync_batching_window_s"])
        for sync in syncs
    ]
    mappings = [ship, stream, *pollers]
    for mapping in mappings:
        mapping.start()
    sqs, url = aws.client("sqs"), aws.queues["shipments"][0]

    def send(dps: list[str]) -> dict[str, float]:
        sent, started = {}, time.monotonic()
        for i, dp in enumerate(dps):
            stop.wait(max(0.0, started + i / per_second - time.monotonic()))
            body = {"event_id": uuid.uuid4().hex, "deferred_payment_id": dp, "amount": 1_000}
            sent[dp] = time.time()
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
        return sent

    def published(dps: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not stop.is_set() and time.monotonic() < deadline:
            if set(dps) <= _captured(pollers):
                return
            time.sleep(0.2)
        missing = len(set(dps) - _captured(pollers))
        errors = [m.error for m in mappings if m.error]
        stop.set()
        raise RuntimeError(f"{missing} of {len(dps)} Captured facts never reached PutEvents; pollers: {errors}")

    try:
        warm = [admin.create_deferred_payment(100_000)["id"] for _ in range(template["batch_size"])]
        send(warm)  # shipments and tracking warm, through the pipeline
        published(warm, 60)
        dps = [admin.create_deferred_payment(100_000)["id"] for _ in range(events)]
        admin.clear_requests()
        sent = send(dps)
        published(dps, 60)
    finally:
        stop.set()
        for mapping in mappings:
            mapping.join(10)
    figures = _figures(
        dps=dps, sent=sent, ship=ship, stream=stream, pollers=pollers, requests=admin.requests(), latency_ms=latency_ms
    )
    return {**figures, "event_latency_per_second": per_second}


def _warm_sync(aws: Aws, admin: Any, hokodo: Any, container: Container) -> None:
    dp = admin.create_deferred_payment(100_000)["id"]
    hokodo.post(f"payment/deferred_payments/{dp}/capture", json={"amount": 1_000}).raise_for_status()
    url, arn = aws.queues["sync"]
    aws.sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"deferred_payment_id": dp, "reason": "notification"}))
    source = SqsEventSource(aws.sqs, url, arn, handler=None, batch_size=1, region=REGION)
    while not (received := source.receive(wait_seconds=1)):
        pass
    container.invoke(source.event(received))
    aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])


def _captured(pollers: list[QueueMapping]) -> set[str]:
    return {
        dp
        for poller in pollers
        for answer in list(poller.answers)
        for *_, note in _calls(answer, "events PutEvents")
        for detail_type, dp in note or []
        if detail_type == CAPTURED
    }


def _figures(
    *,
    dps: list[str],
    sent: dict[str, float],
    ship: QueueMapping,
    stream: StreamMapping,
    pollers: list[QueueMapping],
    requests: list[dict],
    latency_ms: float,
) -> dict:
    answered: dict[str, float] = {}  # deferred payment -> the shipments function received Hokodo's 201
    completed: dict[str, float] = {}  # -> Powertools' COMPLETED record written (the stream record exists)
    for answer in ship.answers:
        updates = _calls(answer, "dynamodb UpdateItem")
        for _, end, thread, path in _calls(answer, _CAPTURE):
            dp = _DEFERRED_PAYMENT.search(path or "")[1]
            answered[dp] = end
            completed[dp] = min((e for s, e, t, _ in updates if t == thread and s >= end), default=math.nan)
    tracked: dict[str, float] = {}  # -> the tracking invocation that saw it began
    enqueued: dict[str, float] = {}  # -> its sync request was accepted by SQS
    for answer in stream.answers:
        for _, end, _, note in _calls(answer, "sqs SendMessageBatch"):
            for dp in note or []:
                if dp not in enqueued:
                    tracked[dp], enqueued[dp] = answer["epoch_start"], end
    synced: dict[str, float] = {}  # -> the sync invocation that published it began
    put: dict[str, float] = {}  # -> PutEvents accepted its Captured fact
    facts: dict[str, int] = {}
    for answer in (a for poller in pollers for a in poller.answers):
        for _, end, _, note in _calls(answer, "events PutEvents"):
            for detail_type, dp in note or []:
                facts[dp] = facts.get(dp, 0) + 1
                if detail_type == CAPTURED and dp not in put:
                    synced[dp], put[dp] = answer["epoch_start"], end
    arrived = {
        _DEFERRED_PAYMENT.search(r["path"])[1]: datetime.fromisoformat(r["at"]).timestamp()
        for r in requests
        if r["method"] == "POST" and r["path"].endswith("/capture")
    }

    def ms(values: list[float]) -> dict[str, float]:
        return {"p50": round(percentile(values, 50), 1), "p99": round(percentile(values, 99), 1)}

    latency = [(put[dp] - answered[dp]) * 1000 for dp in dps]
    hops = {
        "completed": [(completed[dp] - answered[dp]) * 1000 for dp in dps],
        "stream": [(tracked[dp] - completed[dp]) * 1000 for dp in dps],
        "tracking": [(enqueued[dp] - tracked[dp]) * 1000 for dp in dps],
        "sync_queue": [(synced[dp] - enqueued[dp]) * 1000 for dp in dps],
        "sync": [(put[dp] - synced[dp]) * 1000 for dp in dps],
    }
    sync_answers = [a for poller in pollers for a in poller.answers]
    measured = set(dps)
    figures = {
        "event_latency_events": len(dps),
        "event_latency_p50_ms": ms(latency)["p50"],
        "event_latency_p99_ms": ms(latency)["p99"],
        "event_latency_max_ms": round(max(latency), 1),
        **{f"event_latency_{hop}_{p}_ms": v for hop, values in hops.items() for p, v in ms(values).items()},
        "event_latency_shipment_to_201_p50_ms": ms([(answered[dp] - sent[dp]) * 1000 for dp in dps])["p50"],
        # the 201 as the function received it, against the emulator's arrival + its latency: the network and parsing
        "event_latency_201_after_emulator_ms": round(
            statistics.median((answered[dp] - arrived[dp]) * 1000 - latency_ms for dp in dps if dp in arrived), 1
        ),
        "event_latency_facts_per_shipment": round(statistics.mean(facts.get(dp, 0) for dp in dps), 2),
        "event_latency_tracking_records_per_invocation": round(statistics.mean(a["records"] for a in stream.answers), 1),
        "event_latency_sync_records_per_invocation": round(statistics.mean(a["records"] for a in sync_answers), 1),
        "event_latency_sync_invocations_per_shipment": round(
            sum(1 for a in sync_answers if any(dp in measured for dp in _put_deferred_payments(a))) / len(dps), 2
        ),
        "event_latency_sync_containers": len(pollers),
        "event_latency_stream_poll_ms": STREAM_POLL_S * 1000,
    }
    return figures


def _put_deferred_payments(answer: dict) -> set[str]:
    return {dp for *_, note in _calls(answer, "events PutEvents") for _, dp in note or []}
