"""One function in a process of its own, as a Lambda execution environment holds it.

    python -I -S bench/lambda_child.py HANDLER_FILE PATH_ENTRY...

The environment is the function's; sys.path is the standard library and the entries given (the Lambda-like
site: the layer's requirements and boto3; the layer; the function's directory), nothing else. After the import
(the cold start) the child answers `{"ready": true, "init_s", "init_cpu_s", "rss_mb"}`. Then each stdin line is
`{"event", "timeout", "memory"}` and each answer one stdout line: the handler's response (or `error`), wall and
CPU seconds, DynamoDB requests (botocore's `before-send.dynamodb`), Hokodo HTTP requests, RSS before and peak
RSS during the invocation (the kernel's high-water mark, reset just before), the bytes the handler logged, the wall
clock when it began (`epoch_start`), and a timeline of every AWS call and Hokodo request: (what, start ms, end ms,
thread, note), the note naming the deferred payments of a PutEvents or an SQS send, or a Hokodo request's path. The
handler's own output (Powertools' logs, EMF metrics) goes to the file named by BENCH_LOG, as Lambda sends it to
CloudWatch Logs.
"""

from __future__ import annotations

import cProfile
import importlib.util
import json
import os
import pstats
import re
import resource
import sys
import threading
import time
import uuid

_IDS = re.compile(r"(defpay|order|odoc)-[A-Za-z0-9]+")


class Context:
    def __init__(self, timeout: float, memory: int):
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "bench")
        self.memory_limit_in_mb, self.aws_request_id = memory, str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:eu-west-1:123456789012:function:{self.function_name}"
        self.function_version, self.log_group_name, self.log_stream_name = "$LATEST", f"/aws/lambda/{self.function_name}", "b"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Probe:
    """Counts and times what the function sends: AWS calls through botocore's events, Hokodo's through httpx."""

    def __init__(self):
        self.start, self.dynamodb, self.http, self.timeline = time.perf_counter(), 0, 0, []
        self.epoch = time.time()  # the wall clock at `start`: other processes' timelines are compared on it

    def reset(self) -> None:
        self.__init__()

    def record(self, what: str, started: float, note: object = None) -> None:
        now = time.perf_counter()
        start_ms, end_ms = round((started - self.start) * 1000, 1), round((now - self.start) * 1000, 1)
        self.timeline.append((what, start_ms, end_ms, _thread(), note))

    def install(self) -> None:
        import botocore.session
        import httpx

        probe, create_client, send = self, botocore.session.Session.create_client, httpx.Client.send

        def count_dynamodb(**_):
            probe.dynamodb += 1

        def before_parameter_build(params, model, context, **_):
            if model.name in _NOTES:
                context["bench_note"] = _NOTES[model.name](params)

        def before_call(model, context, **_):
            context["bench_started"] = time.perf_counter()

        def after_call(model, context, **_):
            what = f"{model.service_model.service_name} {model.name}"
            probe.record(what, context.get("bench_started", probe.start), context.get("bench_note"))

        def instrumented_client(self, *args, **kwargs):
            client = create_client(self, *args, **kwargs)
            client.meta.events.register("before-send.dynamodb", count_dynamodb)
            client.meta.events.register("before-parameter-build", before_parameter_build)
            client.meta.events.register("before-call", before_call)
            client.meta.events.register("after-call", after_call)
            return client

        def instrumented_send(self, request, **kwargs):
            started = time.perf_counter()
            probe.http += 1
            try:
                return send(self, request, **kwargs)
            finally:
                path = request.url.path
                probe.record(f"hokodo {request.method} {_IDS.sub('{id}', path)}", started, path)

        botocore.session.Session.create_client = instrumented_client
        httpx.Client.send = instrumented_send


def _deferred_payment(text: str) -> str | None:
    try:
        return json.loads(text).get("deferred_payment_id")
    except (ValueError, AttributeError):
        return None


# What the timeline notes of a call besides its times (its fifth element): the deferred payments it was about, so that
# the bench can follow one through several functions (Hokodo requests note their path).
_NOTES = {
    "PutEvents": lambda params: [
        [e.get("DetailType"), _deferred_payment(e.get("Detail", ""))] for e in params.get("Entries", [])
    ],
    "SendMessageBatch": lambda params: [_deferred_payment(e.get("MessageBody", "")) for e in params.get("Entries", [])],
    "SendMessage": lambda params: [_deferred_payment(params.get("MessageBody", ""))],
}


def _thread() -> str:
    name = threading.current_thread().name
    return "main" if name == "MainThread" else name.rsplit("_", 1)[-1]


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> bool:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _by_package(profiler: cProfile.Profile, path: list[str]) -> dict[str, float]:
    """The main thread's CPU (ms) by package: a top-level package of the function's path, or `stdlib <module>`.
    A builtin's time goes to the package that called it."""

    def package(file: str) -> str:
        entry = next((p for p in path if file.startswith(p + os.sep)), None)
        if entry is not None:
            return file[len(entry) + 1 :].split(os.sep, maxsplit=1)[0].removesuffix(".py")
        name = os.path.basename(os.path.dirname(file)) if file.endswith("__init__.py") else os.path.basename(file)
        return f"stdlib {name.removesuffix('.py')}"

    totals: dict[str, float] = {}
    for (file, _, _), (_, _, own, _, callers) in pstats.Stats(profiler).stats.items():
        shares = [(c[0], t) for c, (_, _, t, _) in callers.items()] if file == "~" and callers else [(file, own)]
        for where, seconds in shares:
            name = "builtin" if where == "~" else package(where)
            totals[name] = totals.get(name, 0.0) + seconds * 1000
    return dict(sorted(((k, round(v, 1)) for k, v in totals.items()), key=lambda kv: -kv[1]))


def main() -> None:
    handler_file, *path = sys.argv[1:]
    sys.path[:0] = path
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    log = os.open(os.environ.get("BENCH_LOG", os.devnull), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)  # print() and Powertools' handlers write to fd 1: now the log
    sys.stdout.reconfigure(line_buffering=True)
    started, cpu = time.perf_counter(), time.process_time()
    probe = Probe()
    probe.install()  # imports botocore and httpx, which the function imports anyway
    spec = importlib.util.spec_from_file_location("app", handler_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    handler = module.lambda_handler
    ready = {"ready": True, "init_s": time.perf_counter() - started, "init_cpu_s": time.process_time() - cpu}
    answers.write(json.dumps({**ready, "rss_mb": _status_mb("VmRSS")}) + "\n")

    for line in sys.stdin:
        request = json.loads(line)
        context = Context(request.get("timeout", 30), request.get("memory", 512))
        sys.stdout.flush()
        log_before, rss_before = os.fstat(1).st_size, _status_mb("VmRSS")
        peak_reset = _reset_peak()
        probe.reset()
        profiler = cProfile.Profile(time.process_time) if request.get("profile") else None
        cpu = time.process_time()
        answer: dict = {}
        try:
            if profiler:
                profiler.enable()
            answer["response"] = handler(request["event"], context)
        except Exception as exc:  # reported to the parent, which decides
            answer["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if profiler:
                profiler.disable()
        answer["wall_s"], answer["cpu_s"] = time.perf_counter() - probe.start, time.process_time() - cpu
        answer["epoch_start"] = probe.epoch
        sys.stdout.flush()
        answer |= {
            "dynamodb_requests": probe.dynamodb,
            "http_requests": probe.http,
            "rss_before_mb": rss_before,
            "peak_mb": _status_mb("VmHWM") if peak_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "log_bytes": os.fstat(1).st_size - log_before,
            "timeline": probe.timeline,
        }
        if profiler:
            answer["profile"] = _by_package(profiler, path)
            profiler.dump_stats(os.environ.get("BENCH_LOG", "bench") + ".prof")  # for pstats
        answers.write(json.dumps(answer, default=str) + "\n")


if __name__ == "__main__":
    main()
