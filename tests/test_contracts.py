"""The published JSON Schemas are the models' own, and the models hold money to integer minor units."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hokodo_postsale.contracts.messages import CancellationMessage, ReturnMessage, ShipmentMessage, parse_message
from hokodo_postsale.errors import InvalidMessage

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("generate_schemas", ROOT / "schemas" / "generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)


@pytest.mark.parametrize("name", sorted(generate.CONTRACTS))
def test_committed_schema_matches_the_model(name):
    committed = (ROOT / "schemas" / f"{name}.schema.json").read_text()
    assert committed == generate.render(name), "run: python schemas/generate.py"


BASE = '"event_id": "e-1", "deferred_payment_id": "defpay-abc123"'


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (ShipmentMessage, "{" + BASE + ', "amount": 100.0}'),
        (ShipmentMessage, "{" + BASE + ', "amount": 1e2}'),
        (ShipmentMessage, "{" + BASE + ', "amount": "100"}'),
        (ShipmentMessage, "{" + BASE + ', "amount": true}'),
        (ShipmentMessage, "{" + BASE + ', "amount": 0}'),
        (ShipmentMessage, "{" + BASE + ', "ammount": 100}'),
        (ShipmentMessage, "{" + BASE + "}"),
        (ReturnMessage, "{" + BASE + ', "amount": -1}'),
        (ReturnMessage, '{"event_id": "e-1", "deferred_payment_id": "order-abc", "amount": 1}'),
        (CancellationMessage, "{" + BASE + ', "remaining": false}'),
        (CancellationMessage, "[1, 2]"),
    ],
)
def test_contract_violations_are_invalid_messages(model, body):
    with pytest.raises(InvalidMessage):
        parse_message(model, body)


def test_a_valid_amount_stays_an_int():
    message = parse_message(ShipmentMessage, "{" + BASE + ', "amount": 9007199254740993}', max_amount=2**63)
    assert message.amount == 9007199254740993 and type(message.amount) is int
