"""Fixtures for the Hokodo emulator's tests: one emulator per test session (reset before every
test), an authenticated httpx client, the admin client and a tiny webhook receiver."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "emulator"))

from hokodo_emulator import Emulator  # noqa: E402
from hokodo_emulator.admin import AdminClient  # noqa: E402

API_KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def emulator():
    emu = Emulator(api_key=API_KEY, seed=1, webhook_attempts=4, webhook_backoff=0.05, webhook_timeout=2)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def emu(emulator):
    emulator.reset()
    return emulator


def make_api(emu: Emulator, **kw) -> httpx.Client:
    kw.setdefault("timeout", 5)
    return httpx.Client(base_url=emu.api_url, headers={"Authorization": f"Token {API_KEY}"}, trust_env=False, **kw)


@pytest.fixture(scope="session")
def _api_client(emulator):
    with make_api(emulator) as client:
        yield client


@pytest.fixture(scope="session")
def _admin_client(emulator):
    with AdminClient(emulator.base_url) as client:
        yield client


@pytest.fixture
def api(emu, _api_client):
    """An authenticated httpx client of the API root (reused across tests: creating one costs ~15 ms)."""
    return _api_client


@pytest.fixture
def admin(emu, _admin_client):
    return _admin_client


@pytest.fixture
def dp(admin):
    """A fresh deferred payment with an authorisation of 10000."""
    return admin.create_deferred_payment(10000)


class Receiver:
    """A local webhook endpoint that answers ``fail_first`` requests with 500, then 200."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.received: list[dict] = []
        self.attempts = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver.attempts <= receiver.fail_first
                    if not failing:
                        receiver.received.append(json.loads(body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/secret-token"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.start()

    def wait(self, count: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        with self._lock:
            return list(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(2)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_receiver():
    made: list[Receiver] = []

    def make(fail_first: int = 0) -> Receiver:
        made.append(Receiver(fail_first))
        return made[-1]

    yield make
    for r in made:
        r.close()
