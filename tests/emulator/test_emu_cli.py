"""``python -m hokodo_emulator``: help, start, seeded data, clean exit on signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

EMULATOR_DIR = Path(__file__).resolve().parents[2] / "emulator"
SECRET = "cli-secret-key-42"  # noqa: S105 - a throwaway test key


def run_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(EMULATOR_DIR) + os.pathsep + env.get("PYTHONPATH", "")
    env["HOKODO_EMULATOR_API_KEY"] = SECRET
    return env


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hokodo_emulator", *args], env=run_env(), capture_output=True, text=True, timeout=20, check=False
    )


def test_help():
    out = run_cli("--help")
    assert out.returncode == 0
    for option in ("--port", "--api-key", "--expiry-days", "--notification-url", "--error-rate", "--seed-deferred-payment"):
        assert option in out.stdout
    assert SECRET not in out.stdout


def test_bad_arguments_exit_2():
    assert run_cli("--error-rate", "503=2").returncode == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_start_serve_and_stop_on_signal(signum):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hokodo_emulator",
            "--port",
            "0",
            "--latency-ms",
            "1",
            "--seed-deferred-payment",
            "defpay-cli1=5000",
            "250",
        ],
        env=run_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        seeded = [proc.stdout.readline().split() for _ in range(2)]
        assert seeded[0][0] == "defpay-cli1" and seeded[0][2:] == ["5000", "GBP"]
        assert seeded[1][0].startswith("defpay-") and seeded[1][2] == "250"
        port = int(base.rsplit(":", 1)[1])
        with httpx.Client(base_url=base + "/v1/", trust_env=False, timeout=5) as api:
            headers = {"Authorization": f"Token {SECRET}"}
            r = api.post("payment/deferred_payments/defpay-cli1/capture", json={"amount": 6000}, headers=headers)
            assert r.status_code == 201
            assert r.json()["changes"]["unprotected_captures"] == 1000
            assert api.get("payment/deferred_payments/defpay-cli1").status_code == 401
        started = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 3
        stderr = proc.stderr.read()
        assert SECRET not in stderr and "POST /v1/payment/deferred_payments/defpay-cli1/capture" in stderr
        with socket.socket() as s:  # the port was released
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
