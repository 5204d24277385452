"""Command line: `python -m hokodo_local demo` (the merchant scenario, then exit) and
`python -m hokodo_local serve` (the local stack, running until Ctrl-C)."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "emulator") not in sys.path:  # the Hokodo emulator is a sibling package of the repository, not installed
    sys.path.append(str(ROOT / "emulator"))

if TYPE_CHECKING:
    from .local_stack import LocalStack

POLICIES = ("full_only", "partial_then_cancel", "partial_sometimes_cancel", "partial_leave_open")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
STOP_GRACE_SECONDS = 3.0  # after a signal, how long the command may take to unwind before the process exits anyway

_signalled: int | None = None


def _on_signal(signum: int, frame: object) -> None:
    """Only records the signal. It runs in the main thread, which does nothing but wait for the command's
    thread: raising here instead could land anywhere (inside a C callback that swallows it, for one)."""
    global _signalled
    if _signalled is not None:  # a second signal while shutting down: give up on a clean stop (threads die with the process)
        os._exit(128 + signum)
    _signalled = signum


class Session:
    """The local stack that the command's thread makes, held for the main thread to halt on a signal.
    A halt asked for before the stack exists halts it as soon as it does (then it does not start)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local: LocalStack | None = None
        self._halted = False

    def attach(self, local: LocalStack) -> None:
        with self._lock:
            self._local = local
            halted = self._halted
        if halted:
            local.halt()

    def halt(self) -> None:
        with self._lock:
            self._halted = True
            local = self._local
        if local is not None:
            local.halt()

    @property
    def local(self) -> LocalStack | None:
        with self._lock:
            return self._local


class Command(threading.Thread):
    """`demo` or `serve`, in a thread of its own; what it raised is kept for the main thread."""

    def __init__(self, args: argparse.Namespace, session: Session):
        super().__init__(name="hokodo-local", daemon=True)
        self.args, self.session = args, session
        self.error: BaseException | None = None
        self.exit_code = 0

    def run(self) -> None:
        args = self.args
        if args.command == "chaos":
            from .chaos import run

            try:
                self.exit_code = run(
                    sys.stdout,
                    seed=args.seed,
                    events=args.events,
                    fault_rate=args.fault_rate,
                    profile=args.profile,
                    on_stack=self.session.attach,
                )
            except BaseException as exc:  # handed to the main thread
                self.error = exc
            return
        options = {
            "policy": args.policy,
            "log_level": args.log_level,
            "moto_port": args.moto_port,
            "emulator_port": args.emulator_port,
            "api_port": args.api_port,
            "on_stack": self.session.attach,
        }
        try:
            if args.command == "demo":
                from .scenario import run_demo

                run_demo(sys.stdout, **options)
                self._print_permissions()
            else:
                from .serve import run_serve

                run_serve(sys.stdout, interval=args.interval, reconcile_every=args.reconcile_every, **options)
        except BaseException as exc:  # handed to the main thread
            self.error = exc

    def _print_permissions(self) -> None:
        """What each function used, every call evaluated against its own role in template.yaml (iam.py)."""
        from .report import Printer

        local = self.session.local
        if local is None or local.permissions is None:
            return
        printer = Printer(sys.stdout)
        printer.heading("AWS calls of each function, all allowed by its own role in template.yaml (checked locally)")
        for line in local.permissions.table().splitlines():
            printer.line(f"   {line}")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--policy", choices=POLICIES, help="FulfilmentPolicy template parameter (default: the template's)")
    common.add_argument("--moto-port", type=int, default=0, help="moto server port on 127.0.0.1 (default: a free one)")
    common.add_argument("--emulator-port", type=int, default=0, help="Hokodo emulator port on 127.0.0.1 (default: a free one)")
    common.add_argument(
        "--api-port",
        type=int,
        default=0,
        help="local HTTP API (the template's HttpApi routes) port on 127.0.0.1 (default: a free one)",
    )
    parser = argparse.ArgumentParser(prog="python -m hokodo_local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", parents=[common], help="play the merchant scenario on the local stack, print it, exit")
    demo.add_argument("--log-level", choices=LOG_LEVELS, default="ERROR", help="the functions' LogLevel (default ERROR: quiet)")
    serve = commands.add_parser("serve", parents=[common], help="run the local stack until Ctrl-C")
    serve.add_argument("--log-level", choices=LOG_LEVELS, help="the functions' LogLevel (default: the template's)")
    serve.add_argument("--interval", type=float, default=0.5, help="seconds between polls of an empty queue or stream")
    serve.add_argument(
        "--reconcile-every",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="run each schedule of the template (the reconciliation's rate(1 hour)) this often here; 0: never (default 60)",
    )
    chaos = commands.add_parser("chaos", help="drive the local stack under faults and check nothing is lost or applied twice")
    chaos.add_argument("--seed", type=int, default=1, help="seed of the inputs and the faults (default 1)")
    chaos.add_argument("--events", type=int, default=1000, help="inputs, over at least 100 deferred payments (default 1000)")
    chaos.add_argument(
        "--fault-rate", type=float, default=0.1, help="share of Hokodo requests and notifications faulted (default 0.1)"
    )
    chaos.add_argument(
        "--profile",
        choices=("default", "sparse"),
        default="default",
        help="how the emulator reads Hokodo: the guide's way, or as sparsely as public evidence shows (default: default)",
    )
    for name, text in (("dead-letters", "show a DLQ's messages with their reasons"), ("redrive", "move a DLQ's messages back")):
        operator = commands.add_parser(name, help=f"{text} (a running `make local`, or --endpoint)")
        operator.add_argument(
            "queue",
            nargs="?",
            help="a DLQ's short name (shipments, returns, ...), its logical id, or its URL; none: list the DLQs",
        )
        operator.add_argument("--endpoint", help="moto server's endpoint (default: the running `make local`'s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command in a thread and waits. On SIGINT or SIGTERM the main thread halts the local stack
    (pollers, Hokodo emulator, moto server), so that the command's calls fail fast and it unwinds; it gets
    STOP_GRACE_SECONDS to do so, then the process exits 128 + the signal number."""
    args = build_parser().parse_args(argv)
    if args.command in ("redrive", "dead-letters"):  # a running `make local`'s DLQs: no stack of our own
        from .operator import main as operate

        return operate(sys.stdout, args.command, args.queue, args.endpoint)
    session = Session()
    command = Command(args, session)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    command.start()
    while command.is_alive() and _signalled is None:
        command.join(0.1)  # a signal interrupts this wait only to record itself; the loop then sees it
    if _signalled is None:
        return _outcome(command.error) or command.exit_code
    signum = _signalled
    session.halt()
    command.join(STOP_GRACE_SECONDS)
    name = signal.Signals(signum).name
    print(f"\nstopped by {name}: pollers, Hokodo emulator and moto server are shut down", file=sys.stderr, flush=True)
    return 128 + signum


def _outcome(error: BaseException | None) -> int:
    if error is None:
        return 0
    from .iam import PermissionDenied

    if isinstance(error, PermissionDenied):  # a function's role does not allow a call it made: say which
        print(error, file=sys.stderr)
        return 1
    if isinstance(error, OSError) and error.errno == errno.EADDRINUSE:
        print(f"{error.strerror}: choose another port (or none: a free one is picked)", file=sys.stderr)
        return 1
    raise error


if __name__ == "__main__":
    code = main()
    # Everything was stopped above (threads joined, sockets closed), or, after a signal, is a daemon thread
    # that ends with the process. Skip the interpreter's final garbage collection of moto, botocore and the
    # translator: it can take seconds on a busy machine. The process's own streams are flushed: sys.stdout may still be
    # `serve`'s functions log (redirected there by the command's thread), being closed by that thread as it unwinds.
    sys.__stdout__.flush()
    sys.__stderr__.flush()
    os._exit(code)
