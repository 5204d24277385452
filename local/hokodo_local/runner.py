"""The Lambda side of the local stack: each function's handler loaded from disk with the environment moto resolved
for it, invoked the way its event sources would: queues polled (`SqsEventSource`) and streams read
(`DynamoDBStreamEventSource`) as their event source mappings say, HttpApi routes served (`LocalHttpApi`), schedules
run with their Input, on demand or every few seconds."""

from __future__ import annotations

import errno
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from . import iam
from .http_api import LocalHttpApi, Route
from .lambda_context import LocalLambdaContext
from .sqs_event_source import Invocation, SqsEventSource
from .stack import CREDENTIALS, REGION, EventSourceMapping, Function, HttpRoute, Schedule, Stack, StreamMapping
from .stream_event_source import DynamoDBStreamEventSource, StreamInvocation

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


# os.environ is the process's: while a function is imported or invoked, it holds that function's environment (module-level
# setup reads it, and so do some calls at invocation time, e.g. Powertools' single_metric its namespace). So one function
# runs at a time in this process, whichever thread invokes it (pollers, the HTTP API's, the demo's).
_INVOCATION = threading.RLock()


def load_handler(function: Function) -> Callable[[dict, Any], Any]:
    """A cold start: import the handler's file as a fresh module while os.environ holds the function's
    environment, since module-level setup (settings, clients) reads it then."""
    from aws_lambda_powertools.utilities import parameters

    with _INVOCATION, patched_environ(function.environment), iam.acting_as(function.logical_id):  # its role's, from init on
        parameters.clear_caches()  # Powertools keeps one Secrets Manager client per process; a new container has none
        module = import_fresh(function.source.handler_file, function.logical_id)
    return iam.as_function(function.logical_id, getattr(module, function.source.handler_name))


def import_fresh(path: str | os.PathLike, label: str) -> Any:
    """Import a handler file as a new module (a cold start), whatever was imported from it before."""
    name = f"{label}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class Container:
    """One execution environment of a function: its handler, loaded once, invoked with the function's environment in
    os.environ, one invocation at a time in the process (a second caller waits, where Lambda would start another
    environment). `stdout`, when given, receives what the handler prints (its CloudWatch log stream on AWS)."""

    def __init__(self, function: Function, stdout: TextIO | None = None):
        self.function = function
        self.handler = load_handler(function)
        self._stdout = stdout
        self._parameter_providers: dict[str, Any] = {}

    def __call__(self, event: dict, context: Any) -> Any:
        printed = redirect_stdout(self._stdout) if self._stdout is not None else nullcontext()
        with _INVOCATION, patched_environ(self.function.environment), printed, self._own_parameter_providers():
            return self.handler(event, context)

    @contextmanager
    def _own_parameter_providers(self) -> Iterator[None]:
        """Powertools Parameters keeps its providers (a Secrets Manager client, its cache) in one dict per process, where
        Lambda gives each execution environment its own: this container's are put there while it runs (one invocation at
        a time), so that each function reads its secrets itself, with its own role (iam.py), as on AWS."""
        from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

        others = dict(DEFAULT_PROVIDERS)
        DEFAULT_PROVIDERS.clear()
        DEFAULT_PROVIDERS.update(self._parameter_providers)
        try:
            yield
        finally:
            self._parameter_providers = dict(DEFAULT_PROVIDERS)
            DEFAULT_PROVIDERS.clear()
            DEFAULT_PROVIDERS.update(others)

    def context(self) -> LocalLambdaContext:
        return LocalLambdaContext(
            function_name=self.function.name,
            timeout_seconds=float(self.function.timeout_seconds),
            memory_limit_in_mb=self.function.memory_mb,
        )


@dataclass(frozen=True)
class HttpInvocation:
    route_key: str  # POST /webhooks/hokodo/{secret}: the path's values (the secret) are not kept
    status: int | None  # what the function answered (None: it raised, API Gateway answers 500)
    body: str
    error: BaseException | None = None


@dataclass(frozen=True)
class ScheduledInvocation:
    schedule: str  # its name
    event: Any
    response: Any = None
    error: BaseException | None = None


@dataclass
class Delivery:
    """One invocation of one function, for whoever watches the runner."""

    function: str  # logical id
    invocation: Invocation | StreamInvocation | HttpInvocation | ScheduledInvocation
    started: float = 0.0  # time.time() when its event source began (a poll, a request, a schedule): the order they ran in


class FunctionPoller:
    """One SQS event source mapping: its queue, its function, its batch size, the function's timeout."""

    def __init__(self, stack: Stack, mapping: EventSourceMapping, sqs: Any, container: Container):
        self.function = stack.functions[mapping.function]
        self.queue = stack.queues[mapping.queue]
        self.name = self.queue.name
        self.mapping, self.container, self._sqs = mapping, container, sqs
        self.source = SqsEventSource(
            sqs,
            self.queue.url,
            self.queue.arn,
            container,
            batch_size=mapping.batch_size,
            region=REGION,
            report_batch_item_failures=mapping.report_batch_item_failures,
        )

    def poll_once(self) -> Delivery | None:
        started = time.time()
        with iam.acting_as(self.function.logical_id, iam.EVENT_SOURCE_MAPPING):  # Lambda's poller uses the function's role
            invocation = self.source.poll_once(self.container.context())
        return Delivery(self.function.logical_id, invocation, started) if invocation else None

    def busy(self) -> bool:
        """A message visible or in flight (a failed record comes back after its visibility timeout)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue.url, AttributeNames=names)["Attributes"]
        return any(int(attributes[name]) for name in names)


class StreamPoller:
    """One DynamoDB stream event source mapping: its stream read from its start (TRIM_HORIZON), in batches of the
    mapping's size, through its filters; a batch whose retries are exhausted goes to its OnFailure queue."""

    def __init__(self, stack: Stack, mapping: StreamMapping, streams: Any, sqs: Any, container: Container):
        self.function = stack.functions[mapping.function]
        self.name = f"{mapping.table} stream"
        self.mapping, self.container, self._sqs = mapping, container, sqs
        self._on_failure_url = None
        if mapping.on_failure:
            destination = stack.queue_by_arn(mapping.on_failure)
            self._on_failure_url = destination.url if destination else None
        self.source = DynamoDBStreamEventSource(
            streams,
            mapping.stream_arn,
            container,
            batch_size=mapping.batch_size,
            region=REGION,
            filters=mapping.filters,
            maximum_retry_attempts=mapping.maximum_retry_attempts,
            on_failure=self._send_to_destination,
        )

    def poll_once(self) -> Delivery | None:
        started = time.time()
        with iam.acting_as(self.function.logical_id, iam.EVENT_SOURCE_MAPPING):  # reads, and sends to OnFailure, as the function
            invocation = self.source.poll_once(self.container.context())
        return Delivery(self.function.logical_id, invocation, started) if invocation else None

    def busy(self) -> bool:
        return False  # a failed batch is delivered again at the next poll

    def _send_to_destination(self, records: list[dict], invocation: StreamInvocation) -> None:
        """What Lambda sends to a stream mapping's OnFailure destination: where the records are, not the records."""
        if self._on_failure_url is None:
            return
        first, last = records[0]["dynamodb"], records[-1]["dynamodb"]
        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:123456789012:function:{self.function.name}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invocation.attempt,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                **({"functionError": "Unhandled"} if invocation.error else {}),
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": "local",
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first.get("ApproximateCreationDateTime")),
                "approximateArrivalOfLastRecord": _iso(last.get("ApproximateCreationDateTime")),
                "batchSize": len(records),
                "streamArn": self.mapping.stream_arn,
            },
        }
        self._sqs.send_message(QueueUrl=self._on_failure_url, MessageBody=json.dumps(body))


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


class Runner:
    """Every event source of the stack. Queues and streams are polled either on demand (`settle`, for the demo) or in
    background threads (`start`/`stop`, for `serve`); the HTTP API serves in threads of its own from `serve_http` until
    `close`; schedules run on demand (`run_schedule`) or, in `start`, every `schedule_every` seconds.

    One invocation at a time (Lambda would run up to the mapping's MaximumConcurrency per function), no batching
    window (a poll takes what is visible), and a failed stream batch is retried at once (Lambda backs off)."""

    def __init__(
        self,
        stack: Stack,
        sqs: Any,
        streams: Any,
        on_delivery: Callable[[Delivery], None] | None = None,
        *,
        api_port: int = 0,
        function_stdout: TextIO | None = None,
    ):
        used = (
            {m.function for m in stack.mappings}
            | {m.function for m in stack.stream_mappings}
            | {r.function for r in stack.http_routes}
            | {s.function for s in stack.schedules}
        )
        self.stack = stack
        self.containers = {logical_id: Container(stack.functions[logical_id], function_stdout) for logical_id in sorted(used)}
        self.pollers: list[FunctionPoller | StreamPoller] = [
            *(FunctionPoller(stack, m, sqs, self.containers[m.function]) for m in stack.mappings),
            *(StreamPoller(stack, m, streams, sqs, self.containers[m.function]) for m in stack.stream_mappings),
        ]
        self._on_delivery = on_delivery or (lambda delivery: None)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.http_api = self._http_api(api_port) if stack.http_routes else None
        self._serving = False

    # -- the HTTP API ------------------------------------------------------------------------------
    def _http_api(self, port: int) -> LocalHttpApi:
        routes = sorted(self.stack.http_routes, key=lambda r: r.path == "$default")  # the catch-all last
        try:
            return LocalHttpApi([self._route(r) for r in routes], port=port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise OSError(errno.EADDRINUSE, f"local HTTP API: 127.0.0.1:{port} is in use") from exc

    def _route(self, route: HttpRoute) -> Route:
        container = self.containers[route.function]
        route_key = f"{route.method} {route.path}"

        def invoke(event: dict, context: Any) -> Any:
            started = time.time()
            try:
                result = container(event, context)
            except Exception as exc:
                self._on_delivery(Delivery(route.function, HttpInvocation(route_key, None, "", exc), started))
                raise
            status = result.get("statusCode") if isinstance(result, dict) else 200
            body = result.get("body", "") if isinstance(result, dict) else json.dumps(result)
            self._on_delivery(Delivery(route.function, HttpInvocation(route_key, status, body or ""), started))
            return result

        return Route(route.method, route.path, invoke, container.context)

    def serve_http(self) -> str | None:
        """Start the HTTP API (the template's HttpApi routes); its URL, or None when the template has no route."""
        if self.http_api is None:
            return None
        if not self._serving:
            self.http_api.start()
            self._serving = True
        return self.http_api.url

    def route_url(self, route: HttpRoute, **values: str) -> str:
        """The local URL of a route, with its path parameters filled in."""
        return self.http_api.url + route.path.format(**values)

    # -- schedules ---------------------------------------------------------------------------------
    def run_schedule(self, schedule: Schedule) -> Delivery:
        """What the schedule does when it fires: invoke its function with its Input, now."""
        container = self.containers[schedule.function]
        event = schedule.event()
        started = time.time()
        try:
            invocation = ScheduledInvocation(schedule.name, event, response=container(event, container.context()))
        except Exception as exc:  # as Scheduler's RetryPolicy allows: the next run tries again
            invocation = ScheduledInvocation(schedule.name, event, error=exc)
        delivery = Delivery(schedule.function, invocation, started)
        self._on_delivery(delivery)
        return delivery

    # -- queues and streams ------------------------------------------------------------------------
    def settle(self, timeout: float = 30.0) -> list[Delivery]:
        """Deliver until no source queue has a message visible or in flight and no stream has a record left (a failed
        record comes back after its visibility timeout, until the redrive policy moves it to its DLQ)."""
        deadline = time.monotonic() + timeout
        deliveries: list[Delivery] = []
        while True:
            delivered = [d for d in (p.poll_once() for p in self.pollers) if d is not None]
            for delivery in delivered:
                self._on_delivery(delivery)
            deliveries += delivered
            if not delivered and not any(p.busy() for p in self.pollers):
                return deliveries
            if time.monotonic() > deadline:
                raise TimeoutError(f"queues still busy after {timeout} s")
            if not delivered:
                time.sleep(0.1)

    def start(self, interval: float = 0.5, schedule_every: float | None = None) -> None:
        """Poll every queue and stream in threads; with `schedule_every`, also run each enabled schedule that often
        (standing for its expression, which would mostly be too slow to watch)."""
        self._stop.clear()
        for poller in self.pollers:
            self._thread(f"poller-{poller.function.logical_id}", self._poll_forever, poller, interval)
        if schedule_every:
            for schedule in self.stack.schedules:
                if schedule.enabled:
                    self._thread(f"poller-schedule-{schedule.function}", self._run_every, schedule, schedule_every)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling (and running the schedules); an invocation under way finishes first (up to `timeout` in all).
        The HTTP API keeps serving: `close` stops it too."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        threads, self._threads = self._threads, []  # stop() may run in two threads at once (a signal's halt, close)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float = 5.0) -> None:
        """Stop everything: the pollers, the schedules and the HTTP API (its port is freed)."""
        if self.http_api is not None:
            self.http_api.stop()
            self._serving = False
        self.stop(timeout)

    def _thread(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_forever(self, poller: FunctionPoller | StreamPoller, interval: float) -> None:
        while not self._stop.is_set():
            try:
                delivery = poller.poll_once()
            except Exception:  # moto stopping, or a bug: keep the poller alive, as Lambda's would be
                if self._stop.is_set():
                    return
                log.exception("polling %s failed", poller.name)
                delivery = None
            if delivery is not None:
                self._on_delivery(delivery)
            if delivery is None or getattr(delivery.invocation, "retried", None):  # a failed stream batch: not at once
                self._stop.wait(interval)

    def _run_every(self, schedule: Schedule, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self.run_schedule(schedule)
