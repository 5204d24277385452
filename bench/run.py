"""Measurements, printed as ratios taken in one run (never pass/fail timings).

1. batch / round trip: a batch of 10 shipments on 10 deferred payments, over the time of one Hokodo
   round trip, with the emulator adding a fixed latency (target in DESIGN.md: at most 1.5).
2. requests per event: Hokodo calls and DynamoDB requests per applied shipment (targets: 1 and 2).
3. cold import: each handler's import in a fresh interpreter over a bare `import boto3` (target: 2x).
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers/postsale"), str(ROOT / "emulator"), str(ROOT / "local"), str(ROOT / "tests")]

LATENCY_MS = 150


def main() -> None:
    batch_ratio()
    cold_imports()


def batch_ratio() -> None:
    import boto3
    import conftest
    import httpx
    import pytest
    from hokodo_emulator import Emulator
    from hokodo_emulator.admin import AdminClient

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    monkeypatch = pytest.MonkeyPatch()
    with Emulator(api_key=conftest.API_KEY, webhook_attempts=1) as emu, _moto_server() as endpoint:
        admin = AdminClient(emu.base_url)
        httpx.post(f"{endpoint}/moto-api/reset")
        for k, v in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_DEFAULT_REGION": conftest.REGION,
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "POWERTOOLS_METRICS_NAMESPACE": "Bench",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_SERVICE_NAME": "bench",
        }.items():
            monkeypatch.setenv(k, v)
        secret = f"bench-{uuid.uuid4().hex[:6]}"
        boto3.client("dynamodb").create_table(
            TableName="idempotency",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        boto3.client("secretsmanager").create_secret(Name=secret, SecretString=conftest.API_KEY)
        dynamodb_calls = _count_dynamodb_requests()
        bundle = conftest.Bundle(
            "shipments", monkeypatch, emu, secret_name=secret, policy="partial_leave_open", max_receive_count=3, env={}
        )
        admin.set_faults(latency_ms=LATENCY_MS)
        # warm the container (secret, connection pool) as a second invocation on Lambda would be
        warm = admin.create_deferred_payment(1_000)["id"]
        bundle.send({"event_id": "warm", "deferred_payment_id": warm, "amount": 1})
        bundle.run()
        one_trip = _median(lambda: admin_round_trip(emu, conftest.API_KEY, warm), 5)

        dps = [admin.create_deferred_payment(100_000)["id"] for _ in range(10)]
        bundle.send(*({"event_id": f"e-{dp}", "deferred_payment_id": dp, "amount": 1_000} for dp in dps))
        event = bundle.source.event(bundle.source.receive())
        requests_before, dynamodb_calls[0] = len(admin.requests()), 0
        started = time.perf_counter()
        response = bundle.app.lambda_handler(event, bundle.context())
        batch = time.perf_counter() - started
        assert response == {"batchItemFailures": []}, response
        hokodo_calls = len(admin.requests()) - requests_before
        print(f"one Hokodo round trip (emulator latency {LATENCY_MS} ms): {one_trip * 1000:.0f} ms")
        print(
            f"batch of {len(event['Records'])} shipments on 10 deferred payments: {batch * 1000:.0f} ms "
            f"= {batch / one_trip:.2f}x one round trip (target <= 1.5x)"
        )
        print(
            f"Hokodo calls per event: {hokodo_calls / 10:.1f} (target 1); "
            f"DynamoDB requests per event: {dynamodb_calls[0] / 10:.1f} (target <= 2)"
        )
    monkeypatch.undo()


def admin_round_trip(emu, api_key: str, dp: str) -> None:
    import httpx

    httpx.get(f"{emu.base_url}/v1/payment/deferred_payments/{dp}", headers={"Authorization": f"Token {api_key}"})


def _count_dynamodb_requests() -> list[int]:
    counter = [0]

    def count(**_):
        counter[0] += 1

    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-send.dynamodb", count)
        return client

    botocore.session.Session.create_client = create_client
    return counter


@contextmanager
def _moto_server():
    from hokodo_local.stack import MotoServer

    server = MotoServer()
    try:
        yield server.start()
    finally:
        server.stop()


def _median(fn, n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def lambda_like_path() -> Path:
    """What a function sees on Lambda: the layer's requirements plus the runtime's boto3, and nothing else
    (the dev venv also has awscrt, click and rich, which make boto3 and httpx import slower)."""
    target = ROOT / ".venv" / "bench-lambda-like"
    if not (target / "boto3").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--no-warn-conflicts",
                "--target",
                str(target),
                "-r",
                str(ROOT / "layers/postsale/requirements.txt"),
                "boto3",
            ],
            check=True,
        )
    return target


def cold_imports(runs: int = 7) -> None:
    path = [str(lambda_like_path()), str(ROOT / "layers/postsale")]

    def import_time(code: str) -> float:
        samples = []
        for _ in range(runs):
            prelude = f"import sys, time; sys.path[:0] = {path!r}; t = time.perf_counter(); "
            out = subprocess.run(
                [sys.executable, "-I", "-S", "-c", prelude + code + "; print(time.perf_counter() - t)"],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env={"AWS_DEFAULT_REGION": "eu-west-1", "POWERTOOLS_METRICS_NAMESPACE": "Bench"},
            )
            samples.append(float(out.stdout.strip().splitlines()[-1]))
        return statistics.median(samples)

    boto3_time = import_time("import boto3")
    print(f"bare `import boto3`: {boto3_time * 1000:.0f} ms (median of {runs} fresh interpreters)")
    for function in sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists()):
        code = f"import runpy; runpy.run_path({json.dumps(str(ROOT / 'functions' / function / 'app.py'))})"
        t = import_time(code)
        print(f"cold import of functions/{function}: {t * 1000:.0f} ms = {t / boto3_time:.2f}x boto3 (target <= 2x)")


if __name__ == "__main__":
    main()
