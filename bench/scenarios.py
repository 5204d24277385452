"""The measured scenarios. Each sends real messages (SQS, S3, API Gateway's event) to a function in its own process
and returns flat figures: a median over several runs in the same container, with its spread (`_min`, `_max`)."""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from typing import Any

from hokodo_local.http_api import Incoming, Route, http_api_event
from hokodo_local.sqs_event_source import SqsEventSource
from hokodo_local.stream_event_source import DynamoDBStreamEventSource
from services import REGION, Aws, Container, Server

BATCH = 10
_S3_PUT_CLASS = {"s3 PutObject", "s3 PutObjectTagging", "s3 CopyObject", "s3 ListObjectsV2", "s3 ListObjectVersions"}
_S3_GET_CLASS = {"s3 GetObject", "s3 GetObjectTagging"}  # HeadObject too, but only because moto's notifications lack versionId


def spread(name: str, values: list[float], digits: int = 2) -> dict[str, float]:
    return {
        name: round(statistics.median(values), digits),
        f"{name}_min": round(min(values), digits),
        f"{name}_max": round(max(values), digits),
    }


def median(values: list[float], digits: int = 1) -> float:
    return round(statistics.median(values), digits)


def round_trip(hokodo: Any, admin: Any, runs: int = 9) -> list[float]:
    """One Hokodo round trip: a GET of a deferred payment through a warm (keep-alive) client."""
    path = f"payment/deferred_payments/{admin.create_deferred_payment(1_000)['id']}"
    hokodo.get(path).raise_for_status()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        hokodo.get(path).raise_for_status()
        samples.append(time.perf_counter() - started)
    return samples


class Queue:
    """A function's queue, and what Lambda's event source mapping does with it: receive a batch, build the event,
    invoke the function, delete what succeeded."""

    def __init__(self, aws: Aws, function: str, container: Container, servers: tuple[Server, ...] = ()):
        url, arn = aws.queues[function]
        self.sqs, self.url, self.container, self.servers = aws.sqs, url, container, servers
        self.source = SqsEventSource(aws.sqs, url, arn, handler=None, batch_size=BATCH, region=REGION)

    def send(self, bodies: list[dict]) -> None:
        entries = [{"Id": str(i), "MessageBody": json.dumps(b)} for i, b in enumerate(bodies)]
        self.sqs.send_message_batch(QueueUrl=self.url, Entries=entries)

    def deliver(self, count: int, admin: Any, profile: bool = False) -> dict:
        received: list[dict] = []
        while len(received) < count:
            for message in self.source.receive(wait_seconds=1):
                if "s3:TestEvent" in message["Body"]:  # S3's, when the notification was configured
                    self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
                else:
                    received.append(message)
        admin.clear_requests()
        event, cpu = self.source.event(received), [s.cpu_ms() for s in self.servers]
        answer = self.container.invoke(event, profile)
        answer["servers_cpu_ms"] = [after.cpu_ms() - before for after, before in zip(self.servers, cpu, strict=True)]
        if answer["response"] != {"batchItemFailures": []}:
            raise RuntimeError(f"{self.container.function}: {answer['response']}; its log ends:\n{self.container.tail()}")
        answer["hokodo_calls"] = len(admin.requests())
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
        self.sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
        return answer


def shipments(aws: Aws, admin: Any, container: Container, rtt: float, *, runs: int, servers: list[Server]) -> tuple:
    """Batches of 10 shipments: on 10 deferred payments (run concurrently), and on one (run in order). Returns the
    figures, the timeline of the median batch on 10, and a CPU profile by package of a batch on one (its records
    run on the handler's own thread, which cProfile sees). `servers`: moto and the emulator, whose CPU is counted."""
    queue = Queue(aws, "shipments", container, tuple(servers))

    def batch(deferred_payments: list[str], profile: bool = False) -> dict:
        queue.send([{"event_id": uuid.uuid4().hex, "deferred_payment_id": dp, "amount": 1_000} for dp in deferred_payments])
        return queue.deliver(len(deferred_payments), admin, profile)

    def fresh(n: int) -> list[str]:
        return [admin.create_deferred_payment(100_000)["id"] for _ in range(n)]

    batch(fresh(BATCH))  # a warm container: secret cached, connections pooled, as on a busy queue
    distinct = [batch(fresh(BATCH)) for _ in range(runs)]
    same = [batch(fresh(1) * BATCH) for _ in range(runs)]
    figures = {
        **spread("batch_distinct_over_rtt", [a["wall_s"] / rtt for a in distinct]),
        **spread("batch_same_over_rtt", [a["wall_s"] / rtt for a in same]),
        **spread("hokodo_calls_per_event", [a["hokodo_calls"] / BATCH for a in distinct + same]),
        **spread("dynamodb_requests_per_event", [a["dynamodb_requests"] / BATCH for a in distinct + same]),
        **spread("peak_rss_mb", [a["peak_mb"] for a in distinct], 1),
        "batch_distinct_ms": median([a["wall_s"] * 1000 for a in distinct]),
        "batch_distinct_cpu_ms": median([a["cpu_s"] * 1000 for a in distinct]),
        "batch_distinct_moto_cpu_ms": round(sum(a["servers_cpu_ms"][0] for a in distinct) / len(distinct), 1),
        "batch_distinct_emulator_cpu_ms": round(sum(a["servers_cpu_ms"][1] for a in distinct) / len(distinct), 1),
        "batch_same_ms": median([a["wall_s"] * 1000 for a in same]),
        "batch_same_cpu_ms": median([a["cpu_s"] * 1000 for a in same]),
        "batch_log_bytes_per_event": median([a["log_bytes"] / BATCH for a in distinct], 0),
        "shipments_init_ms": round(container.ready["init_s"] * 1000, 1),
        "shipments_init_cpu_ms": round(container.ready["init_cpu_s"] * 1000, 1),
    }
    median_run = sorted(distinct, key=lambda a: a["wall_s"])[len(distinct) // 2]
    profiled = batch(fresh(1) * BATCH, profile=True)
    figures["profiled_batch_cpu_ms"] = round(profiled["cpu_s"] * 1000, 1)
    figures["shipments_applied"] = BATCH * (2 + len(distinct) + len(same))  # with the warm-up and the profiled batch
    return figures, median_run["timeline"], profiled["profile"]


def moto_request(aws: Aws, runs: int = 20) -> dict:
    """One DynamoDB request to moto server, alone (PutItem then GetItem of a small item, through a warm client)."""
    samples = []
    for i in range(runs + 1):
        started = time.perf_counter()
        aws.dynamodb.put_item(TableName="idempotency", Item={"id": {"S": f"bench-probe-{i}"}, "n": {"N": "1"}})
        aws.dynamodb.get_item(TableName="idempotency", Key={"id": {"S": f"bench-probe-{i}"}}, ConsistentRead=True)
        samples.append((time.perf_counter() - started) / 2 * 1000)
        aws.dynamodb.delete_item(TableName="idempotency", Key={"id": {"S": f"bench-probe-{i}"}})
    return spread("moto_request_ms", samples[1:], 1)


def item_sizes(aws: Aws) -> dict:
    """The largest item of each kind in the table, in bytes as DynamoDB sizes them (a write unit covers 1 KB)."""
    largest: dict[str, int] = {}
    for page in aws.dynamodb.get_paginator("scan").paginate(TableName="idempotency"):
        for item in page["Items"]:
            key = item["id"]["S"]
            kind = "sync" if ".sync#" in key else "state" if ".state#" in key else "record"
            largest[kind] = max(largest.get(kind, 0), sum(len(name) + _size(value) for name, value in item.items()))
    return {f"{kind}_item_bytes_max": size for kind, size in sorted(largest.items())}


def _size(value: dict) -> int:
    ((kind, v),) = value.items()
    if kind in ("S", "B"):
        return len(v.encode() if isinstance(v, str) else v)
    if kind == "N":
        return len(v.lstrip("-").replace(".", "")) // 2 + 2
    if kind in ("SS", "NS", "BS"):
        return sum(_size({kind[0]: e}) for e in v)
    if kind in ("M", "L"):
        children = v.items() if kind == "M" else [("", e) for e in v]
        return 3 + sum(len(n) + _size(e) + 1 for n, e in children)
    return 1


def documents(aws: Aws, admin: Any, container: Container, rtt: float, *, runs: int, emulator: Server) -> tuple[dict, list]:
    """A 20 MB PDF dropped in the bucket: its notification through the documents queue, uploaded to Hokodo and
    verified. Returns the figures and the timeline of the median run."""
    queue, size = Queue(aws, "documents", container, (emulator,)), 20_000_000
    big = b"%PDF-1.7\n" + os.urandom(size) + b"\n%%EOF\n"

    def drop(body: bytes) -> dict:
        order = admin.create_deferred_payment(100_000)["order"]
        aws.s3.put_object(Bucket="documents", Key=f"shipping/{order}/pod-{uuid.uuid4().hex[:6]}.pdf", Body=body)
        return queue.deliver(1, admin)

    drop(b"%PDF-1.7\n" + os.urandom(4_000) + b"\n%%EOF\n")  # warm: a small document first
    answers = [drop(big) for _ in range(runs)]
    timeline = sorted(answers, key=lambda a: a["wall_s"])[len(answers) // 2]["timeline"]
    return {
        **spread("document_peak_rss_mb", [a["peak_mb"] - a["rss_before_mb"] for a in answers], 1),
        "document_peak_rss_mb_absolute": median([a["peak_mb"] for a in answers]),
        "document_rss_before_mb": median([a["rss_before_mb"] for a in answers]),
        "document_mb": round(len(big) / 1e6, 1),
        "document_ms": median([a["wall_s"] * 1000 for a in answers]),
        "document_cpu_ms": median([a["cpu_s"] * 1000 for a in answers]),
        "document_emulator_cpu_ms": median([a["servers_cpu_ms"][0] for a in answers], 0),
        "document_over_rtt": round(statistics.median(a["wall_s"] for a in answers) / rtt, 2),
        "document_hokodo_calls": median([a["hokodo_calls"] for a in answers]),
        "document_http_requests": median([a["http_requests"] for a in answers]),
        "document_dynamodb_requests": median([a["dynamodb_requests"] for a in answers]),
        "document_s3_put_class": median([sum(t[0] in _S3_PUT_CLASS for t in a["timeline"]) for a in answers]),
        "document_s3_get_class": median([sum(t[0] in _S3_GET_CLASS for t in a["timeline"]) for a in answers]),
        "document_s3_head_requests": median([sum(t[0] == "s3 HeadObject" for t in a["timeline"]) for a in answers]),
        "document_log_bytes": median([a["log_bytes"] for a in answers], 0),
    }, timeline


def webhooks(
    aws: Aws, admin: Any, hokodo: Any, container: Container, sync: Container, *, rtt: float, runs: int
) -> tuple[dict, list]:
    """A notification for a deferred payment with a few events (two captures and a refund), as API Gateway's HTTP
    API delivers it, until the webhook answers (it watches the deferred payment and puts it on the sync queue: no
    Hokodo call); then that sync request delivered to the sync function, until its facts are accepted by PutEvents.
    Returns the figures and the median webhook's timeline."""
    route = Route("POST", "/webhooks/hokodo/{secret}", handler=None, context=None)
    queue = Queue(aws, "sync", sync)
    _drain(aws, "published")  # what earlier scenarios published

    def notify() -> tuple[dict, dict]:
        dp = admin.create_deferred_payment(100_000)["id"]
        for action, amount in (("capture", 30_000), ("capture", 20_000), ("refund", 5_000)):
            hokodo.post(f"payment/deferred_payments/{dp}/{action}", json={"amount": amount}).raise_for_status()
        state = admin.get_deferred_payment(dp)
        body = json.dumps(
            {
                "created": state["created"],
                "data": {"order": {"id": state["order"], "status": state["status"], "deferred_payment": state}},
            }
        )
        headers = {
            "content-type": "application/json",
            "host": "api.example",
            "user-agent": "Hokodo",
            "content-length": str(len(body)),
        }
        path = f"/webhooks/hokodo/{aws.url_secret}"
        event = http_api_event(route, Incoming("POST", path, "", headers, body.encode(), {"secret": aws.url_secret}))
        admin.clear_requests()
        answer = container.invoke(event)
        if answer["response"].get("statusCode") != 202:
            raise RuntimeError(f"webhooks: {answer['response']}; its log ends:\n{container.tail()}")
        answer["hokodo_calls"] = len(admin.requests())
        return answer, queue.deliver(1, admin)

    notify()  # warm: both secrets cached, pooled connections
    answers, syncs = zip(*(notify() for _ in range(runs)), strict=True)
    timeline = sorted(answers, key=lambda a: a["wall_s"])[len(answers) // 2]["timeline"]
    return {
        **spread("webhook_over_rtt", [a["wall_s"] / rtt for a in answers]),
        "webhook_ms": median([a["wall_s"] * 1000 for a in answers]),
        "webhook_cpu_ms": median([a["cpu_s"] * 1000 for a in answers]),
        "webhook_hokodo_calls": median([a["hokodo_calls"] for a in answers]),
        "webhook_dynamodb_requests": median([a["dynamodb_requests"] for a in answers]),
        "webhook_sqs_requests": median([sum(t[0].startswith("sqs ") for t in a["timeline"]) for a in answers]),
        "webhook_log_bytes": median([a["log_bytes"] for a in answers], 0),
        "notification_sync_ms": median([a["wall_s"] * 1000 for a in syncs]),
        "notification_sync_cpu_ms": median([a["cpu_s"] * 1000 for a in syncs]),
        "notification_sync_hokodo_calls": median([a["hokodo_calls"] for a in syncs]),
        "notification_sync_dynamodb_requests": median([a["dynamodb_requests"] for a in syncs]),
        "notification_sync_log_bytes": median([a["log_bytes"] for a in syncs], 0),
        "webhook_facts_published": median([_facts(a) for a in syncs]),
        "webhook_events_delivered": _drain(aws, "published"),
    }, timeline


def sync_batches(
    aws: Aws, admin: Any, hokodo: Any, container: Container, rtt: float, *, runs: int, moto: Server
) -> tuple[dict, list]:
    """The sync function on a batch of 10 requests for 10 deferred payments, each with a capture not yet published
    (the path of a notification or of the bundle's own action: GetItem, GET, lease, PutEvents, release); then the same
    10 again as the reconciliation asks (nothing new: GetItem and GET). First, what ledger tracking queued in earlier
    scenarios is synced (which warms the container). Returns the figures and the median batch's timeline (with facts)."""
    queue = Queue(aws, "sync", container, (moto,))
    while waiting := _visible(aws, "sync"):
        queue.deliver(min(waiting, BATCH), admin)

    def batch(reason: str, dps: list[str]) -> dict:
        queue.send([{"deferred_payment_id": dp, "reason": reason} for dp in dps])
        return queue.deliver(len(dps), admin)

    def captured() -> list[str]:
        dps = [admin.create_deferred_payment(100_000)["id"] for _ in range(BATCH)]
        for dp in dps:
            hokodo.post(f"payment/deferred_payments/{dp}/capture", json={"amount": 30_000}).raise_for_status()
        return dps

    batch("notification", captured())  # warm: every client made, connections pooled
    new, unchanged = [], []
    for _ in range(runs):
        dps = captured()
        new.append(batch("notification", dps))
        unchanged.append(batch("reconciliation", dps))
    timeline = sorted(new, key=lambda a: a["wall_s"])[len(new) // 2]["timeline"]
    return {
        **spread("sync_batch_over_rtt", [a["wall_s"] / rtt for a in new]),
        **spread("sync_unchanged_batch_over_rtt", [a["wall_s"] / rtt for a in unchanged]),
        "sync_batch_ms": median([a["wall_s"] * 1000 for a in new]),
        "sync_batch_cpu_ms": median([a["cpu_s"] * 1000 for a in new]),
        "sync_batch_moto_cpu_ms": median([a["servers_cpu_ms"][0] for a in new]),
        "sync_unchanged_batch_moto_cpu_ms": median([a["servers_cpu_ms"][0] for a in unchanged]),
        "sync_unchanged_batch_ms": median([a["wall_s"] * 1000 for a in unchanged]),
        "sync_unchanged_batch_cpu_ms": median([a["cpu_s"] * 1000 for a in unchanged]),
        "sync_hokodo_calls": median([a["hokodo_calls"] / BATCH for a in new + unchanged], 2),
        "sync_dynamodb_requests": median([a["dynamodb_requests"] / BATCH for a in new], 2),
        "sync_unchanged_dynamodb_requests": median([a["dynamodb_requests"] / BATCH for a in unchanged], 2),
        "sync_facts_per_sync": median([_facts(a) / BATCH for a in new], 2),
        "sync_put_events_per_batch": median([sum(t[0] == "events PutEvents" for t in a["timeline"]) for a in new]),
        "sync_log_bytes_per_sync": median([a["log_bytes"] / BATCH for a in new], 0),
        "sync_unchanged_log_bytes_per_sync": median([a["log_bytes"] / BATCH for a in unchanged], 0),
        "sync_peak_rss_mb": median([a["peak_mb"] for a in new]),
    }, timeline


def reconciliation(aws: Aws, container: Container, *, watched: int, runs: int) -> dict:
    """The reconciliation's run with `watched` more deferred payments on its list (sync items put straight into the
    table): its Query of the index and its SendMessageBatch calls (8 at once). The sync queue is emptied after each run."""
    for start in range(0, watched, 25):
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "id": {"S": f"hokodo-postsale.sync#defpay-bench{i:06d}"},
                        "open": {"S": "1"},
                        "synced_at": {"N": "0"},
                    }
                }
            }
            for i in range(start, min(start + 25, watched))
        ]
        aws.dynamodb.batch_write_item(RequestItems={"idempotency": items})
    answers = []
    for _ in range(runs):
        answers.append(container.invoke({"source": "hokodo-postsale.reconciliation"}))
        _drain(aws, "sync")
    queued = answers[0]["response"]["queued"]

    def span(answer: dict, what: str) -> float:
        spans = [(s, e) for w, s, e, *_ in answer["timeline"] if w == what]
        return max(e for _, e in spans) - min(s for s, _ in spans)

    return {
        "reconciliation_watched": queued,
        **spread("reconciliation_enqueue_ms", [a["wall_s"] * 1000 for a in answers], 1),
        "reconciliation_enqueue_per_second": round(queued / statistics.median(a["wall_s"] for a in answers)),
        "reconciliation_cpu_ms": median([a["cpu_s"] * 1000 for a in answers]),
        "reconciliation_query_ms": median([span(a, "dynamodb Query") for a in answers]),
        "reconciliation_send_ms": median([span(a, "sqs SendMessageBatch") for a in answers]),
        "reconciliation_sqs_requests": median([sum(t[0] == "sqs SendMessageBatch" for t in a["timeline"]) for a in answers]),
        "reconciliation_dynamodb_requests": median([a["dynamodb_requests"] for a in answers]),
    }


def _facts(answer: dict) -> int:
    """Facts an invocation put on the bus (the entries of its PutEvents calls)."""
    return sum(len(note or []) for what, _, _, _, note in answer["timeline"] if what == "events PutEvents")


def _visible(aws: Aws, queue: str) -> int:
    attributes = aws.sqs.get_queue_attributes(QueueUrl=aws.queues[queue][0], AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def tracking(aws: Aws, container: Container, applied_events: int) -> dict:
    """Ledger tracking fed by the table's stream, filtered as template.yaml's FilterCriteria says, until the stream
    has nothing left (its own writes to the sync items come back through the stream, and pass the filter)."""
    streams = aws.client("dynamodbstreams")
    arn = aws.dynamodb.describe_table(TableName="idempotency")["Table"]["LatestStreamArn"]
    answers: list[dict] = []
    delivered = [0]

    def handler(event: dict, _: Any) -> dict:
        records = [r for r in event["Records"] if _passes_filter(r)]
        if not records:
            return {"batchItemFailures": []}
        delivered[0] += len(records)
        answers.append(container.invoke({"Records": records}))
        return answers[-1]["response"]

    source = DynamoDBStreamEventSource(streams, arn, handler)
    while source.drain(lambda: None):
        pass
    return {
        "tracking_records_per_event": round(delivered[0] / applied_events, 2),
        "tracking_invocations": len(answers),
        "tracking_sqs_requests_per_invocation": round(
            sum(sum(t[0] == "sqs SendMessageBatch" for t in a["timeline"]) for a in answers) / len(answers), 2
        ),
        "tracking_dynamodb_requests_per_event": round(sum(a["dynamodb_requests"] for a in answers) / applied_events, 2),
        "tracking_ms_per_event": round(sum(a["wall_s"] for a in answers) * 1000 / applied_events, 2),
        "tracking_cpu_ms_per_event": round(sum(a["cpu_s"] for a in answers) * 1000 / applied_events, 2),
    }


def _passes_filter(record: dict) -> bool:
    """template.yaml's FilterCriteria: INSERT or MODIFY, with a NewImage whose id starts with `hokodo-postsale.`."""
    new_id = record.get("dynamodb", {}).get("NewImage", {}).get("id", {}).get("S", "")
    return record.get("eventName") in ("INSERT", "MODIFY") and new_id.startswith("hokodo-postsale.")


def _drain(aws: Aws, queue: str) -> int:
    url, count = aws.queues[queue][0], 0
    while messages := aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        count += len(messages)
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        aws.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    return count


def timeline_summary(timeline: list, wall_ms: float) -> list[str]:
    """What a batch waited on, by call: how many, when the first started and the last ended, and each call's median."""
    calls: dict[str, list] = {}
    for what, start, end, *_ in timeline:
        calls.setdefault(what, []).append((start, end))
    lines = []
    for what, spans in sorted(calls.items(), key=lambda kv: min(s for s, _ in kv[1])):
        each = statistics.median(e - s for s, e in spans)
        first, last = min(s for s, _ in spans), max(e for _, e in spans)
        lines.append(f"  {first:7.1f} -> {last:7.1f} ms  {len(spans):2d} x {what:<42} median {each:6.1f} ms each")
    records: dict[str, list] = {}
    for _, start, end, thread, *_ in timeline:
        if thread != "main":
            records.setdefault(thread, []).append((start, end))
    spans = sorted((min(s for s, _ in r), max(e for _, e in r)) for r in records.values())
    if spans:
        lengths = [e - s for s, e in spans]
        lines.append(
            f"  each record (worker thread, first call to last): {statistics.median(lengths):.1f} ms median, "
            f"{max(lengths):.1f} ms at most; the last record's first call started at {spans[-1][0]:.1f} ms"
        )
    lines.append(f"  {wall_ms:7.1f} ms: the handler returned")
    return lines
