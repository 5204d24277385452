"""`python -m hokodo_local` stopped by SIGINT or SIGTERM: it exits promptly, frees its ports, and
leaves no process behind (everything it runs is a thread of its own process). The main thread only
waits; on a signal it halts the local stack (`LocalStack.halt`), so the command's calls fail at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from cli_support import MARKER, ROOT, Cli
from hokodo_local.local_stack import Halted, LocalStack


def processes_with(marker: str) -> list[int]:
    """Pids of every process that inherited the marker: the CLI and anything it might have started."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if f"{MARKER}={marker}".encode() in environ.split(b"\0"):
                found.append(int(entry.name))
    return found


def listening_possible(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server would (ignores TIME_WAIT)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


@pytest.mark.parametrize(
    ("args", "when", "signum"),
    [
        (("demo",), r"^== 2\. ", signal.SIGINT),
        (("demo",), r"^== 6\. ", signal.SIGTERM),
        (("serve",), r"^== Deliveries", signal.SIGTERM),
        (("serve",), r"^== Deliveries", signal.SIGINT),
    ],
    ids=["demo-SIGINT", "demo-SIGTERM", "serve-SIGTERM", "serve-SIGINT"],
)
def test_a_signal_stops_everything(args, when, signum):
    cli = Cli(*args)
    cli.wait_for(when)
    ports = cli.ports()
    assert len(ports) == 3 and not any(listening_possible(p) for p in ports)  # moto, the emulator and the HTTP API are up
    assert processes_with(cli.marker) == [cli.process.pid]  # threads, not child processes

    code, took = cli.stop(signum)

    assert code == 128 + signum
    assert took < 5, f"took {took:.1f} s to stop"
    assert processes_with(cli.marker) == []
    assert all(listening_possible(p) for p in ports)


def test_a_port_in_use_is_reported_not_waited_on():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for flag in ("--moto-port", "--emulator-port", "--api-port"):
            done = subprocess.run(
                [sys.executable, "-m", "hokodo_local", "demo", flag, str(port)],
                check=False,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT / "local")},
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert done.returncode == 1
            assert f"127.0.0.1:{port} is in use" in done.stderr


# Halted under them, the functions' invocations under way fail before they record anything: Powertools says so.
@pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")
def test_a_halted_stack_fails_its_callers_at_once_then_closes():
    with LocalStack() as local:
        ports = [int(local.moto.endpoint.rsplit(":", 1)[1]), local.emulator.port, int(local.api_url.rsplit(":", 1)[1])]
        local.runner.start(interval=0.1, schedule_every=0.1)
        assert "poller-TrackingFunction" in [t.name for t in threading.enumerate()]  # the stream's poller
        local.halt()
        started = time.monotonic()
        with pytest.raises(ClientError, match="halted"):
            local.sqs.list_queues()
        assert time.monotonic() - started < 0.5  # refused, not retried with backoff as a closed port would be
        with pytest.raises(httpx.HTTPError):
            local.admin.requests()  # the Hokodo emulator is stopped
        with pytest.raises(httpx.HTTPError):
            httpx.post(local.notification_url(), json={}, timeout=2)  # the HTTP API is stopped
        # queues, stream and schedule: each poller ends with the invocation it was in (at once; on a busy machine, soon)
        deadline = time.monotonic() + 5
        while [t for t in threading.enumerate() if t.name.startswith("poller-")] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [t for t in threading.enumerate() if t.name.startswith("poller-")]
    assert all(listening_possible(p) for p in ports)


def test_a_stack_halted_before_it_starts_does_not_start():
    local = LocalStack()
    local.halt()  # a signal while the command is still importing
    with pytest.raises(Halted):
        local.start()
    assert local.moto.endpoint == "" and local.emulator.base_url == ""
