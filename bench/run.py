"""make bench: the figures of docs/performance.md, measured in one run and written to bench/results.json.

Production's shape, on one machine: moto server (AWS) and the Hokodo emulator (a fixed latency per API call) each
run in a process of their own, and so does every function (bench/lambda_child.py, a Lambda execution environment
holding only the function). Each figure is the median of several runs in the same container, with its spread
(`<name>_min`, `<name>_max`). Timings are printed as ratios against their targets, never asserted.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "emulator"), str(HERE.parent / "local")]

import cost  # noqa: E402
import httpx  # noqa: E402
import imports  # noqa: E402
import scenarios  # noqa: E402
import services  # noqa: E402
from hokodo_emulator.admin import AdminClient  # noqa: E402

LATENCY_MS = 100
RUNS = 5
TARGETS = {  # DESIGN.md, "Throughput"
    "batch_distinct_over_rtt": ("<=", 1.25),
    "import_over_boto3": ("<=", 2.0),
    "hokodo_calls_per_event": ("==", 1.0),
    "dynamodb_requests_per_event": ("<=", 2.1),
    "document_peak_rss_mb": ("<", 60),
}


def main() -> None:
    started = time.perf_counter()
    results: dict = {"cpu_count": os.cpu_count(), "python": platform.python_version(), "emulator_latency_ms": LATENCY_MS}
    results["runs"] = RUNS
    results |= imports.cold_imports()  # first, on an idle machine
    with tempfile.TemporaryDirectory() as scratch, services.moto_server() as moto, services.emulator(LATENCY_MS) as emulator:
        logs, base = Path(scratch), emulator.url
        aws = services.Aws(moto.url, base).create()
        admin = AdminClient(base)
        hokodo = httpx.Client(base_url=f"{base}/v1/", headers={"Authorization": f"Token {services.API_KEY}"}, trust_env=False)
        rtt_samples = scenarios.round_trip(hokodo, admin)
        results |= scenarios.spread("rtt_ms", [s * 1000 for s in rtt_samples], 1)
        rtt = results["rtt_ms"] / 1000

        def container(function: str) -> closing:
            return closing(services.Container(function, aws.environment(function), logs))

        results |= scenarios.moto_request(aws)
        with container("shipments") as shipments:
            figures, timeline, profile = scenarios.shipments(aws, admin, shipments, rtt, runs=RUNS, servers=[moto, emulator])
        results |= figures
        with container("tracking") as tracking:
            results |= scenarios.tracking(aws, tracking, results["shipments_applied"])
        results |= scenarios.item_sizes(aws)
        with container("documents") as documents:
            figures, document_timeline = scenarios.documents(aws, admin, documents, rtt, runs=3, emulator=emulator)
        results |= figures
        with container("webhooks") as webhooks:
            figures, webhook_timeline = scenarios.webhooks(aws, admin, hokodo, webhooks, rtt, runs=RUNS)
        results |= figures
    results |= cost.model(results)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report(results, profile, {"batch": timeline, "document": document_timeline, "webhook": webhook_timeline})


def report(r: dict, profile: dict, timelines: dict[str, list]) -> None:
    print(
        f"{r['cpu_count']} CPUs, Python {r['python']}; one Hokodo round trip {r['rtt_ms']} ms (emulator latency {LATENCY_MS} ms)"
    )
    for name, (op, target) in TARGETS.items():
        value = r[name]
        met = {"<=": value <= target, "<": value < target, "==": value == target}[op]
        extra = f" [{r[name + '_min']} .. {r[name + '_max']}]" if name + "_min" in r else ""
        print(f"  {name:<30} {value:>8}{extra:<18} target {op} {target:<5} {'met' if met else 'NOT MET'}")
    for name in ("batch_same_over_rtt", "webhook_over_rtt", "import_over_boto3_without_bytecode", "peak_rss_mb"):
        print(f"  {name:<30} {r[name]:>8} [{r[name + '_min']} .. {r[name + '_max']}]")
    worst, worst_raw = r["import_over_boto3_worst"], r["import_over_boto3_without_bytecode_worst"]
    print(f"  worst cold import: {worst} (compiled), {worst_raw} (without bytecode)")
    for name, title, wall in (
        ("batch", "A batch of 10 shipments on 10 deferred payments", r["batch_distinct_ms"]),
        ("document", f"A {r['document_mb']} MB document", r["document_ms"]),
        ("webhook", "A webhook", r["webhook_ms"]),
    ):
        print(f"{title} (the median run, {wall} ms), by call:")
        print("\n".join(scenarios.timeline_summary(timelines[name], wall)))
    top = ", ".join(f"{name} {ms}" for name, ms in list(profile.items())[:12])
    print(f"CPU of a batch of 10 on one deferred payment ({r['profiled_batch_cpu_ms']} ms, profiled), ms by package: {top}")
    print("Cost per million events (USD, eu-west-1 list prices; docs/performance.md):")
    for key in sorted(k for k in r if k.startswith("cost_usd_per_million_")):
        print(f"  {key.removeprefix('cost_usd_per_million_'):<24} {r[key]:>8}")
    print(f"written: bench/results.json ({r['bench_seconds']} s)")


if __name__ == "__main__":
    main()
