"""The Emulator: wires the state, faults, webhooks and HTTP server together."""

from __future__ import annotations

import threading
from typing import Any

from .clock import Clock
from .faults import Faults
from .profile import ProfileSwitch, show_notification
from .server import EmulatorHTTPServer
from .store import State
from .webhooks import WebhookDispatcher

DEFAULT_API_KEY = "sandbox-api-key"


class Emulator:
    """A Hokodo post-sale API emulator served over real HTTP.

    >>> with Emulator(api_key="test-key") as emu:
    ...     base = emu.base_url          # http://127.0.0.1:<port>; the API root is base + "/v1/"
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        expiry_days: float = 28,
        notification_url: str | None = None,
        seed: int | None = None,
        webhook_attempts: int = 5,
        webhook_backoff: float = 0.2,
        latency_ms: float = 0,
        error_rates: dict[str, float] | None = None,
        webhook_timeout: float = 5.0,
        log_requests: bool = False,
        profile: str = "default",
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        self.api_key = api_key
        self.host = host
        self.port = port
        self.log_requests = log_requests
        self.stopping = threading.Event()
        self.profile = ProfileSwitch(profile)  # "default" or "sparse"; see profile.py
        self.webhooks = WebhookDispatcher(webhook_attempts, webhook_backoff, webhook_timeout)
        self.faults = Faults(seed=seed, latency_ms=latency_ms, error_rates=error_rates)
        self.state = State(Clock(), self._notify, expiry_days, notification_url)
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def __repr__(self) -> str:  # never shows the API key
        return f"<Emulator {self.base_url or 'stopped'}>"

    @property
    def api_url(self) -> str:
        return self.base_url + "/v1/"

    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        self.stopping.clear()
        self._server = EmulatorHTTPServer((self.host, self.port), self)
        host, port = self._server.server_address[:2]
        self.port = port
        shown = f"[{host}]" if ":" in str(host) else host
        self.base_url = f"http://{shown}:{port}"
        self.webhooks.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hokodo-emulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.stopping.set()  # wakes injected latency/timeouts
        server.shutdown()
        server.close_all()
        server.server_close()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        self.webhooks.stop()

    def reset(self) -> None:
        """Forget all data and logs; fault settings and the profile go back to those given at start."""
        self.state.reset()
        self.webhooks.reset()
        self.faults.reset()
        self.profile.reset()

    def _notify(self, url: str, payload: dict[str, Any], **info: Any) -> None:
        """Queue a notification, shaped and retried as the profile in force says."""
        profile = self.profile.current
        self.webhooks.send(url, show_notification(payload, profile), retry_delays=profile.webhook_retry_delays, **info)

    def admin(self, **kwargs: Any):  # noqa: ANN201 - avoids importing httpx at module import
        from .admin import AdminClient

        return AdminClient(self.base_url, **kwargs)

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
