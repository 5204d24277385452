"""Fixtures for the Hokodo emulator's tests: one emulator per test session (reset before every
test), an authenticated httpx client, the admin client and a tiny webhook receiver."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Usually on the path already (pyproject's pytest pythonpath); this also makes the directory runnable alone.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "emulator"))

from hokodo_emulator import Emulator  # noqa: E402
from hokodo_emulator.admin import AdminClient  # noqa: E402

from .support import API_KEY, Receiver, make_api  # noqa: E402


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
