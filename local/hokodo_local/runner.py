"""The Lambda side of the local stack: each function's handler loaded from disk with the environment
moto resolved for it, fed by its queue through `SqsEventSource` as its event source mapping says."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .lambda_context import LocalLambdaContext
from .sqs_event_source import Invocation, SqsEventSource
from .stack import CREDENTIALS, REGION, EventSourceMapping, Function, Stack

log = logging.getLogger("hokodo_local")


def runtime_environment(endpoint: str) -> dict[str, str]:
    """What every function sees besides its own variables: Lambda's region and credentials, aimed at moto."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }


@contextmanager
def patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_handler(function: Function) -> Callable[[dict, Any], Any]:
    """A cold start: import the handler's file as a fresh module while os.environ holds the function's
    environment, since module-level setup (settings, clients) reads it then."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # Powertools keeps one Secrets Manager client per process; a new container has none
    with patched_environ(function.environment):
        module = import_fresh(function.source.handler_file, function.logical_id)
    return getattr(module, function.source.handler_name)


def import_fresh(path: str | os.PathLike, label: str) -> Any:
    """Import a handler file as a new module (a cold start), whatever was imported from it before."""
    name = f"{label}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Delivery:
    """One invocation of one function, for whoever watches the runner."""

    function: str  # logical id
    invocation: Invocation


class FunctionPoller:
    """One event source mapping: its queue, its function, its batch size, the function's timeout."""

    def __init__(self, stack: Stack, mapping: EventSourceMapping, sqs: Any, handler: Callable[[dict, Any], Any]):
        self.function = stack.functions[mapping.function]
        self.queue = stack.queues[mapping.queue]
        self.mapping = mapping
        self.source = SqsEventSource(
            sqs,
            self.queue.url,
            self.queue.arn,
            handler,
            batch_size=mapping.batch_size,
            region=REGION,
            report_batch_item_failures=mapping.report_batch_item_failures,
        )

    def context(self) -> LocalLambdaContext:
        return LocalLambdaContext(
            function_name=self.function.name,
            timeout_seconds=float(self.function.timeout_seconds),
            memory_limit_in_mb=self.function.memory_mb,
        )

    def poll_once(self) -> Delivery | None:
        invocation = self.source.poll_once(self.context())
        return Delivery(self.function.logical_id, invocation) if invocation else None


class Runner:
    """Every mapping of the stack, polled either on demand (`settle`, for the demo) or in background
    threads (`start`/`stop`, for `serve`). One invocation at a time per queue (Lambda would run up to
    the mapping's MaximumConcurrency), and no batching window: a poll takes what is visible."""

    def __init__(self, stack: Stack, sqs: Any, on_delivery: Callable[[Delivery], None] | None = None):
        handlers = {m.function: load_handler(stack.functions[m.function]) for m in stack.mappings}
        self.pollers = [FunctionPoller(stack, m, sqs, handlers[m.function]) for m in stack.mappings]
        self._sqs = sqs
        self._on_delivery = on_delivery or (lambda delivery: None)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def settle(self, timeout: float = 30.0) -> list[Delivery]:
        """Deliver until no source queue has a message visible or in flight (a failed record comes back
        after its visibility timeout, until the redrive policy moves it to its DLQ)."""
        deadline = time.monotonic() + timeout
        deliveries: list[Delivery] = []
        while True:
            delivered = [d for d in (p.poll_once() for p in self.pollers) if d is not None]
            for delivery in delivered:
                self._on_delivery(delivery)
            deliveries += delivered
            if not delivered and not self._in_flight():
                return deliveries
            if time.monotonic() > deadline:
                raise TimeoutError(f"queues still busy after {timeout} s")
            if not delivered:
                time.sleep(0.1)

    def _in_flight(self) -> bool:
        for poller in self.pollers:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=poller.queue.url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            if int(attributes["ApproximateNumberOfMessages"]) or int(attributes["ApproximateNumberOfMessagesNotVisible"]):
                return True
        return False

    def start(self, interval: float = 0.5) -> None:
        self._stop.clear()
        for poller in self.pollers:
            thread = threading.Thread(
                target=self._poll_forever, args=(poller, interval), name=f"poller-{poller.function.logical_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; an invocation under way finishes first (up to `timeout` in all)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def _poll_forever(self, poller: FunctionPoller, interval: float) -> None:
        while not self._stop.is_set():
            try:
                delivery = poller.poll_once()
            except Exception:  # moto stopping, or a bug: keep the poller alive, as Lambda's would be
                if self._stop.is_set():
                    return
                log.exception("polling %s failed", poller.queue.name)
                delivery = None
            if delivery is not None:
                self._on_delivery(delivery)
            else:
                self._stop.wait(interval)
