"""`python -m hokodo_local` as a child process, with its output read line by line (the signal and `serve` tests)."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "HOKODO_LOCAL_TEST_MARKER"


class Cli:
    def __init__(self, *args: str):
        self.marker = uuid.uuid4().hex
        # Its endpoints (for `make dead-letters`) and its functions' log in a folder of its own: CLIs run side by side.
        self.state = Path(tempfile.mkdtemp(prefix="hokodo-local-"))
        self.env = {"HOKODO_LOCAL_ENDPOINTS": str(self.state / "endpoints.json")}
        env = {**os.environ, "PYTHONPATH": str(ROOT / "local"), MARKER: self.marker, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "hokodo_local", *args],  # SIGABRT dumps every thread's stack
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            self.output.append(line)
            if re.search(pattern, line):
                return
        pytest.fail(f"no line matching {pattern!r} in {timeout} s:\n" + "".join(self.output))

    def ports(self) -> list[int]:
        text = "".join(self.output)
        return [
            int(p) for p in re.findall(r"(?:moto server|Hokodo emulator|local HTTP API)[^\n]*?http://127\.0\.0\.1:(\d+)", text)
        ]

    def stop(self, signum: int, timeout: float = 10.0) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)
            time.sleep(2)
            self.process.kill()
            while not self.lines.empty():
                self.output.append(self.lines.get())
            pytest.fail(f"still running {timeout} s after {signal.Signals(signum).name}:\n" + "".join(self.output[-80:]))
        shutil.rmtree(self.state, ignore_errors=True)
        return code, time.monotonic() - started
