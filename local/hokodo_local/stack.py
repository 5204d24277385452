"""moto server as the embedded AWS, and the bundle's resources created in it from template.yaml.

The template is translated (SAM -> CloudFormation) and created with moto's CloudFormation; what
the stack then holds is read back from moto's own APIs (queues, table, bucket, bus and rules, functions
with their resolved environment, event source mappings). The template is read directly only for what
moto cannot say: where each function's code is on disk (its CodeUri, replaced by a placeholder for moto),
the functions' HttpApi routes and schedules, and what moto's CloudFormation skips or ignores without an
error (done here through the services' APIs: stand_ins.py).
"""

from __future__ import annotations

import errno
import functools
import io
import json
import logging
import socket
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
from moto.server import ThreadedMotoServer

from . import stand_ins
from .intrinsics import Resolver
from .template import SERVERLESS_FUNCTION, SamFunction, SamTemplate

REGION = "eu-west-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # noqa: S105 - moto's fake credentials
STACK_NAME = "hokodo-local"
ARTIFACTS_BUCKET = "hokodo-local-artifacts"
PLACEHOLDER_KEY = "placeholder.zip"


_DYNAMODB_WRITES = threading.RLock()


def _serialise_dynamodb_writes() -> None:
    """DynamoDB applies each conditional write atomically; moto server checks the condition and writes without a lock,
    so two concurrent requests can both pass the same condition. The bundle's leases and idempotency records rely on
    DynamoDB's behaviour, so moto's writes (and reads, so none sees half a write) run one at a time in this process."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "get_item", "query"):
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "_serialised", False):
            continue

        def serialised(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with _DYNAMODB_WRITES:
                return _method(*args, **kwargs)

        serialised._serialised = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, serialised)


def _honour_disabled_stream_mappings() -> None:
    """moto invokes the function of a DynamoDB stream's event source mapping on every write even when the mapping is
    disabled (in Docker, which fails here), and when the invocation returns anything, which a failure does, it empties
    the stream, so the local stream poller would never see a record. A disabled mapping is left alone from now on."""
    from moto.awslambda.models import LambdaBackend

    send = LambdaBackend.send_dynamodb_items
    if getattr(send, "_honours_disabled", False):
        return

    def send_dynamodb_items(self: Any, function_arn: str, items: list, source: str) -> Any:
        mappings = [
            m for m in self._event_source_mappings.values() if (m.function_arn, m.event_source_arn) == (function_arn, source)
        ]
        if mappings and not any(m.enabled for m in mappings):
            return ""  # nothing invoked: the stream keeps its records
        return send(self, function_arn, items, source)

    send_dynamodb_items._honours_disabled = True  # type: ignore[attr-defined]
    LambdaBackend.send_dynamodb_items = send_dynamodb_items


class MotoServer:
    """moto in a thread of this process, on 127.0.0.1 (port 0: a free one)."""

    def __init__(self, port: int = 0):
        self._port = port
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.endpoint = ""

    def start(self) -> str:
        if self._port and not _can_listen(self._port):  # ThreadedMotoServer would wait forever for its thread
            raise OSError(errno.EADDRINUSE, f"moto server: 127.0.0.1:{self._port} is in use")
        for name in ("werkzeug", "moto"):  # a line per request; a line per resource its CloudFormation skips
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        _serialise_dynamodb_writes()
        _honour_disabled_stream_mappings()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    def reset(self) -> None:
        httpx.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def refuse(self) -> None:
        """Answer every request from now on with an error that AWS clients do not retry, so that each call
        fails at once, even on a kept-alive connection (a closed port would be retried with backoff)."""
        wsgi_server = getattr(self._server, "_server", None)
        if wsgi_server is not None:
            wsgi_server.app = _refusing_app

    def stop(self) -> None:
        if not self.endpoint:
            return
        self._server.stop()
        # ThreadedMotoServer.stop() shuts the serve loop down but leaves the listening socket open.
        wsgi_server = getattr(self._server, "_server", None)
        if wsgi_server is not None:
            wsgi_server.server_close()
        self.endpoint = ""

    def client(self, service: str) -> Any:
        return aws_client(service, self.endpoint)


def _refusing_app(environ: dict, start_response: Any) -> list[bytes]:
    body = b'{"__type": "LocalStackHalted", "message": "the local stack was halted"}'
    start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))])
    return [body]


def _can_listen(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def aws_client(service: str, endpoint: str) -> Any:
    """A boto3 client of moto that does not depend on this process's environment."""
    return _session().client(service, endpoint_url=endpoint)


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session(region_name=REGION, **CREDENTIALS)  # one: each new session loads botocore's models again


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    visibility_timeout: int
    dead_letter_arn: str | None = None
    max_receive_count: int | None = None


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    source: SamFunction  # where its code is on disk
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]  # as moto resolved it, plus what moto skipped (see stand_ins.py)


@dataclass(frozen=True)
class EventSourceMapping:
    """An SQS event source mapping."""

    uuid: str
    function: str  # logical id
    queue: str  # logical id
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass(frozen=True)
class StreamMapping:
    """A DynamoDB stream event source mapping."""

    uuid: str
    function: str  # logical id
    table: str  # logical id
    stream_arn: str
    batch_size: int
    starting_position: str
    report_batch_item_failures: bool
    filters: tuple[str, ...]  # FilterCriteria patterns: a record is delivered when one matches (all, when none)
    maximum_retry_attempts: int | None  # None: until the record expires
    on_failure: str | None  # DestinationConfig.OnFailure: where a batch goes once its retries are exhausted (an SQS ARN)


@dataclass(frozen=True)
class Secret:
    logical_id: str
    arn: str
    value: str  # what the local stack put in it
    generated_key: str | None = None  # the JSON key of the generated value (GenerateSecretString's GenerateStringKey)

    @property
    def generated(self) -> str:
        """The generated value: the whole secret, or its generated key's value when it is JSON."""
        return json.loads(self.value)[self.generated_key] if self.generated_key else self.value


@dataclass(frozen=True)
class BucketNotification:
    queue: str  # logical id
    events: tuple[str, ...]


@dataclass(frozen=True)
class Bucket:
    logical_id: str
    name: str
    arn: str
    notifications: tuple[BucketNotification, ...] = ()


@dataclass(frozen=True)
class EventBus:
    logical_id: str
    name: str
    arn: str
    rules: dict[str, str]  # the template's rules on it: logical id -> name
    targets: dict[str, tuple[str, ...]]  # the template's rules -> the stack's queues they deliver to (logical ids)
    read_back: Queue  # the local stack's own: every event of the template's EventSource, to read what was published
    read_back_rule: str


@dataclass(frozen=True)
class HttpRoute:
    """A function's HttpApi event: API Gateway (HTTP API, payload format 2.0) invokes it for this route."""

    function: str  # logical id
    api: str  # logical id of the AWS::Serverless::HttpApi (ServerlessHttpApi: SAM's implicit one)
    method: str  # POST, or ANY
    path: str  # /webhooks/hokodo/{secret}


@dataclass(frozen=True)
class Schedule:
    """An EventBridge Scheduler schedule (a function's ScheduleV2 event): the function, invoked with `input`."""

    logical_id: str  # the translated AWS::Scheduler::Schedule
    function: str  # logical id
    name: str
    expression: str  # rate(1 hour), cron(...)
    timezone: str | None
    input: str | None  # the target's Input: the event, as JSON
    enabled: bool

    def event(self) -> Any:
        return json.loads(self.input) if self.input else {}


@dataclass
class Stack:
    name: str
    endpoint: str
    queues: dict[str, Queue] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    buckets: dict[str, Bucket] = field(default_factory=dict)
    event_buses: dict[str, EventBus] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    mappings: list[EventSourceMapping] = field(default_factory=list)
    stream_mappings: list[StreamMapping] = field(default_factory=list)
    http_routes: list[HttpRoute] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    secrets: dict[str, Secret] = field(default_factory=dict)
    stood_in_for: dict[str, str] = field(default_factory=dict)  # logical id -> what the local stack does in moto's place
    not_emulated: dict[str, str] = field(default_factory=dict)  # logical id -> resource type (why: stand_ins.NOT_EMULATED_WHY)
    unresolved: list[str] = field(default_factory=list)  # environment variables left out: they refer to what is not emulated
    translated: dict[str, Any] = field(default_factory=dict, repr=False)  # the template as created (SAM translated)
    resolver: Resolver | None = field(default=None, repr=False)  # the template's intrinsics, as this stack resolves them

    def queue_by_arn(self, arn: str) -> Queue | None:
        return next((q for q in self.queues.values() if q.arn == arn), None)

    def dead_letter_queue(self, queue: Queue) -> Queue | None:
        return self.queue_by_arn(queue.dead_letter_arn) if queue.dead_letter_arn else None

    def mapping_for(self, function_logical_id: str) -> EventSourceMapping | None:
        return next((m for m in self.mappings if m.function == function_logical_id), None)

    def bucket_notifying(self, queue_logical_id: str) -> Bucket | None:
        return next((b for b in self.buckets.values() if any(n.queue == queue_logical_id for n in b.notifications)), None)

    def route_for(self, function_logical_id: str) -> HttpRoute | None:
        return next((r for r in self.http_routes if r.function == function_logical_id), None)

    def schedule_for(self, function_logical_id: str) -> Schedule | None:
        return next((s for s in self.schedules if s.function == function_logical_id), None)

    def secret_by_arn(self, arn: str) -> Secret | None:
        return next((s for s in self.secrets.values() if s.arn == arn), None)

    def route_secret(self, route: HttpRoute) -> Secret | None:
        """The generated JSON secret the route's function reads from its environment (the notification URL's secret)."""
        environment = self.functions[route.function].environment.values()
        return next((s for s in map(self.secret_by_arn, environment) if s is not None and s.generated_key), None)


def create_stack(
    moto: MotoServer, template: SamTemplate, parameters: dict[str, str], *, api_key: str, visibility_timeout: int | None
) -> Stack:
    """Reset moto, create the template's stack in it, do what moto's CloudFormation skips, and describe what it holds.

    `api_key` goes into the secret the functions read Hokodo's API key from; `visibility_timeout` (seconds), when given,
    replaces the source queues' VisibilityTimeout (the template's 200 s would hide a redelivery for over 3 minutes).
    """
    moto.reset()
    translated = template.translate(_upload_placeholder(moto), parameters, REGION)
    resources = translated["Resources"]
    cloudformation = moto.client("cloudformation")
    cloudformation.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(translated),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    _wait_for_stack(cloudformation)
    created = {
        r["LogicalResourceId"]: r
        for r in cloudformation.list_stack_resources(StackName=STACK_NAME)["StackResourceSummaries"]
        if r.get("LogicalResourceId")
    }
    stack = Stack(name=STACK_NAME, endpoint=moto.endpoint, translated=translated)
    values = template.parameter_values(parameters)
    stack_id = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackId"]
    resolver = Resolver(
        stack_name=STACK_NAME, region=REGION, parameters=values, conditions=translated.get("Conditions", {}), stack_id=stack_id
    )
    stack.resolver = resolver
    _read_queues(moto, stack, created, visibility_timeout, resolver)
    _read_tables(moto, stack, resources, created, resolver)
    _read_event_buses(moto, stack, resources, created, resolver, event_source=values.get("EventSource"))
    _stand_in_for_skipped(moto, stack, resources, created, resolver, api_key=api_key)
    _read_functions(moto, stack, template, resources, created)
    _read_and_disable_mappings(moto, stack)
    _read_buckets(moto, stack, resources, created, resolver)  # after: S3 sends a test event when notifications are set
    _read_http_routes(stack, template)
    _read_schedules(stack, resources, created, resolver)
    return stack


def _upload_placeholder(moto: MotoServer) -> str:
    """The zip every CodeUri/ContentUri points at (see SamTemplate.translate): moto never runs the code."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "placeholder: the local runner imports the handlers from disk\n")
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=ARTIFACTS_BUCKET, Key=PLACEHOLDER_KEY, Body=buffer.getvalue())
    return f"s3://{ARTIFACTS_BUCKET}/{PLACEHOLDER_KEY}"


def _wait_for_stack(cloudformation: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackStatus"]
        if status == "CREATE_COMPLETE":
            return
        if not status.endswith("IN_PROGRESS") or time.monotonic() > deadline:
            events = cloudformation.describe_stack_events(StackName=STACK_NAME)["StackEvents"]
            reasons = [
                f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events if "FAILED" in e["ResourceStatus"]
            ]
            raise RuntimeError(f"moto CloudFormation: stack {status}; {reasons}")
        time.sleep(0.05)


def _of_type(created: dict, resource_type: str) -> dict[str, dict]:
    return {logical_id: r for logical_id, r in created.items() if r["ResourceType"] == resource_type}


def _read_queues(moto: MotoServer, stack: Stack, created: dict, visibility_timeout: int | None, resolver: Resolver) -> None:
    sqs = moto.client("sqs")
    for logical_id, resource in _of_type(created, "AWS::SQS::Queue").items():
        # The physical id is the queue URL on AWS's host; ask moto for its own URL of that queue.
        name = urlsplit(resource["PhysicalResourceId"]).path.rsplit("/", 1)[-1]
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes.get("RedrivePolicy") or "{}")
        if redrive and visibility_timeout is not None:  # a source queue (it has a DLQ): local override
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": str(visibility_timeout)})
            attributes["VisibilityTimeout"] = str(visibility_timeout)
        stack.queues[logical_id] = Queue(
            logical_id=logical_id,
            name=name,
            url=url,
            arn=attributes["QueueArn"],
            visibility_timeout=int(attributes["VisibilityTimeout"]),
            dead_letter_arn=redrive.get("deadLetterTargetArn"),
            max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
        )
        resolver.know(logical_id, url, Arn=attributes["QueueArn"], QueueName=name, QueueUrl=url)


def _read_tables(moto: MotoServer, stack: Stack, resources: dict, created: dict, resolver: Resolver) -> None:
    dynamodb = moto.client("dynamodb")
    for logical_id, resource in _of_type(created, "AWS::DynamoDB::Table").items():
        name = resource["PhysicalResourceId"]
        stack.tables[logical_id] = name
        table = dynamodb.describe_table(TableName=name)["Table"]
        stream = {"StreamArn": table["LatestStreamArn"]} if "LatestStreamArn" in table else {}
        resolver.know(logical_id, name, Arn=table["TableArn"], **stream)
        applied = stand_ins.apply_table_settings(dynamodb, name, resources[logical_id]["Properties"], resolver)
        if applied:
            stack.stood_in_for[logical_id] = f"{', '.join(applied)} applied with the DynamoDB API"


def _read_buckets(moto: MotoServer, stack: Stack, resources: dict, created: dict, resolver: Resolver) -> None:
    """Each bucket moto created (its name is moto's), with the settings moto's CloudFormation ignores applied."""
    s3 = moto.client("s3")
    buckets = _of_type(created, "AWS::S3::Bucket")
    for logical_id, resource in buckets.items():  # first all: a bucket may name another (its access log bucket)
        name = resource["PhysicalResourceId"]
        resolver.know(logical_id, name, Arn=f"arn:aws:s3:::{name}", DomainName=f"{name}.s3.amazonaws.com")
    for logical_id, resource in buckets.items():
        name = resource["PhysicalResourceId"]
        arn = f"arn:aws:s3:::{name}"
        properties = resources[logical_id].get("Properties", {})
        applied = stand_ins.apply_bucket_settings(s3, name, properties, resolver)
        if applied:
            stack.stood_in_for[logical_id] = f"{', '.join(applied)} applied with the S3 API"
        configurations = resolver.resolve(properties.get("NotificationConfiguration", {})).get("QueueConfigurations", [])
        queues = [(stack.queue_by_arn(c["Queue"]), c["Event"]) for c in configurations]
        notifications = tuple(BucketNotification(queue.logical_id, (event,)) for queue, event in queues if queue is not None)
        stack.buckets[logical_id] = Bucket(logical_id=logical_id, name=name, arn=arn, notifications=notifications)


def _read_event_buses(
    moto: MotoServer, stack: Stack, resources: dict, created: dict, resolver: Resolver, *, event_source: str | None
) -> None:
    """Each bus and its rules, as moto created them; plus, on each bus, a rule of the local stack's own sending every
    event with the template's EventSource to a queue it creates, so that what was published can be read back. (Never a
    Lambda target: moto answers PutEvents with HTTP 500 when a matching rule has one.)"""
    events, sqs = moto.client("events"), moto.client("sqs")
    for logical_id in _of_type(created, "AWS::Events::EventBus"):
        # moto leaves the bus's physical id empty: its Name property says which bus it is.
        name = resolver.resolve(resources[logical_id]["Properties"]["Name"])
        arn = events.describe_event_bus(Name=name)["Arn"]
        resolver.know(logical_id, name, Name=name, Arn=arn)
        rules = {r["Name"]: r["Arn"] for r in events.list_rules(EventBusName=name)["Rules"]}
        template_rules, targets = {}, {}
        for rule_id, rule in _of_type(created, "AWS::Events::Rule").items():
            if rule["PhysicalResourceId"] in rules:
                resolver.know(rule_id, rule["PhysicalResourceId"], Arn=rules[rule["PhysicalResourceId"]])
                template_rules[rule_id] = rule["PhysicalResourceId"]
                arns = [
                    t["Arn"] for t in events.list_targets_by_rule(Rule=rule["PhysicalResourceId"], EventBusName=name)["Targets"]
                ]
                targets[rule_id] = tuple(q.logical_id for q in map(stack.queue_by_arn, arns) if q is not None)
        queue_name = f"{STACK_NAME}-{logical_id}-published"
        url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule_name = f"{STACK_NAME}-read-back"
        pattern = {"source": [event_source]} if event_source else {"source": [{"prefix": ""}]}
        events.put_rule(Name=rule_name, EventBusName=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=rule_name, EventBusName=name, Targets=[{"Id": "read-back", "Arn": queue_arn}])
        read_back = Queue(logical_id=queue_name, name=queue_name, url=url, arn=queue_arn, visibility_timeout=30)
        stack.event_buses[logical_id] = EventBus(logical_id, name, arn, template_rules, targets, read_back, rule_name)


def _stand_in_for_skipped(
    moto: MotoServer, stack: Stack, resources: dict, created: dict, resolver: Resolver, *, api_key: str
) -> None:
    """Resources moto's CloudFormation skipped (it only logs a line), from the translated template (see stand_ins.py).
    Whatever refers to a secret gets its ARN (what `!Ref` gives on AWS): the environment, in `_read_functions`."""
    secretsmanager, sqs = moto.client("secretsmanager"), moto.client("sqs")
    holds_api_key = stand_ins.api_key_secrets(resources)
    skipped = {  # a resource whose Condition is false is not created on AWS either
        logical_id: r
        for logical_id, r in resources.items()
        if logical_id not in created and ("Condition" not in r or resolver.condition(r["Condition"]))
    }
    for logical_id, resource in skipped.items():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            properties = resource.get("Properties", {})
            value, key = stand_ins.secret_value(
                secretsmanager, properties, api_key=api_key if logical_id in holds_api_key else None
            )
            description = "local stack: " + ("the Hokodo emulator's API key" if logical_id in holds_api_key else logical_id)
            arn = secretsmanager.create_secret(Name=logical_id, Description=description, SecretString=value)["ARN"]
            stack.secrets[logical_id] = Secret(logical_id, arn, value, key)
            resolver.know(logical_id, arn, Id=arn)
            stack.stood_in_for[logical_id] = "created with the Secrets Manager API"
    for logical_id, resource in skipped.items():
        if resource["Type"] == "AWS::SQS::QueuePolicy":
            stand_ins.apply_queue_policy(sqs, resource["Properties"], resolver)
            stack.stood_in_for[logical_id] = "set as its queues' Policy attribute (moto evaluates no access policy)"
        elif resource["Type"] in stand_ins.STOOD_IN_BY_THE_RUNNER:
            stack.stood_in_for[logical_id] = stand_ins.STOOD_IN_BY_THE_RUNNER[resource["Type"]]
        elif resource["Type"] != "AWS::SecretsManager::Secret":
            stack.not_emulated[logical_id] = resource["Type"]


def _read_functions(moto: MotoServer, stack: Stack, template: SamTemplate, resources: dict, created: dict) -> None:
    awslambda = moto.client("lambda")
    sources = template.functions()
    for logical_id, source in sources.items():
        name = created[logical_id]["PhysicalResourceId"]
        configuration = awslambda.get_function_configuration(FunctionName=name)
        environment = {k: str(v) for k, v in configuration.get("Environment", {}).get("Variables", {}).items()}
        declared = resources[logical_id]["Properties"].get("Environment", {}).get("Variables", {})
        for variable in declared.keys() - environment.keys():  # moto dropped it: it refers to a skipped resource
            target = declared[variable].get("Ref") if isinstance(declared[variable], dict) else None
            if target in stack.secrets:
                environment[variable] = stack.secrets[target].arn
            else:
                stack.unresolved.append(f"{logical_id}: {variable} ({json.dumps(declared[variable])})")
        stack.functions[logical_id] = Function(
            logical_id=logical_id,
            name=name,
            source=source,
            timeout_seconds=int(configuration["Timeout"]),
            memory_mb=int(configuration["MemorySize"]),
            environment=environment,
        )


def _read_and_disable_mappings(moto: MotoServer, stack: Stack) -> None:
    """Read each function's event source mappings (SQS queues, DynamoDB streams), then disable them: moto's own would
    invoke the function in Docker on every message or write, fail, and push the message toward its DLQ (or empty the
    stream). The local runner polls the queues and streams instead."""
    awslambda, dynamodb = moto.client("lambda"), moto.client("dynamodb")
    streams = {dynamodb.describe_table(TableName=name)["Table"].get("LatestStreamArn"): lid for lid, name in stack.tables.items()}
    for function in stack.functions.values():
        for mapping in awslambda.list_event_source_mappings(FunctionName=function.name)["EventSourceMappings"]:
            source = mapping["EventSourceArn"]
            queue, table = stack.queue_by_arn(source), streams.get(source)
            if queue is None and table is None:
                continue
            awslambda.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
            report_failures = "ReportBatchItemFailures" in (mapping.get("FunctionResponseTypes") or [])
            if queue is not None:
                stack.mappings.append(
                    EventSourceMapping(
                        uuid=mapping["UUID"],
                        function=function.logical_id,
                        queue=queue.logical_id,
                        batch_size=int(mapping["BatchSize"]),
                        batching_window_seconds=int(mapping.get("MaximumBatchingWindowInSeconds") or 0),
                        report_batch_item_failures=report_failures,
                        maximum_concurrency=(mapping.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                    )
                )
                continue
            retries = mapping.get("MaximumRetryAttempts")
            stack.stream_mappings.append(
                StreamMapping(
                    uuid=mapping["UUID"],
                    function=function.logical_id,
                    table=table,
                    stream_arn=source,
                    batch_size=int(mapping["BatchSize"]),
                    starting_position=mapping.get("StartingPosition") or "TRIM_HORIZON",
                    report_batch_item_failures=report_failures,
                    filters=tuple(f["Pattern"] for f in ((mapping.get("FilterCriteria") or {}).get("Filters") or [])),
                    maximum_retry_attempts=None if retries in (None, -1) else int(retries),
                    on_failure=((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
                )
            )


def _read_http_routes(stack: Stack, template: SamTemplate) -> None:
    """Each function's HttpApi events, from the template (moto's CloudFormation skips AWS::ApiGatewayV2::*)."""
    for logical_id, resource in template.of_type(SERVERLESS_FUNCTION).items():
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            properties = event.get("Properties", {})
            api = properties.get("ApiId", {"Ref": "ServerlessHttpApi"})
            stack.http_routes.append(
                HttpRoute(
                    function=logical_id,
                    api=api["Ref"] if isinstance(api, dict) else str(api),
                    method=str(properties.get("Method", "ANY")).upper(),
                    path=properties.get("Path", "$default"),
                )
            )


def _read_schedules(stack: Stack, resources: dict, created: dict, resolver: Resolver) -> None:
    """The schedules a ScheduleV2 event becomes (AWS::Scheduler::Schedule, which moto's CloudFormation skips), with
    their expression and the Input the function is invoked with."""
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Scheduler::Schedule" or logical_id in created:
            continue
        properties = resolver.resolve({k: v for k, v in resource["Properties"].items() if k != "Target"})
        target = resource["Properties"]["Target"]
        function = target["Arn"]["Fn::GetAtt"][0] if isinstance(target["Arn"], dict) else None
        if function not in stack.functions:
            stack.not_emulated[logical_id] = resource["Type"]  # a target other than one of the stack's functions
            stack.stood_in_for.pop(logical_id, None)
            continue
        stack.schedules.append(
            Schedule(
                logical_id=logical_id,
                function=function,
                name=properties.get("Name", logical_id),
                expression=properties["ScheduleExpression"],
                timezone=properties.get("ScheduleExpressionTimezone"),
                input=resolver.resolve(target.get("Input")),
                enabled=properties.get("State", "ENABLED") == "ENABLED",
            )
        )
