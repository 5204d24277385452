"""Printing what the local stack holds and what happened in it, for people to read."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, TextIO

from .runner import Delivery, HttpInvocation, ScheduledInvocation
from .sqs_event_source import Invocation
from .stack import Stack
from .stand_ins import NOT_EMULATED_WHY
from .stream_event_source import StreamInvocation

LEDGER_FIELDS = (
    ("authorisation", "authorisation"),
    ("protected_captures", "protected captures (net of refunds)"),
    ("unprotected_captures", "unprotected captures (net of refunds)"),
    ("refunds", "refunds"),
    ("voided_authorisation", "voided"),
    ("expired_authorisation", "expired"),
    ("clawback_amount", "clawback"),
)


@dataclass(frozen=True)
class DeadLetter:
    queue: str  # logical id of the DLQ
    body: str
    reason: str | None  # None when SQS's redrive policy moved it (the function never gave up on it)
    error_type: str | None


def money(amount: int, currency: str = "GBP") -> str:
    """Integer minor units, with the major unit beside them: 40000 -> "   40000  GBP 400.00"."""
    sign = "-" if amount < 0 else ""
    major, minor = divmod(abs(amount), 100)
    return f"{amount:>8}  {currency} {sign}{major:,}.{minor:02d}"


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=False)


class Printer:
    def __init__(self, out: TextIO):
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def code(self, lines: list[str]) -> None:
        """Lines to paste into a shell as they are: not indented (a heredoc's end and Python's code must not be)."""
        for text in lines:
            self.line(text)

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text}")

    def stack(
        self, stack: Stack, *, moto: str, emulator: str, http_api: str | None, parameters: dict[str, str], schedules: str
    ) -> None:
        """What the local stack holds and how it is wired; `schedules` says how the schedules run here."""
        self.line(f"moto server (the embedded AWS): {moto}")
        self.line(f"Hokodo emulator:                {emulator}/v1/   (admin API {emulator}/_admin/)")
        if http_api:
            self.line(f"local HTTP API (API Gateway):   {http_api}")
        self.line("template parameters:            " + " ".join(f"{k}={v}" for k, v in parameters.items()))
        self.line(f"created from template.yaml by moto CloudFormation (stack {stack.name}), and wired here:")
        for mapping in stack.mappings:
            queue = stack.queues[mapping.queue]
            dlq = stack.dead_letter_queue(queue)
            self.line(
                f"  {mapping.function} <- {queue.logical_id} (batch size {mapping.batch_size}; "
                f"DLQ {dlq.logical_id if dlq else '-'} after {queue.max_receive_count} receives; "
                f"visibility timeout {queue.visibility_timeout} s)"
            )
        for mapping in stack.stream_mappings:
            destination = stack.queue_by_arn(mapping.on_failure) if mapping.on_failure else None
            self.line(
                f"  {mapping.function} <- {mapping.table}'s stream (batch size {mapping.batch_size}, from "
                f"{mapping.starting_position}, {len(mapping.filters)} filter(s); after {mapping.maximum_retry_attempts} "
                f"retries to {destination.logical_id if destination else '-'}; moto's mapping disabled, polled here)"
            )
        for route in stack.http_routes:
            self.line(f"  {route.function} <- {route.method} {route.path} ({route.api}, served by the local HTTP API)")
        for schedule in stack.schedules:
            self.line(
                f"  {schedule.function} <- schedule {schedule.name}: {schedule.expression}, input {schedule.input}; {schedules}"
            )
        for bucket in stack.buckets.values():
            targets = ", ".join(f"{n.queue} on {'/'.join(n.events)}" for n in bucket.notifications) or "nothing"
            self.line(f"  bucket {bucket.logical_id}: {bucket.name}, notifies {targets}")
        for bus in stack.event_buses.values():
            self.line(
                f"  bus {bus.logical_id}: {bus.name}; rules {', '.join(bus.rules) or '-'}, and the local stack's "
                f"{bus.read_back_rule} -> {bus.read_back.name} (to read back what was published)"
            )
        for logical_id, name in stack.tables.items():
            self.line(f"  table {logical_id}: {name}")
        if stack.stood_in_for:
            self.line("  what moto's CloudFormation skips or ignores, done by the local stack:")
            for logical_id, how in stack.stood_in_for.items():
                self.line(f"    {logical_id}: {how}")
        if stack.not_emulated:
            kinds = Counter(stack.not_emulated.values())
            self.line(
                "  not emulated: "
                + "; ".join(
                    f"{n} x {kind}" + (f" ({NOT_EMULATED_WHY[kind]})" if kind in NOT_EMULATED_WHY else "")
                    for kind, n in kinds.items()
                )
            )
        for variable in stack.unresolved:
            self.line(f"  left out of a function's environment (refers to something not emulated): {variable}")

    def delivery(self, delivery: Delivery) -> None:
        """One line per Lambda invocation, whatever invoked it."""
        invocation, function = delivery.invocation, delivery.function
        outcome = f"raised {type(invocation.error).__name__}: {invocation.error}" if invocation.error else "returned"
        if isinstance(invocation, Invocation):
            records = invocation.event["Records"]
            test_events = sum('"Event": "s3:TestEvent"' in r["body"] for r in records)
            note = f" ({test_events} of them S3's test event)" if test_events else ""
            self.line(
                f"   Lambda {function}: {len(records)} record(s){note}, handler {outcome}; "
                f"{len(invocation.deleted)} deleted, {len(invocation.failed)} left for redelivery"
            )
        elif isinstance(invocation, StreamInvocation):
            given_up = f", {len(invocation.given_up)} given up (to its OnFailure queue)" if invocation.given_up else ""
            self.line(
                f"   Lambda {function}: {len(invocation.event['Records'])} stream record(s), handler {outcome}; "
                f"{len(invocation.retried)} to retry{given_up}"
            )
        elif isinstance(invocation, HttpInvocation):
            answer = f"{invocation.status} {invocation.body}" if invocation.error is None else f"500 ({outcome})"
            self.line(f"   Lambda {function}: {invocation.route_key} -> {answer}")
        elif isinstance(invocation, ScheduledInvocation):
            result = compact(invocation.response) if invocation.error is None else outcome
            self.line(f"   Lambda {function}: schedule {invocation.schedule}, event {compact(invocation.event)} -> {result}")

    def hokodo_request(self, request: dict) -> None:
        flags = [
            f for f, on in (("replayed", request.get("replayed")), (f"fault {request.get('fault')}", request.get("fault"))) if on
        ]
        sent = ""  # a read (GET) sends neither
        if request.get("idempotency_key") or request.get("body") is not None:
            sent = f"  Idempotency-Key: {request.get('idempotency_key') or '-'}  body: {compact(request.get('body'))}"
        self.line(
            f"   {request['method']} {request['path']}{sent}  -> {request.get('status')}"
            + (f" ({', '.join(flags)})" if flags else "")
        )

    def ledger(self, label: str, dp: dict) -> None:
        currency = dp.get("currency", "GBP")
        self.line(f"   order {label}: {dp['id']}  status {dp['status']}")
        for key, title in LEDGER_FIELDS:
            self.line(f"     {title:<40}{money(dp.get(key) or 0, currency)}")  # a profile may show a zero as null
        gross = sum(dp.get(key) or 0 for key in ("protected_captures", "unprotected_captures", "refunds"))
        self.line(f"     {'captured in all (gross: refunds included)':<40}{money(gross, currency)}")

    def ledger_summary(self, label: str, dp: dict) -> None:
        moved = ", ".join(f"{title} {dp[key]}" for key, title in LEDGER_FIELDS if dp.get(key))
        self.line(f"   order {label}: status {dp['status']}; {moved or 'nothing'}")

    def dead_letter(self, letter: DeadLetter) -> None:
        self.line(f"   {letter.queue}: {letter.body}")
        if letter.reason is None:
            self.line("     moved by the queue's redrive policy (maxReceiveCount reached)")
        else:
            self.line(f"     reason: {letter.reason}")
            self.line(f"     error type: {letter.error_type}")

    def notification(self, webhook: dict, label: str) -> None:
        """One entry of the emulator's webhook log: a notification Hokodo sent (or lost)."""
        outcome = "lost on the way (a dropped notification)" if webhook.get("error") == "dropped" else webhook.get("status")
        if webhook.get("error") and webhook.get("error") != "dropped":
            outcome = webhook["error"]
        self.line(f"   Hokodo notifies order {label} ({webhook.get('reason')}) -> {outcome}")

    def event(self, event: dict, label: str) -> None:
        """An event published to the bus, as its rules' targets receive it."""
        detail = event["detail"]
        shown = {k: detail[k] for k in EVENT_FIELDS.get(event["detail-type"], ()) if k in detail}
        self.line(
            f"   bus: {event['detail-type']:<32} order {label}  "
            + " ".join(f"{k} {v if isinstance(v, str) else compact(v)}" for k, v in shown.items())
        )


EVENT_FIELDS = {  # what says the most about each detail-type, in a line
    "Deferred Payment Expired": ("expired_amount", "final_status"),
    "Deferred Payment Clawback": ("clawback_amount",),
    "Deferred Payment Captured": ("amount",),
    "Deferred Payment Refunded": ("amount",),
    "Deferred Payment Voided": ("amount",),
    "Deferred Payment Status Changed": ("old_status", "new_status"),
    "Deferred Payment Drift Detected": ("difference",),
}
