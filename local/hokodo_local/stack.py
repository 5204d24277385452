"""moto server as the embedded AWS, and the bundle's resources created in it from template.yaml.

The template is translated (SAM -> CloudFormation) and created with moto's CloudFormation; what
the stack then holds is read back from moto's own APIs (queues, table, functions with their
resolved environment, event source mappings). The template is read directly only for what moto
cannot say: where each function's code is on disk (its CodeUri, replaced by a placeholder for moto),
and what moto's CloudFormation skips without an error (see `_fall_back`).
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

from .template import SamFunction, SamTemplate

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
    environment: dict[str, str]  # as moto resolved it, plus what moto skipped (see _fall_back)


@dataclass(frozen=True)
class EventSourceMapping:
    uuid: str
    function: str  # logical id
    queue: str  # logical id
    batch_size: int
    batching_window_seconds: int
    report_batch_item_failures: bool
    maximum_concurrency: int | None


@dataclass
class Stack:
    name: str
    endpoint: str
    queues: dict[str, Queue] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    functions: dict[str, Function] = field(default_factory=dict)
    mappings: list[EventSourceMapping] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    not_emulated: dict[str, str] = field(default_factory=dict)  # logical id -> resource type
    unresolved: list[str] = field(default_factory=list)  # environment variables left out: they refer to what is not emulated

    def queue_by_arn(self, arn: str) -> Queue | None:
        return next((q for q in self.queues.values() if q.arn == arn), None)

    def dead_letter_queue(self, queue: Queue) -> Queue | None:
        return self.queue_by_arn(queue.dead_letter_arn) if queue.dead_letter_arn else None

    def mapping_for(self, function_logical_id: str) -> EventSourceMapping | None:
        return next((m for m in self.mappings if m.function == function_logical_id), None)


def create_stack(
    moto: MotoServer, template: SamTemplate, parameters: dict[str, str], *, api_key: str, visibility_timeout: int | None
) -> Stack:
    """Reset moto, create the template's stack in it, and describe what it holds.

    `api_key` goes into the template's secret; `visibility_timeout` (seconds), when given, replaces
    the source queues' VisibilityTimeout (the template's 200 s would hide a redelivery for over 3 minutes).
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
    stack = Stack(name=STACK_NAME, endpoint=moto.endpoint)
    _read_queues(moto, stack, created, visibility_timeout)
    _read_tables(stack, created)
    _fall_back(moto, stack, resources, created, api_key)
    _read_functions(moto, stack, template, resources, created)
    _read_and_disable_mappings(moto, stack)
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


def _read_queues(moto: MotoServer, stack: Stack, created: dict, visibility_timeout: int | None) -> None:
    sqs = moto.client("sqs")
    for logical_id, resource in created.items():
        if resource["ResourceType"] != "AWS::SQS::Queue":
            continue
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


def _read_tables(stack: Stack, created: dict) -> None:
    for logical_id, resource in created.items():
        if resource["ResourceType"] == "AWS::DynamoDB::Table":
            stack.tables[logical_id] = resource["PhysicalResourceId"]


def _fall_back(moto: MotoServer, stack: Stack, resources: dict, created: dict, api_key: str) -> None:
    """Resources moto's CloudFormation skipped (it only logs a line), read from the translated template.

    - AWS::SecretsManager::Secret: moto cannot create it from a template, and every `!Ref` to it
      (HOKODO_API_KEY_SECRET) resolves to None and is dropped from the functions' environment. We create
      it through the Secrets Manager API under its logical id, holding the emulator's API key; its ARN
      (what `!Ref` gives on AWS) is filled into the environment in `_read_functions`.
    - Everything else skipped (CloudWatch alarms; later QueuePolicy, ApiGatewayV2...) is listed as
      not emulated.
    """
    secretsmanager = moto.client("secretsmanager")
    for logical_id, resource in resources.items():
        if logical_id in created:
            continue
        if resource["Type"] == "AWS::SecretsManager::Secret":
            stack.secrets[logical_id] = secretsmanager.create_secret(
                Name=logical_id, Description="local stack: the Hokodo emulator's API key", SecretString=api_key
            )["ARN"]
        else:
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
                environment[variable] = stack.secrets[target]
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
    """Read each function's SQS event source mappings, then disable them: moto's own would invoke the
    function in Docker on every send_message, fail, and push the message toward its DLQ. The local
    runner polls the queues instead."""
    awslambda = moto.client("lambda")
    for function in stack.functions.values():
        for mapping in awslambda.list_event_source_mappings(FunctionName=function.name)["EventSourceMappings"]:
            queue = stack.queue_by_arn(mapping["EventSourceArn"])
            if queue is None:
                continue
            awslambda.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
            stack.mappings.append(
                EventSourceMapping(
                    uuid=mapping["UUID"],
                    function=function.logical_id,
                    queue=queue.logical_id,
                    batch_size=int(mapping["BatchSize"]),
                    batching_window_seconds=int(mapping.get("MaximumBatchingWindowInSeconds", 0)),
                    report_batch_item_failures="ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", []),
                    maximum_concurrency=mapping.get("ScalingConfig", {}).get("MaximumConcurrency"),
                )
            )
