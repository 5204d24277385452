"""Bad input ends with a reason and never stops the batch: numbers JSON should not carry, duplicate keys,
bounds on amounts and metadata, bodies nested thousands deep, and answers from Hokodo that are not its
documented JSON. Each batch also carries a good neighbour that must be applied."""

from __future__ import annotations

import json

import pytest
from conftest import ledger, message

DP_PLACEHOLDER = "defpay-PLACEHOLDER"


def body(dp: str, event_id: str, amount: str = "1000", extra: str = "") -> str:
    return f'{{"event_id": "{event_id}", "deferred_payment_id": "{dp}", "amount": {amount}{extra}}}'


BAD_BODIES = {
    "nan-amount": (body(DP_PLACEHOLDER, "nan", "NaN"), "NaN is not a JSON number"),
    "infinite-amount": (body(DP_PLACEHOLDER, "inf", "Infinity"), "Infinity is not a JSON number"),
    "negative-infinity": (body(DP_PLACEHOLDER, "ninf", "-Infinity"), "-Infinity is not a JSON number"),
    "overflowing-float": (body(DP_PLACEHOLDER, "big", "1e400"), "number 1e400 is out of range"),
    "nan-in-metadata": (body(DP_PLACEHOLDER, "meta-nan", extra=', "metadata": {"x": NaN}'), "NaN is not a JSON number"),
    "overflow-in-metadata": (body(DP_PLACEHOLDER, "meta-big", extra=', "metadata": {"x": [1e999]}'), "out of range"),
    "duplicate-amount": (body(DP_PLACEHOLDER, "dup", "1000", ', "amount": 2000'), "duplicate key 'amount'"),
    "duplicate-in-metadata": (body(DP_PLACEHOLDER, "dup-meta", extra=', "metadata": {"a": 1, "a": 2}'), "duplicate key 'a'"),
    "above-max-amount": (body(DP_PLACEHOLDER, "huge", "1000000001"), "above this deployment's MaxAmount (1000000000)"),
    "metadata-too-deep": (
        body(DP_PLACEHOLDER, "deep-meta", extra=', "metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}'),
        "metadata is nested deeper than 5 levels",
    ),
    "metadata-too-large": (
        body(DP_PLACEHOLDER, "big-meta", extra=', "metadata": {"note": "' + "x" * 5000 + '"}'),
        "more than 4096",
    ),
    "nested-thousands-deep": (
        '{"event_id": "deep", "deferred_payment_id": "x", "metadata": ' + "[" * 5000 + "]" * 5000 + "}",
        "nested too deeply",
    ),
    "too-large-a-message": (body(DP_PLACEHOLDER, "large", extra=', "pad": "' + "x" * 17_000 + '"'), "more than 16384"),
    "too-many-after": (
        body(
            DP_PLACEHOLDER,
            "after",
            extra=', "after": ' + json.dumps([{"kind": "shipment", "event_id": f"{i}"} for i in range(11)]),
        ),
        "after: Tuple should have at most 10 items",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_input_is_dead_lettered_with_its_reason_and_the_neighbour_applied(make_bundle, hokodo, case):
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    bad, reason = BAD_BODIES[case]
    shipments.send(bad.replace(DP_PLACEHOLDER, dp), message("good", dp, amount=1_000))
    [invocation] = shipments.run()
    assert len(invocation.deleted) == 2 and not invocation.error
    assert ledger(hokodo, dp)["protected_captures"] == 1_000
    [dead] = shipments.dead_letters()
    assert dead["error_type"] == "InvalidMessage" and reason in dead["reason"]


def test_deeply_nested_bodies_never_fail_the_batch_even_without_a_deferred_payment(make_bundle, hokodo):
    """Grouping reads each body once, with the same strict parser: a body nested 100,000 deep is that record's
    reason, and its neighbours are applied in the same invocation."""
    shipments = make_bundle("shipments", policy="partial_leave_open")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    shipments.send("[" * 100_000 + "]" * 100_000, '{"a":' * 5_000 + "1" + "}" * 5_000, message("good", dp, amount=700))
    [invocation] = shipments.run()
    assert invocation.error is None and len(invocation.deleted) == 3
    assert ledger(hokodo, dp)["protected_captures"] == 700
    reasons = sorted(d["reason"] for d in shipments.dead_letters())
    assert len(reasons) == 2 and all("invalid ShipmentMessage" in r for r in reasons)


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"status": 200, "body": "<html>maintenance</html>"}, "capture answered 200 with a body that is not the documented JSON"),
        (
            {"status": 302, "headers": {"Location": "https://elsewhere.example/"}},
            "capture answered 302 (redirect to https://elsewhere",
        ),
    ],
    ids=["2xx-not-json", "3xx"],
)
def test_an_answer_that_is_not_hokodos_documented_json_is_dead_lettered_naming_status_and_action(
    make_bundle, hokodo, fault, says
):
    shipments = make_bundle("shipments", policy="partial_leave_open", HOKODO_MAX_ATTEMPTS="3")
    dp = hokodo.create_deferred_payment(100_000)["id"]
    hokodo.add_faults({**fault, "path_contains": f"{dp}/capture", "count": 3})
    shipments.send(message("ship-1", dp, amount=1_000))
    [invocation] = shipments.run()
    assert invocation.deleted and not invocation.failed  # ends with a reason, does not loop
    [dead] = shipments.dead_letters()
    assert dead["error_type"] == "HokodoProtocolError" and says in dead["reason"]
    assert len({r["idempotency_key"] for r in hokodo.requests() if dp in r["path"]}) == 1  # bounded retries, one key
