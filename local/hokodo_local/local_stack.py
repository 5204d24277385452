"""The whole local stack in this process: moto server, the Hokodo emulator, the template's resources,
and the functions' runner (with the local HTTP API). Threads only, so ending the process ends everything
and frees the ports."""

from __future__ import annotations

import errno
import json
import secrets
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, TextIO

from hokodo_emulator import Emulator
from hokodo_emulator.admin import AdminClient

from . import iam
from .runner import Delivery, Runner, patched_environ, runtime_environment
from .stack import EventBus, HttpRoute, MotoServer, Stack, create_stack
from .template import SamTemplate

# The template's queues hide a received message for 200 s; locally a failed record should come back
# (and, after MaxReceiveCount receives, reach its DLQ) while someone is watching.
LOCAL_VISIBILITY_TIMEOUT = 2


class Halted(Exception):
    """The local stack was halted (`LocalStack.halt`) before or while it started, or while in use."""


class LocalStack:
    """`with LocalStack(...) as local:` starts everything; leaving the block stops everything.

    `parameters` are template parameter overrides on top of HokodoBaseUrl (always the emulator); values
    that CloudFormation would refuse raise `ParameterError` before anything starts.
    `runtime_env` is added to every function's environment for the stack's lifetime (besides moto's
    endpoint, region and fake credentials). `api_port` is the local HTTP API's (0: a free one).
    `function_stdout`, when given, receives what the functions print (their log stream), instead of stdout.
    `check_permissions` (default): each function's AWS calls are evaluated against its own role in the template
    (iam.py); a denied call fails its invocation, and leaving the `with` block raises `iam.PermissionDenied` listing
    every denied call. `permissions` holds every decision.
    """

    def __init__(
        self,
        *,
        template: SamTemplate | None = None,
        parameters: dict[str, str] | None = None,
        moto_port: int = 0,
        emulator_port: int = 0,
        api_port: int = 0,
        visibility_timeout: int | None = LOCAL_VISIBILITY_TIMEOUT,
        runtime_env: dict[str, str] | None = None,
        on_delivery: Callable[[Delivery], None] | None = None,
        function_stdout: TextIO | None = None,
        check_permissions: bool = True,
    ):
        self.template = template or SamTemplate.load()
        self.api_key = f"local-{secrets.token_hex(12)}"
        self.moto = MotoServer(moto_port)
        self.emulator = Emulator(api_key=self.api_key, port=emulator_port, webhook_attempts=1)
        self._parameters = parameters or {}
        self._visibility_timeout = visibility_timeout
        self._api_port = api_port
        self._runtime_env = runtime_env or {}
        self._on_delivery = on_delivery
        self._function_stdout = function_stdout
        self._check_permissions = check_permissions
        self.permissions: iam.Permissions | None = None
        self._cleanup = ExitStack()
        self.admin: AdminClient | None = None
        self.stack: Stack | None = None
        self.runner: Runner | None = None
        self.sqs: Any = None
        self.api_url: str | None = None
        self.halted = threading.Event()

    @property
    def parameters(self) -> dict[str, str]:
        return {"HokodoBaseUrl": self.emulator.api_url, **self._parameters}

    def start(self) -> LocalStack:
        # moto's CloudFormation would create the stack with values AWS refuses (constraints, Rules): refuse them first.
        self.template.check_parameters(self._parameters)
        try:
            self.raise_if_halted()
            self._start()
            self.raise_if_halted()  # halted while starting: what started after halt() stops here
        except BaseException:
            self.close()
            raise
        return self

    def halt(self) -> None:
        """From any thread (the CLI's main thread on SIGINT/SIGTERM): moto server refuses every request from
        now on, the pollers (queues, streams, schedules) and the HTTP API stop, the Hokodo emulator stops.
        Whatever the stack's owner still asks of them fails at once, and it unwinds through close(), which
        stops the rest."""
        self.halted.set()
        self.moto.refuse()
        if self.runner is not None:
            self.runner.close(timeout=1.0)
        self.emulator.stop()

    def raise_if_halted(self) -> None:
        if self.halted.is_set():
            raise Halted("the local stack was halted")

    def _start(self) -> None:
        # Everything started registers how to stop it; close() stops them in reverse order.
        self.moto.start()
        self._cleanup.callback(self.moto.stop)
        try:
            self.emulator.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise OSError(errno.EADDRINUSE, f"Hokodo emulator: 127.0.0.1:{self.emulator.port} is in use") from exc
        self._cleanup.callback(self.emulator.stop)
        self.admin = self._cleanup.enter_context(AdminClient(self.emulator.base_url))
        # For the stack's lifetime, not only at import: clients are also created during invocations.
        self._cleanup.enter_context(patched_environ({**runtime_environment(self.moto.endpoint), **self._runtime_env}))
        self._cleanup.callback(_forget_powertools_clients)
        for layer in self.template.layer_dirs():  # Lambda puts layers on sys.path (/opt/python)
            if str(layer) not in sys.path:
                sys.path.insert(0, str(layer))
        self.stack = create_stack(
            self.moto, self.template, self.parameters, api_key=self.api_key, visibility_timeout=self._visibility_timeout
        )
        if self._check_permissions:  # before the runner: the functions' cold starts are theirs too
            self.permissions = self._cleanup.enter_context(iam.enforcing(iam.Permissions.of_stack(self.stack)))
        self.sqs = self.moto.client("sqs")
        self.runner = Runner(
            self.stack,
            self.sqs,
            self.moto.client("dynamodbstreams"),
            self._on_delivery,
            api_port=self._api_port,
            function_stdout=self._function_stdout,
        )
        self._cleanup.callback(self.runner.close)
        self.api_url = self.runner.serve_http()

    # -- what the stack offers its users -----------------------------------------------------------------
    def notification_url(self, route: HttpRoute | None = None) -> str | None:
        """Hokodo's notification URL locally: the route (default: the first with a path parameter) on the local HTTP
        API, with the current value of the secret its function reads (a local secret: printing it is fine)."""
        routes = [route] if route else [r for r in self.stack.http_routes if "{" in r.path]
        for candidate in routes:
            secret = self.stack.route_secret(candidate)
            if secret is not None:
                parameter = candidate.path[candidate.path.index("{") + 1 : candidate.path.index("}")]
                return self.runner.route_url(candidate, **{parameter: secret.generated})
        return None

    def published(self, bus: EventBus | None = None) -> list[dict]:
        """Every event published to the bus (default: the stack's only one) since the last call, oldest first, as its
        targets receive it, read from the local stack's own rule's queue (and deleted from it)."""
        bus = bus or next(iter(self.stack.event_buses.values()))
        found = []
        while messages := self.sqs.receive_message(QueueUrl=bus.read_back.url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=bus.read_back.url, ReceiptHandle=message["ReceiptHandle"])
        return found

    def close(self) -> None:
        """Stop the pollers, the schedules and the HTTP API, then the emulator and moto; put the process environment back."""
        self._cleanup.close()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        self.close()
        # A denied call fails its invocation, which the function's event source may retry or park: whatever the block
        # then raised (or nothing), the denial is what to see.
        if self.permissions is None or isinstance(exc, Halted | iam.PermissionDenied) or not isinstance(exc, Exception | None):
            return
        denied = self.permissions.denied()
        if denied:
            raise iam.PermissionDenied(denied) from exc


def _forget_powertools_clients() -> None:
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # its cached Secrets Manager client points at the moto server being stopped
