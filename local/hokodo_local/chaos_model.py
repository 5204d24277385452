"""The chaos run's model, independent of the bundle and of the emulator's code: the seeded inputs (each order's
story of shipments, returns, cancellations, documents and clawbacks), the ledger those inputs should produce in
the order Hokodo applied them, and the accounting of every input (applied once, or parked with a reason).

Every message carries `metadata: {"chaos": <its input id>}` (and every document the same in its object metadata),
so what reached Hokodo can be traced back to the input it came from, whatever key generation carried it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MARK = "chaos"


@dataclass
class Input:
    id: str
    kind: str  # shipment, return, cancellation, document
    order: str  # label of its order
    fields: dict[str, Any] = field(default_factory=dict)  # a message's fields beyond event_id/deferred_payment_id/metadata
    doc_prefix: str = ""  # documents: invoices/, credit-notes/...
    content: bytes = b""
    valid: bool = True  # an invalid input must end parked with a reason, never applied


@dataclass
class Order:
    label: str
    authorisation: int
    inputs: list[Input] = field(default_factory=list)
    clawback: int = 0  # applied by Hokodo at the end, if not 0
    deferred_payment: str = ""
    order_id: str = ""

    def message(self, item: Input) -> dict[str, Any]:
        return {"event_id": item.id, "deferred_payment_id": self.deferred_payment, "metadata": {MARK: item.id}, **item.fields}

    def document_key(self, item: Input) -> str:
        target = self.order_id if int(item.id.rsplit("-", 1)[-1]) % 2 else self.deferred_payment
        return f"{item.doc_prefix}/{target}/{item.id}.pdf"


def orders(seed: int, events: int) -> list[Order]:
    """At least `events` inputs (about four per order; from 1,000 inputs, over at least 100 orders), the same for the
    same seed."""
    rng = random.Random(seed)
    made: list[Order] = []
    while len(made) < min(100, events // 10) or sum(len(o.inputs) for o in made) < events:
        made.append(_story(rng, f"o{len(made):04d}"))
    return made


def _story(rng: random.Random, label: str) -> Order:
    order = Order(label, rng.randrange(20_000, 500_000, 100))
    n = [0]

    def add(kind: str, valid: bool = True, **fields: Any) -> Input:
        n[0] += 1
        item = Input(f"{label}-{kind}-{n[0]}", kind, label, fields, valid=valid)
        order.inputs.append(item)
        return item

    shipped = rng.randrange(order.authorisation // 5, order.authorisation * 9 // 10, 100)
    parts = _split(rng, shipped, rng.randint(1, 3))
    shipments = [add("shipment", amount=a) for a in parts]
    after = [{"kind": "shipment", "event_id": s.id} for s in shipments]
    ending = rng.random()
    if ending < 0.15:
        shipments[-1].fields["final"] = True  # and void what remains
    elif ending < 0.25:
        add("shipment", capture_remaining=True, after=after)
    elif ending < 0.5 and order.authorisation > shipped:
        if rng.random() < 0.5:
            add("cancellation", amount=rng.randrange(100, order.authorisation - shipped + 100, 100))
        else:
            add("cancellation", remaining=True, after=after)
    for shipment in shipments:
        if rng.random() < 0.3:  # a return, half of them saying which shipment it reverses
            amount = rng.randrange(100, shipment.fields["amount"] + 100, 100)
            add(
                "return",
                amount=amount,
                **({"after": [{"kind": "shipment", "event_id": shipment.id}]} if rng.random() < 0.5 else {}),
            )
    if rng.random() < 0.6:
        _document(rng, add("document"), "invoices")
    if rng.random() < 0.15:
        _document(rng, add("document"), "credit-notes")
    if rng.random() < 0.03:
        add("shipment", valid=False, amount=100.5)  # money as a float: refused, parked with its reason
    if rng.random() < 0.2:
        order.clawback = rng.randrange(100, 5_000, 100)
    rng.shuffle(order.inputs)
    return order


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.sample(range(100, total, 100), parts - 1)) if total // 100 > parts else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _document(rng: random.Random, item: Input, prefix: str) -> None:
    item.doc_prefix = prefix
    item.content = b"%PDF-1.7\n" + rng.randbytes(rng.randint(500, 20_000)) + b"\n%%EOF\n"


@dataclass
class Ledger:
    authorisation: int
    protected_captures: int = 0
    unprotected_captures: int = 0
    refunds: int = 0
    voided_authorisation: int = 0
    expired_authorisation: int = 0
    clawback_amount: int = 0

    def capture(self, amount: int) -> None:
        protected = min(amount, self.authorisation)
        self.authorisation -= protected
        self.protected_captures += protected
        self.unprotected_captures += amount - protected

    def refund(self, amount: int) -> None:  # the unprotected excess is released first (the emulator's stated choice)
        unprotected = min(amount, self.unprotected_captures)
        self.unprotected_captures -= unprotected
        self.protected_captures -= amount - unprotected
        self.refunds += amount

    def void(self, amount: int) -> None:
        self.authorisation -= amount
        self.voided_authorisation += amount

    def expire(self) -> None:
        self.expired_authorisation += self.authorisation
        self.authorisation = 0


def expected_ledger(order: Order, events: list[dict]) -> tuple[Ledger, Counter[tuple[str, str]]]:
    """The ledger the inputs should give when applied once each, in the order Hokodo's `events` show them applied,
    and how many times Hokodo applied each (input, event type)."""
    by_id = {i.id: i for i in order.inputs}
    ledger, applied = Ledger(order.authorisation), Counter[tuple[str, str]]()
    for event in events:
        kind = event["type"]
        if kind == "expiration":
            ledger.expire()
            continue
        if kind == "clawback":
            ledger.clawback_amount += order.clawback
            continue
        item = by_id.get((event.get("metadata") or {}).get(MARK, ""))
        if item is None:
            applied[("unknown", kind)] += 1
            continue
        applied[(item.id, kind)] += 1
        if applied[(item.id, kind)] > 1:
            continue  # applied twice by Hokodo: the expected ledger counts it once, so the ledgers differ
        if kind == "capture":
            ledger.capture(item.fields.get("amount") or ledger.authorisation)
        elif kind == "refund":
            ledger.refund(item.fields["amount"])
        elif kind == "void":
            ledger.void(
                item.fields.get("amount") if item.kind == "cancellation" and "amount" in item.fields else ledger.authorisation
            )
    return ledger, applied
