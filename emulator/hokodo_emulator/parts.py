"""What the HTTP server and the admin API use of the emulator, as a Protocol.

`app.Emulator` builds the server, so the server and the routers must not import `app` back (not even
for type hints): they are typed against this Protocol, which `Emulator` satisfies structurally.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the types only; none of these modules imports this one
    import threading

    from .faults import Faults
    from .profile import ProfileSwitch
    from .store import State
    from .webhooks import WebhookDispatcher


class EmulatorParts(Protocol):
    api_key: str
    base_url: str
    log_requests: bool
    stopping: threading.Event  # set when the emulator stops: ends injected pauses
    state: State
    faults: Faults
    webhooks: WebhookDispatcher
    profile: ProfileSwitch  # read `.current` once per request

    def reset(self) -> None: ...
