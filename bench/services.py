"""What the bench runs against, each in a process of its own as in production: moto server (AWS), the Hokodo
emulator (with a fixed latency), and one process per function (`Container`, a Lambda execution environment).
`Aws` creates the resources in moto as template.yaml does, and gives each function the environment it gets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
REGION = "eu-west-1"
API_KEY = f"bench-{uuid.uuid4().hex}"
TIMEOUTS = {"documents": 120, "webhooks": 10, "reconciliation": 120, "tracking": 60}  # template.yaml; others 30
MEMORY_MB = 512  # template.yaml's Globals
QUEUE_FUNCTIONS = ("shipments", "returns", "cancellations", "documents", "sync")  # each its queue and DLQ
SYNC_QUEUE_FUNCTIONS = ("webhooks", "tracking", "reconciliation")  # put deferred payments on the sync queue
BUS, SOURCE = "hokodo-events", "hokodo.postsale"


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_ms(self) -> float:
        """CPU time the server's process has used so far, all its threads, the ended ones too (clock ticks: sampled
        every 10 ms, so only a sum over many intervals is accurate)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


@contextmanager
def process(args: list[str], pythonpath: str, stderr: Any = None):
    """A Python subprocess that prints what it serves on its first line (yielded as a Server); stopped on exit."""
    env = {**os.environ, "PYTHONPATH": pythonpath}
    child = subprocess.Popen(
        [sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, text=True
    )
    try:
        first = child.stdout.readline().strip()
        if not first:
            raise RuntimeError(f"{args[:2]} did not start")
        yield Server(first, child.pid)
    finally:
        child.terminate()
        child.wait(10)


def moto_server():
    """moto server in its own process, with the local stack's patch that makes DynamoDB's conditional writes atomic, and
    the bench's (moto_patches.py) that makes an SQS send cost the same however many messages the queue holds."""
    code = (
        "import moto_patches; moto_patches.apply(); from hokodo_local.stack import MotoServer; "
        "print(MotoServer().start(), flush=True); import sys; sys.stdin.read()"
    )
    return process(["-c", code], f"{ROOT / 'local'}{os.pathsep}{ROOT / 'bench'}", stderr=subprocess.DEVNULL)


def emulator(latency_ms: float):
    args = ["-m", "hokodo_emulator", "--port", "0", "--latency-ms", str(latency_ms), "--quiet", "--webhook-attempts", "1"]
    return process([*args, "--api-key", API_KEY], str(ROOT / "emulator"), stderr=subprocess.DEVNULL)


def lambda_like_path() -> Path:
    """What a function sees on Lambda: the layer's requirements plus the runtime's boto3, and nothing else
    (the dev venv also has awscrt, click and rich, which make boto3 and httpx import slower). Compiled (pip
    writes bytecode), as the runtime's own boto3 is."""
    return _pip_target("bench-lambda-like", "boto3")


def no_bytecode_path() -> Path:
    """The layer's requirements as sam's Python builder would ship them: wheels unpacked without bytecode (aws-lambda-builders
    extracts them and leaves out every __pycache__), so on Lambda, whose /opt is read-only, each cold start
    compiles them again."""
    return _pip_target("bench-lambda-no-bytecode", "--no-compile")


def _pip_target(name: str, *extra: str) -> Path:
    """A `pip install --target` of the layer's requirements (and `extra`), once per version of them."""
    requirements = ROOT / "layers/postsale/requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes() + repr(extra).encode()).hexdigest()[:10]
    target = ROOT / ".venv" / f"{name}-{digest}"
    if not (target / ".complete").exists():
        pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-warn-conflicts"]
        command = [*pip, "--upgrade", "--target", str(target), "-r", str(requirements), *extra]
        done = subprocess.run(command, check=False, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"pip could not install the layer's requirements into {target}:\n{done.stderr}")
        (target / ".complete").touch()
    return target


def function_path(function: str, layer_source: Path | None = None) -> list[str]:
    """sys.path of a function on Lambda: its code (/var/task), the layer (/opt/python), the runtime's boto3.
    With `layer_source` (a copy of the layer's package without bytecode): the layer as sam's Python builder would ship it."""
    if layer_source is None:
        return [str(ROOT / "functions" / function), str(ROOT / "layers/postsale"), str(lambda_like_path())]
    return [str(ROOT / "functions" / function), str(layer_source), str(no_bytecode_path()), str(lambda_like_path())]


def layer_source_copy(into: Path) -> Path:
    """The layer's package copied without its __pycache__, as sam's Python builder copies it."""
    shutil.copytree(
        ROOT / "layers/postsale/hokodo_postsale", into / "hokodo_postsale", ignore=shutil.ignore_patterns("__pycache__")
    )
    return into


def lambda_environment(function: str, names: dict[str, str], endpoint: str | None = None) -> dict[str, str]:
    """The function's environment as the template and Lambda's runtime set it (`names`: the resources' names)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": f"bench-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
        "POWERTOOLS_SERVICE_NAME": "hokodo-postsale",
        "POWERTOOLS_METRICS_NAMESPACE": "HokodoPostSale",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "HOKODO_BASE_URL": names.get("hokodo", "https://api-sandbox.hokodo.co/v1/"),
        "HOKODO_API_KEY_SECRET": names.get("api_key_secret", "hokodo-api-key"),
        "IDEMPOTENCY_TABLE": "idempotency",
        "IDEMPOTENCY_TTL_SECONDS": "1209600",
        "FULFILMENT_POLICY": "partial_sometimes_cancel",
        "MAX_RECEIVE_COUNT": "5",
        "OUT_OF_ORDER_MAX_RECEIVES": "3",
        "MAX_AMOUNT": "1000000000",
        "KEY_TRUST_SECONDS": "86400",
    }
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    if function in QUEUE_FUNCTIONS:
        env["DEAD_LETTER_QUEUE_URL"] = names.get(f"{function}_dlq", f"https://sqs.{REGION}.amazonaws.com/123456789012/dlq")
    if function == "documents":
        env |= {"MAX_DOCUMENT_BYTES": "25000000", "BATCH_CONCURRENCY": "4"}
    if function in SYNC_QUEUE_FUNCTIONS:
        env["SYNC_QUEUE_URL"] = names.get("sync_queue", f"https://sqs.{REGION}.amazonaws.com/123456789012/sync")
    if function == "sync":
        env |= {"EVENT_BUS_NAME": BUS, "EVENT_SOURCE": SOURCE}
    if function == "webhooks":
        env["WEBHOOK_SECRET"] = names.get("webhook_secret", "webhook-url-secret")
    return env


class Aws:
    """The bundle's resources in moto, created as template.yaml creates them."""

    def __init__(self, endpoint: str, hokodo_base_url: str):
        self.endpoint = endpoint
        session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")  # noqa: S106
        self.client = lambda service: session.client(service, endpoint_url=endpoint)
        self.sqs, self.s3, self.dynamodb = self.client("sqs"), self.client("s3"), self.client("dynamodb")
        self.names = {
            "hokodo": hokodo_base_url + "/v1/",
            "api_key_secret": "hokodo-api-key",
            "webhook_secret": "webhook-url-secret",
        }
        self.queues: dict[str, tuple[str, str]] = {}  # function -> (url, arn)
        self.url_secret = uuid.uuid4().hex

    def create(self) -> Aws:
        sys.path.insert(0, str(ROOT / "tests"))
        from conftest import IDEMPOTENCY_TABLE  # the table as template.yaml defines it: GSI and stream

        self.dynamodb.create_table(**IDEMPOTENCY_TABLE)
        secrets = self.client("secretsmanager")
        secrets.create_secret(Name=self.names["api_key_secret"], SecretString=API_KEY)
        secrets.create_secret(
            Name=self.names["webhook_secret"], SecretString=json.dumps({"current": self.url_secret, "previous": ""})
        )
        for function in QUEUE_FUNCTIONS:
            dlq = self.sqs.create_queue(QueueName=f"{function}-dlq")["QueueUrl"]
            self.names[f"{function}_dlq"] = dlq
            self.queues[function] = self._queue(
                function, {"RedrivePolicy": json.dumps({"deadLetterTargetArn": self.arn(dlq), "maxReceiveCount": "5"})}
            )
        self.names["sync_queue"] = self.queues["sync"][0]
        self.s3.create_bucket(Bucket="documents", CreateBucketConfiguration={"LocationConstraint": REGION})
        self.s3.put_bucket_versioning(Bucket="documents", VersioningConfiguration={"Status": "Enabled"})
        self.s3.put_bucket_notification_configuration(
            Bucket="documents",
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": self.queues["documents"][1], "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        events = self.client("events")
        events.create_event_bus(Name=BUS)
        self.queues["published"] = self._queue("published", {})
        events.put_rule(Name="everything", EventBusName=BUS, EventPattern=json.dumps({"source": [SOURCE]}))
        events.put_targets(Rule="everything", EventBusName=BUS, Targets=[{"Id": "q", "Arn": self.queues["published"][1]}])
        return self

    def _queue(self, name: str, attributes: dict[str, str]) -> tuple[str, str]:
        url = self.sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "200", **attributes})["QueueUrl"]
        return url, self.arn(url)

    def arn(self, url: str) -> str:
        return self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def environment(self, function: str) -> dict[str, str]:
        return lambda_environment(function, self.names, self.endpoint)


class Container:
    """A function's execution environment: a child process (bench/lambda_child.py) that imports the handler once and
    then runs the invocations it is sent, answering with what it measured."""

    def __init__(self, function: str, env: dict[str, str], log_dir: Path):
        self.function, self.log = function, log_dir / f"{function}.log"
        self.timeout = TIMEOUTS.get(function, 30)
        self._stderr = open(log_dir / f"{function}.stderr", "w")  # noqa: SIM115 - closed in close()
        handler = str(ROOT / "functions" / function / "app.py")
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(ROOT / "bench/lambda_child.py"), handler, *function_path(function)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env={**env, "BENCH_LOG": str(self.log)},
            cwd=ROOT / "functions" / function,
            text=True,
        )
        self.ready = self._answer()

    def invoke(self, event: dict, profile: bool = False) -> dict:
        request = {"event": event, "timeout": self.timeout, "memory": MEMORY_MB, "profile": profile}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        answer = self._answer()
        if "error" in answer:
            raise RuntimeError(f"{self.function} raised {answer['error']}; its log ends:\n{self.tail()}")
        return answer

    def tail(self, chars: int = 3000) -> str:
        """The end of what the function logged and printed to stderr (the bench's scratch directory is removed)."""
        self._stderr.flush()
        logged = self.log.read_text()[-chars:] if self.log.exists() else ""
        return logged + Path(self._stderr.name).read_text()[-chars:]

    def _answer(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.function} container died:\n{self.tail()}")
        return json.loads(line)

    def close(self) -> None:
        self._process.stdin.close()
        self._process.wait(10)
        self._stderr.close()


def template_settings() -> dict:
    """The event source settings the latency and capacity figures depend on, as template.yaml sets them (its defaults)."""
    from hokodo_local.template import SamTemplate

    body = SamTemplate.load().body
    parameters, resources = body["Parameters"], body["Resources"]
    tracking = resources["TrackingFunction"]["Properties"]["Events"]["AppliedActions"]["Properties"]
    sync = resources["SyncFunction"]["Properties"]["Events"]["SyncRequests"]["Properties"]
    rounds = resources["SyncFunction"]["Properties"]["Events"]["ReconciliationRequests"]["Properties"]
    if sync["ScalingConfig"]["MaximumConcurrency"] != {"Ref": "MaximumConcurrency"}:
        raise RuntimeError("the sync queue's MaximumConcurrency is no longer the template's parameter: update the bench")
    if rounds["ScalingConfig"]["MaximumConcurrency"] != {"Ref": "ReconciliationMaximumConcurrency"}:
        raise RuntimeError("the reconciliation queue's MaximumConcurrency is no longer its parameter: update the bench")
    return {
        "maximum_concurrency": int(parameters["MaximumConcurrency"]["Default"]),
        "reconciliation_maximum_concurrency": int(parameters["ReconciliationMaximumConcurrency"]["Default"]),
        "batch_size": int(parameters["BatchSize"]["Default"]),
        "batching_window_s": float(parameters["BatchingWindowSeconds"]["Default"]),
        "tracking_batch_size": int(tracking["BatchSize"]),
        "tracking_filters": [f["Pattern"] for f in tracking["FilterCriteria"]["Filters"]],
        "sync_batch_size": int(sync["BatchSize"]),
        "sync_batching_window_s": float(sync["MaximumBatchingWindowInSeconds"]),
    }
