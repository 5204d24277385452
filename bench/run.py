"""make bench: the figures of docs/performance.md, measured in one run and written to bench/results.json.

Production's shape, on one machine: moto server (AWS) and the Hokodo emulator (a fixed latency per API call) each
run in a process of their own, and so does every function (bench/lambda_child.py, a Lambda execution environment
holding only the function). Each figure is the median of several runs in the same container, with its spread
(`<name>_min`, `<name>_max`). Timings are printed as ratios against their targets, never asserted.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
import time
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "emulator"), str(HERE.parent / "local")]

import cost  # noqa: E402
import httpx  # noqa: E402
import imports  # noqa: E402
import pipeline  # noqa: E402
import scenarios  # noqa: E402
import services  # noqa: E402
from hokodo_emulator.admin import AdminClient  # noqa: E402

LATENCY_MS = 100
RUNS = 5
LATENCY_EVENTS, LATENCY_PER_SECOND = 150, 5.0  # the bundle's own shipments followed to the bus
RECONCILED = 1_000  # deferred payments put on the reconciliation's list for its run
SCENARIOS = ("shipments", "documents", "sync", "webhooks", "reconciliation", "latency")
TARGETS = {  # DESIGN.md, "Throughput"; the event latency: the sync queue's issue
    "batch_distinct_over_rtt": ("<=", 1.25),
    "event_latency_p99_ms": ("<", 5000),
    "import_over_boto3": ("<=", 2.0),
    "hokodo_calls_per_event": ("==", 1.0),
    "dynamodb_requests_per_event": ("<=", 2.1),
    "document_peak_rss_mb": ("<", 60),
}


def main(only: set[str] | None = None) -> None:
    """Every scenario, results.json written and the report printed; with `only` (`--only sync,latency`), just those
    scenarios, printed as JSON and nothing written (to work on one)."""
    started = time.perf_counter()
    results: dict = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "emulator_latency_ms": LATENCY_MS}
    results["runs"] = RUNS
    template = services.template_settings()
    results |= {k: template[k] for k in ("maximum_concurrency", "reconciliation_maximum_concurrency")}
    if only is None:
        results |= imports.cold_imports()  # first, on an idle machine
    with tempfile.TemporaryDirectory() as scratch, services.moto_server() as moto, services.emulator(LATENCY_MS) as emulator:
        logs, base = Path(scratch), emulator.url
        aws = services.Aws(moto.url, base).create()
        admin = AdminClient(base)
        hokodo = httpx.Client(base_url=f"{base}/v1/", headers={"Authorization": f"Token {services.API_KEY}"}, trust_env=False)
        rtt_samples = scenarios.round_trip(hokodo, admin)
        results |= scenarios.spread("rtt_ms", [s * 1000 for s in rtt_samples], 1)
        rtt = results["rtt_ms"] / 1000
        timelines, profile = {}, {}

        def container(function: str) -> closing:
            return closing(services.Container(function, aws.environment(function), logs))

        def wanted(scenario: str) -> bool:
            return only is None or scenario in only

        results |= scenarios.moto_request(aws)
        if wanted("shipments"):
            with container("shipments") as shipments:
                figures, timelines["batch"], profile = scenarios.shipments(
                    aws, admin, shipments, rtt, runs=RUNS, servers=[moto, emulator]
                )
            results |= figures
            with container("tracking") as tracking:
                results |= scenarios.tracking(aws, tracking, results["shipments_applied"])
        if wanted("documents"):
            with container("documents") as documents:
                figures, timelines["document"] = scenarios.documents(aws, admin, documents, rtt, runs=3, emulator=emulator)
            results |= figures
        with container("sync") as sync:
            if wanted("sync"):
                figures, timelines["sync"] = scenarios.sync_batches(aws, admin, hokodo, sync, rtt, runs=RUNS, moto=moto)
                results |= figures
            if wanted("webhooks"):
                with container("webhooks") as webhooks:
                    figures, timelines["webhook"] = scenarios.webhooks(aws, admin, hokodo, webhooks, sync, rtt=rtt, runs=RUNS)
                results |= figures
        if wanted("reconciliation"):
            with container("reconciliation") as reconciliation:
                results |= scenarios.reconciliation(aws, reconciliation, watched=RECONCILED, runs=3)
        results |= scenarios.item_sizes(aws)  # after the syncs: the watermarks are there
        if wanted("latency"):
            results |= event_latency(aws, admin, hokodo, container, template)
    results |= capacity(results)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    if only is not None:
        return print_only(results, timelines)
    results |= cost.model(results)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results, profile, timelines)


def print_only(results: dict, timelines: dict[str, list]) -> None:
    print(json.dumps(results, indent=2))
    for name, timeline in timelines.items():
        print(f"{name}:", *scenarios.timeline_summary(timeline, math.nan), sep="\n")


def event_latency(aws: services.Aws, admin: AdminClient, hokodo: httpx.Client, container: Any, template: dict) -> dict:
    """The bundle's shipments followed to the bus: shipments and tracking in a container each, and as many sync
    containers as the template's MaximumConcurrency allows invocations at once (bench/pipeline.py)."""
    names = ["shipments", "tracking", *["sync"] * template["maximum_concurrency"]]
    with ExitStack() as stack:
        shipments, tracking, *syncs = [stack.enter_context(container(name)) for name in names]
        return pipeline.event_latency(
            aws,
            admin,
            hokodo,
            shipments=shipments,
            tracking=tracking,
            syncs=syncs,
            template=template,
            events=LATENCY_EVENTS,
            per_second=LATENCY_PER_SECOND,
            latency_ms=LATENCY_MS,
        )


def capacity(r: dict) -> dict:
    """Deferred payments a reconciliation round gets through per minute, on its own queue, at the template's
    ReconciliationMaximumConcurrency: that many invocations at once, each a batch of 10 taking the measured time (here,
    one core each), and on Lambda at the sync function's 512 MB (its CPU stretched: cost.lambda_ms)."""
    if "sync_batch_ms" not in r:
        return {}
    per_minute = r["reconciliation_maximum_concurrency"] * scenarios.BATCH * 60_000

    def at_512mb(kind: str) -> float:
        return cost.lambda_ms(r[f"sync{kind}_batch_ms"], r[f"sync{kind}_batch_cpu_ms"], cost.MEMORY_MB)

    return {
        "reconciled_per_minute": round(per_minute / r["sync_unchanged_batch_ms"]),
        "reconciled_per_minute_with_facts": round(per_minute / r["sync_batch_ms"]),
        "reconciled_per_minute_at_512mb": round(per_minute / at_512mb("_unchanged")),
        "reconciled_per_minute_with_facts_at_512mb": round(per_minute / at_512mb("")),
    }


def report(r: dict, profile: dict, timelines: dict[str, list]) -> None:
    print(
        f"{r['cpu_count']} CPUs, Python {r['python']}; one Hokodo round trip {r['rtt_ms']} ms (emulator latency {LATENCY_MS} ms)"
    )
    for name, (op, target) in TARGETS.items():
        value = r[name]
        met = {"<=": value <= target, "<": value < target, "==": value == target}[op]
        extra = f" [{r[name + '_min']} .. {r[name + '_max']}]" if name + "_min" in r else ""
        print(f"  {name:<30} {value:>8}{extra:<18} target {op} {target:<5} {'met' if met else 'NOT MET'}")
    extras = ("batch_same_over_rtt", "webhook_over_rtt", "sync_batch_over_rtt", "sync_unchanged_batch_over_rtt")
    for name in (*extras, "import_over_boto3_without_bytecode", "peak_rss_mb"):
        print(f"  {name:<30} {r[name]:>8} [{r[name + '_min']} .. {r[name + '_max']}]")
    worst, worst_raw = r["import_over_boto3_worst"], r["import_over_boto3_without_bytecode_worst"]
    print(f"  worst cold import: {worst} (compiled), {worst_raw} (without bytecode)")
    print(
        f"Event latency, Hokodo's 201 to PutEvents accepted, {r['event_latency_events']} shipments at {LATENCY_PER_SECOND}/s: "
        f"p50 {r['event_latency_p50_ms']} ms, p99 {r['event_latency_p99_ms']} ms "
        f"({r['event_latency_p99_ms'] / 5000:.2f} of the 5,000 ms target), by hop (p50 / p99 ms):"
    )
    for hop, what in (
        ("completed", "the COMPLETED record written"),
        ("stream", f"the stream polled every {r['event_latency_stream_poll_ms']:.0f} ms: tracking invoked"),
        ("tracking", "tracking's sync request sent"),
        ("sync_queue", "the sync function invoked"),
        ("sync", "Hokodo GET, PutEvents accepted"),
    ):
        print(f"  {what:<55} {r[f'event_latency_{hop}_p50_ms']:>7} / {r[f'event_latency_{hop}_p99_ms']}")
    print(
        f"Reconciliation at ReconciliationMaximumConcurrency {r['reconciliation_maximum_concurrency']}: "
        f"{r['reconciled_per_minute']} deferred payments "
        f"a minute ({r['reconciled_per_minute_at_512mb']} est. on Lambda at 512 MB; "
        f"{r['reconciled_per_minute_with_facts']} when each has a new fact), Hokodo GETs "
        f"{r['reconciled_per_minute'] / 60:.0f}/s; its run enqueues {r['reconciliation_enqueue_per_second']}/s "
        f"({r['reconciliation_watched']} in {r['reconciliation_enqueue_ms']} ms)"
    )
    for name, title, wall in (
        ("batch", "A batch of 10 shipments on 10 deferred payments", r["batch_distinct_ms"]),
        ("document", f"A {r['document_mb']} MB document", r["document_ms"]),
        ("webhook", "A webhook", r["webhook_ms"]),
        ("sync", "A sync batch: 10 deferred payments, a new capture each", r["sync_batch_ms"]),
    ):
        print(f"{title} (the median run, {wall} ms), by call:")
        print("\n".join(scenarios.timeline_summary(timelines[name], wall)))
    top = ", ".join(f"{name} {ms}" for name, ms in list(profile.items())[:12])
    print(f"CPU of a batch of 10 on one deferred payment ({r['profiled_batch_cpu_ms']} ms, profiled), ms by package: {top}")
    print("Cost per million events (USD, eu-west-1 list prices; docs/performance.md):")
    for key in sorted(k for k in r if k.startswith("cost_usd_per_million_")):
        print(f"  {key.removeprefix('cost_usd_per_million_'):<36} {r[key]:>8}")
    print(f"written: bench/results.json ({r['bench_seconds']} s)")


if __name__ == "__main__":
    chosen = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--only=")), None)
    main(set(chosen.split(",")) if chosen else None)
