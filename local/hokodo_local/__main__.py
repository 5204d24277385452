"""Command line: `python -m hokodo_local demo` (the merchant scenario, then exit) and
`python -m hokodo_local serve` (the local stack, running until Ctrl-C)."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "emulator") not in sys.path:  # the Hokodo emulator is a sibling package of the repository, not installed
    sys.path.append(str(ROOT / "emulator"))

POLICIES = ("full_only", "partial_then_cancel", "partial_sometimes_cancel", "partial_leave_open")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwinds the stack (so every `with` stops what it started), like KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_stopping = False


def _on_signal(signum: int, frame: object) -> None:
    global _stopping
    if _stopping:  # a second signal while shutting down: give up on a clean stop (threads die with the process)
        os._exit(128 + signum)
    _stopping = True
    raise Interrupted(signum)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--policy", choices=POLICIES, help="FulfilmentPolicy template parameter (default: the template's)")
    common.add_argument("--moto-port", type=int, default=0, help="moto server port on 127.0.0.1 (default: a free one)")
    common.add_argument("--emulator-port", type=int, default=0, help="Hokodo emulator port on 127.0.0.1 (default: a free one)")
    parser = argparse.ArgumentParser(prog="python -m hokodo_local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", parents=[common], help="play the merchant scenario on the local stack, print it, exit")
    demo.add_argument("--log-level", choices=LOG_LEVELS, default="ERROR", help="the functions' LogLevel (default ERROR: quiet)")
    serve = commands.add_parser("serve", parents=[common], help="run the local stack until Ctrl-C")
    serve.add_argument("--log-level", choices=LOG_LEVELS, help="the functions' LogLevel (default: the template's)")
    serve.add_argument("--interval", type=float, default=0.5, help="seconds between polls of an empty queue")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    stack = {"policy": args.policy, "log_level": args.log_level, "moto_port": args.moto_port, "emulator_port": args.emulator_port}
    try:
        if args.command == "demo":
            from .scenario import run_demo

            run_demo(sys.stdout, **stack)
        else:
            from .serve import run_serve

            run_serve(sys.stdout, interval=args.interval, **stack)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"{exc.strerror}: choose another port (or none: a free one is picked)", file=sys.stderr)
        return 1
    except Interrupted as stop:
        print(f"\nstopped by {stop}: pollers, Hokodo emulator and moto server are shut down", file=sys.stderr, flush=True)
        return 128 + stop.signum
    return 0


if __name__ == "__main__":
    code = main()
    # Everything was stopped explicitly above (threads joined, sockets closed). Skip the interpreter's
    # final garbage collection of moto, botocore and the translator: it can take seconds on a busy machine.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
