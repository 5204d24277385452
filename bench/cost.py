"""A cost model per million events, from the measured figures and public list prices (eu-west-1, first tier).

    python bench/cost.py   # the line items of bench/results.json, as the markdown tables of docs/performance.md

Lambda's duration at a memory size is estimated from what one invocation measured locally: its wall time and its
CPU time. Lambda gives a function CPU in proportion to its memory (1,769 MB = one vCPU), so below that the CPU part
stretches by 1769/memory; assumed not to overlap with the waits (an upper bound), on a vCPU as fast as this one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PRICES = {  # USD, eu-west-1 list prices (first tier), checked against aws.amazon.com/pricing: assumptions, not quotes
    "lambda_gb_second": 0.0000133334,  # arm64 (template: Architectures [arm64])
    "lambda_request": 0.20 / 1e6,
    "sqs_request": 0.40 / 1e6,  # standard queue, per 64 KB chunk
    "dynamodb_wru": 0.7068 / 1e6,  # on-demand, Standard table class (after the November 2024 price cut)
    "dynamodb_rru": 0.1415 / 1e6,
    "eventbridge_event": 1.00 / 1e6,  # custom events put on a bus, per 64 KB chunk
    "apigw_http_request": 1.11 / 1e6,  # HTTP API, first 300 million a month
    "s3_put_class": 0.005 / 1000,  # PUT, COPY, POST, LIST (PutObjectTagging is one)
    "s3_get_class": 0.0004 / 1000,  # GET and the rest (GetObject, GetObjectTagging)
    "logs_ingested_gb": 0.57,  # CloudWatch Logs, standard class
    "data_out_gb": 0.09,  # to the Internet (Hokodo), first 10 TB a month
}
ONE_VCPU_MB = 1769
MEMORY_MB = 512  # template.yaml's Globals: documents, webhooks, reconciliation, tracking, sync
QUEUE_MEMORY_MB = 1769  # template.yaml: shipments, returns and cancellations (one vCPU; docs/performance.md)
LAMBDA_REPORT_BYTES = 300  # START, END and REPORT lines Lambda writes per invocation


def lambda_ms(wall_ms: float, cpu_ms: float, memory_mb: int = MEMORY_MB) -> float:
    """Estimated duration on Lambda at `memory_mb` of an invocation that took `wall_ms` with `cpu_ms` of CPU here."""
    return wall_ms + cpu_ms * max(0.0, ONE_VCPU_MB / memory_mb - 1)


def _lambda(ms: float, invocations: float, memory_mb: int = MEMORY_MB) -> list[tuple[str, float, str]]:
    return [
        ("Lambda duration (GB-s)", ms / 1000 * memory_mb / 1024 * invocations, "lambda_gb_second"),
        ("Lambda requests", invocations, "lambda_request"),
    ]


def line_items(r: dict, queue_memory_mb: int = QUEUE_MEMORY_MB) -> dict[str, list[tuple[str, float, str]]]:
    """Per event of each kind: (what, quantity, price key). The queue functions at `queue_memory_mb`, the others at
    the template's 512 MB. The sync function is counted where its work comes from: a shipment's fact (its sync request
    from ledger tracking, in batches of 10 like the shipments), a notification (one sync of its own), and the
    reconciliation's sync of a deferred payment with nothing new."""
    batch, memory_mb = 10, MEMORY_MB
    shipment_ms = lambda_ms(r["batch_distinct_ms"], r["batch_distinct_cpu_ms"], queue_memory_mb)
    log_bytes = r["batch_log_bytes_per_event"] + LAMBDA_REPORT_BYTES / batch
    tracking_events = r["shipments_applied"]  # every shipment the bench applied went through ledger tracking
    tracking_ms = (
        lambda_ms(r["tracking_ms_per_event"], r["tracking_cpu_ms_per_event"], memory_mb)
        * tracking_events
        / r["tracking_invocations"]
    )
    document_ms = lambda_ms(r["document_ms"], r["document_cpu_ms"], memory_mb)
    webhook_ms = lambda_ms(r["webhook_ms"], r["webhook_cpu_ms"], memory_mb)
    sync_ms = lambda_ms(r["sync_batch_ms"], r["sync_batch_cpu_ms"], memory_mb)
    notification_sync_ms = lambda_ms(r["notification_sync_ms"], r["notification_sync_cpu_ms"], memory_mb)
    unchanged_ms = lambda_ms(r["sync_unchanged_batch_ms"], r["sync_unchanged_batch_cpu_ms"], memory_mb)
    watched = r["reconciliation_watched"]
    reconciliation_ms = lambda_ms(r["reconciliation_enqueue_ms"], r["reconciliation_cpu_ms"], memory_mb)
    facts = r["event_latency_facts_per_shipment"]
    return {
        "shipment": [
            *_lambda(shipment_ms, 1 / batch, queue_memory_mb),
            ("SQS requests (send; receive and delete per batch of 10)", 1 + 2 / batch, "sqs_request"),
            ("DynamoDB WRU (Powertools' record: put, complete)", 2, "dynamodb_wru"),
            ("DynamoDB RRU (the batch's consistent BatchGetItem, per item)", 1, "dynamodb_rru"),
            ("DynamoDB WRU (ledger tracking's update of the sync item, and its index entry)", 2, "dynamodb_wru"),
            *[
                (f"ledger tracking: {name}", q, p)
                for name, q, p in _lambda(tracking_ms, r["tracking_invocations"] / tracking_events)
            ],
            ("CloudWatch Logs (GB)", log_bytes / 1e9, "logs_ingested_gb"),
            (
                "sync queue: SQS requests (tracking's send, 10 a call; receive and delete per batch of 10)",
                3 / batch,
                "sqs_request",
            ),
            *[(f"sync: {name}", q, p) for name, q, p in _lambda(sync_ms, 1 / batch)],
            ("sync: DynamoDB RRU (the watermark, consistent)", 1, "dynamodb_rru"),
            ("sync: DynamoDB WRU (lease, release; the index's sort key moves: 2 more)", 4, "dynamodb_wru"),
            (f"sync: EventBridge events ({facts} fact per shipment)", facts, "eventbridge_event"),
            (
                "sync: CloudWatch Logs (GB)",
                (r["sync_log_bytes_per_sync"] + LAMBDA_REPORT_BYTES / batch) / 1e9,
                "logs_ingested_gb",
            ),
        ],
        "document": [
            *_lambda(document_ms, 1, memory_mb),
            ("SQS requests (S3's send; receive and delete)", 3, "sqs_request"),
            (
                "S3 PUT-class (the ERP's PutObject; the function's PutObjectTagging)",
                1 + r["document_s3_put_class"],
                "s3_put_class",
            ),
            ("S3 GET-class (GetObject, GetObjectTagging)", r["document_s3_get_class"], "s3_get_class"),
            ("DynamoDB WRU (Powertools' record; the upload's checkpoint)", r["document_dynamodb_requests"] - 1, "dynamodb_wru"),
            ("DynamoDB RRU (BatchGetItem)", 1, "dynamodb_rru"),
            ("Data transfer out to Hokodo (GB)", r["document_mb"] / 1000, "data_out_gb"),
            ("CloudWatch Logs (GB)", (r["document_log_bytes"] + LAMBDA_REPORT_BYTES) / 1e9, "logs_ingested_gb"),
        ],
        "webhook": [
            ("API Gateway HTTP API requests", 1, "apigw_http_request"),
            *_lambda(webhook_ms, 1, memory_mb),
            ("DynamoDB WRU (watched: the sync item, and its index entry when it enters the list)", 2, "dynamodb_wru"),
            ("SQS requests (the webhook's send; the sync's receive and delete)", 3, "sqs_request"),
            ("CloudWatch Logs (GB)", (r["webhook_log_bytes"] + LAMBDA_REPORT_BYTES) / 1e9, "logs_ingested_gb"),
            *[(f"sync: {name}", q, p) for name, q, p in _lambda(notification_sync_ms, 1)],
            ("sync: DynamoDB RRU (the watermark, consistent)", 1, "dynamodb_rru"),
            ("sync: DynamoDB WRU (lease, release; the index's sort key moves: 2 more)", 4, "dynamodb_wru"),
            (
                "sync: CloudWatch Logs (GB)",
                (r["notification_sync_log_bytes"] + LAMBDA_REPORT_BYTES) / 1e9,
                "logs_ingested_gb",
            ),
            (
                f"sync: EventBridge events ({r['webhook_facts_published']} facts)",
                r["webhook_facts_published"],
                "eventbridge_event",
            ),
        ],
        "reconciled_deferred_payment": [
            *[(f"reconciliation: {name}", q, p) for name, q, p in _lambda(reconciliation_ms / watched, 1 / watched)],
            ("reconciliation: DynamoDB RRU (its Query of the keys-only index, ~160 bytes an entry)", 0.02, "dynamodb_rru"),
            ("SQS requests (send, receive, delete: 10 a call)", 3 / batch, "sqs_request"),
            *[(f"sync: {name}", q, p) for name, q, p in _lambda(unchanged_ms, 1 / batch)],
            ("sync: DynamoDB RRU (the watermark, consistent; nothing written when nothing is new)", 1, "dynamodb_rru"),
            (
                "sync: CloudWatch Logs (GB)",
                (r["sync_unchanged_log_bytes_per_sync"] + LAMBDA_REPORT_BYTES / batch) / 1e9,
                "logs_ingested_gb",
            ),
        ],
    }


def model(r: dict) -> dict:
    """Flat figures for results.json: USD per million events of each kind at the template's memory sizes, and the
    shipments' duration and cost at other memory sizes (the memory argument of docs/performance.md)."""
    figures = {f"cost_usd_per_million_{kind}s": _total(items) for kind, items in line_items(r).items()}
    figures["cost_usd_per_month_hourly_reconciliation_of_10000"] = round(
        figures["cost_usd_per_million_reconciled_deferred_payments"] * 10_000 * 24 * 30 / 1e6, 2
    )
    for memory in (256, 512, 1024, ONE_VCPU_MB):
        figures[f"batch_distinct_ms_at_{memory}mb"] = round(lambda_ms(r["batch_distinct_ms"], r["batch_distinct_cpu_ms"], memory))
        figures[f"cost_usd_per_million_shipments_at_{memory}mb"] = _total(line_items(r, memory)["shipment"])
    return figures


def _total(items: list[tuple[str, float, str]]) -> float:
    return round(sum(q * PRICES[p] for _, q, p in items) * 1e6, 2)


def _memory_note(kind: str) -> str:
    if kind == "shipment":
        return f"the shipments function at {QUEUE_MEMORY_MB} MB, tracking and sync at {MEMORY_MB} MB"
    return f"at {MEMORY_MB} MB"


def markdown(r: dict) -> str:
    out = []
    for kind, items in line_items(r).items():
        out += [
            f"\n**Per million {kind.replace('_', ' ')}s** ({_memory_note(kind)})\n",
            "| item | per event | USD per million |",
            "| --- | ---: | ---: |",
        ]
        out += [f"| {name} | {q:.4g} | {q * PRICES[p] * 1e6:.2f} |" for name, q, p in items]
        out.append(f"| **total** | | **{_total(items):.2f}** |")
    return "\n".join(out)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results.json"
    print(markdown(json.loads(path.read_text())))
