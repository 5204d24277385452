"""Printing what the local stack holds and what happened in it, for people to read."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, TextIO

from .runner import Delivery
from .stack import Stack

LEDGER_FIELDS = (
    ("authorisation", "authorisation"),
    ("protected_captures", "protected captures"),
    ("unprotected_captures", "unprotected captures"),
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

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text}")

    def stack(self, stack: Stack, *, moto: str, emulator: str, parameters: dict[str, str]) -> None:
        self.line(f"moto server (the embedded AWS): {moto}")
        self.line(f"Hokodo emulator:                {emulator}/v1/   (admin API {emulator}/_admin/)")
        self.line("template parameters:            " + " ".join(f"{k}={v}" for k, v in parameters.items()))
        self.line(f"created from template.yaml by moto CloudFormation (stack {stack.name}):")
        for mapping in stack.mappings:
            queue = stack.queues[mapping.queue]
            dlq = stack.dead_letter_queue(queue)
            self.line(
                f"  {mapping.function} <- {queue.logical_id} (batch size {mapping.batch_size}; "
                f"DLQ {dlq.logical_id if dlq else '-'} after {queue.max_receive_count} receives; "
                f"visibility timeout {queue.visibility_timeout} s)"
            )
        for logical_id, name in stack.tables.items():
            self.line(f"  table {logical_id}: {name}")
        for logical_id in stack.secrets:
            self.line(f"  secret {logical_id}: created by the local stack (moto's CloudFormation skips secrets)")
        if stack.not_emulated:
            kinds = Counter(stack.not_emulated.values())
            self.line("  not emulated: " + ", ".join(f"{n} x {kind}" for kind, n in kinds.items()))
        for variable in stack.unresolved:
            self.line(f"  left out of a function's environment (refers to something not emulated): {variable}")

    def delivery(self, delivery: Delivery) -> None:
        invocation = delivery.invocation
        records = len(invocation.event["Records"])
        outcome = f"raised {type(invocation.error).__name__}: {invocation.error}" if invocation.error else "returned"
        self.line(
            f"   Lambda {delivery.function}: {records} record(s), handler {outcome}; "
            f"{len(invocation.deleted)} deleted, {len(invocation.failed)} left for redelivery"
        )

    def hokodo_request(self, request: dict) -> None:
        flags = [
            f for f, on in (("replayed", request.get("replayed")), (f"fault {request.get('fault')}", request.get("fault"))) if on
        ]
        self.line(
            f"   {request['method']} {request['path']}  Idempotency-Key: {request.get('idempotency_key') or '-'}  "
            f"body: {compact(request.get('body'))}  -> {request.get('status')}" + (f" ({', '.join(flags)})" if flags else "")
        )

    def ledger(self, label: str, dp: dict) -> None:
        currency = dp.get("currency", "GBP")
        self.line(f"   order {label}: {dp['id']}  status {dp['status']}")
        for key, title in LEDGER_FIELDS:
            self.line(f"     {title:<22}{money(dp[key], currency)}")

    def ledger_summary(self, label: str, dp: dict) -> None:
        moved = ", ".join(f"{title} {dp[key]}" for key, title in LEDGER_FIELDS if dp[key])
        self.line(f"   order {label}: status {dp['status']}; {moved or 'nothing'}")

    def dead_letter(self, letter: DeadLetter) -> None:
        self.line(f"   {letter.queue}: {letter.body}")
        if letter.reason is None:
            self.line("     moved by the queue's redrive policy (maxReceiveCount reached)")
        else:
            self.line(f"     reason: {letter.reason}")
            self.line(f"     error type: {letter.error_type}")
