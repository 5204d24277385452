"""Command line: ``python -m hokodo_emulator --help``."""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import signal
import sys
import threading

from .app import DEFAULT_API_KEY, Emulator
from .faults import FaultConfigError, parse_error_rates
from .profile import PROFILES
from .store import Conflict

ENV_KEY = "HOKODO_EMULATOR_API_KEY"


def _error_rate(text: str) -> tuple[str, float]:
    status, sep, p = text.partition("=")
    try:
        if not sep:
            raise ValueError
        return status.strip(), float(p)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STATUS=PROBABILITY, e.g. 503=0.2, not {text!r}") from None


def _seed_dp(text: str) -> tuple[str | None, int]:
    dp_id, sep, amount = text.rpartition("=")
    bad_id = bool(sep) and not re.fullmatch(r"[A-Za-z0-9_.~-]{1,100}", dp_id)
    if not re.fullmatch(r"[0-9]{1,18}", amount) or int(amount) <= 0 or bad_id:
        raise argparse.ArgumentTypeError(f"expected AMOUNT or ID=AMOUNT in minor units, not {text!r}")
    return (dp_id or None), int(amount)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hokodo_emulator",
        description="Hokodo post-sale API emulator (a local sandbox). Prints its base URL on "
        "the first line of stdout; the API root is <base URL>/v1/ and the admin API "
        "<base URL>/_admin/. Stop with Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8910, help="port, 0 for any free port (default: 8910)")
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"API key clients must send as 'Authorization: Token <key>' (default: ${ENV_KEY}, else '{DEFAULT_API_KEY}')",
    )
    parser.add_argument("--expiry-days", type=float, default=28, help="authorisation expiry period, 0 disables (default: 28)")
    parser.add_argument("--notification-url", help="default webhook URL for deferred payments")
    parser.add_argument("--latency-ms", type=float, default=0, help="latency added to every API response")
    parser.add_argument(
        "--error-rate",
        type=_error_rate,
        action="extend",
        nargs="+",
        default=[],
        metavar="STATUS=P",
        help="random injected errors, e.g. --error-rate 503=0.2 500=0.05",
    )
    parser.add_argument("--seed", type=int, help="seed of the random error injection")
    parser.add_argument(
        "--seed-deferred-payment",
        type=_seed_dp,
        action="extend",
        nargs="+",
        default=[],
        metavar="[ID=]AMOUNT",
        help="create deferred payments at start (authorisation in minor units); printed to stdout",
    )
    parser.add_argument("--webhook-attempts", type=int, default=5, help="delivery attempts per webhook")
    parser.add_argument("--webhook-backoff", type=float, default=0.2, help="first retry delay in seconds, doubling")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="default",
        help="what to assume about details Hokodo's public material does not show: default (the emulator's full view) or "
        "sparse (only what the public evidence shows); see the README's Profiles (default: default)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.expiry_days < 0 or args.latency_ms < 0 or args.webhook_attempts < 1 or args.webhook_backoff < 0:
        parser.error("--expiry-days, --latency-ms and --webhook-backoff must be >= 0, --webhook-attempts >= 1")
    api_key = args.api_key or os.environ.get(ENV_KEY) or DEFAULT_API_KEY
    try:
        rates = parse_error_rates(dict(args.error_rate))
    except FaultConfigError as exc:
        parser.error(str(exc))
    emulator = Emulator(
        api_key=api_key,
        host=args.host,
        port=args.port,
        expiry_days=args.expiry_days,
        notification_url=args.notification_url,
        seed=args.seed,
        webhook_attempts=args.webhook_attempts,
        webhook_backoff=args.webhook_backoff,
        latency_ms=args.latency_ms,
        error_rates={str(k): v for k, v in rates.items()},
        log_requests=not args.quiet,
        profile=args.profile,
    )
    try:
        base_url = emulator.start()
    except OSError as exc:
        print(f"cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(base_url, flush=True)
    for dp_id, amount in args.seed_deferred_payment:
        try:
            dp = emulator.state.create_deferred_payment(amount, id=dp_id)
        except Conflict as exc:
            print(f"--seed-deferred-payment: {exc}", file=sys.stderr)
            emulator.stop()
            return 2
        print(f"{dp['id']} {dp['order']} {dp['authorisation']} {dp['currency']}", flush=True)
    if not _is_loopback(args.host):
        print("warning: the admin API has no authentication; bind to 127.0.0.1 unless you must", file=sys.stderr)
    print(f"Hokodo emulator on {base_url} (API root {base_url}/v1/); Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    sys.exit(main())
