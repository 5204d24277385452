"""template.yaml read as data: each queue function's environment and limits."""

from __future__ import annotations

import pytest
from hokodo_local.template import SamTemplate
from hokodo_postsale.settings import DEFAULT_MAX_AMOUNT

TEMPLATE = SamTemplate.load()
PARAMETERS = TEMPLATE.body["Parameters"]
GLOBALS = TEMPLATE.body["Globals"]["Function"]
KINDS = {"ShipmentsFunction": "shipment", "ReturnsFunction": "return", "CancellationsFunction": "cancellation"}


def queue_functions() -> dict[str, dict]:
    """Functions fed by an SQS event, by logical id."""
    return {
        lid: r
        for lid, r in TEMPLATE.of_type("AWS::Serverless::Function").items()
        if any(e["Type"] == "SQS" for e in r["Properties"].get("Events", {}).values())
    }


def target(value: dict) -> str:
    """The logical id a `!Ref X` or `!GetAtt X.Attr` points at."""
    return value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0]


def test_the_queue_functions_are_the_three_kinds():
    assert set(queue_functions()) == set(KINDS)  # a new queue function needs its kind here


# -- environment --------------------------------------------------------------------------------
@pytest.mark.parametrize("function_id", sorted(KINDS))
def test_each_queue_function_gets_its_limits_from_the_parameters(function_id):
    own = TEMPLATE.resources[function_id]["Properties"].get("Environment", {}).get("Variables", {})
    environment = GLOBALS["Environment"]["Variables"] | own  # SAM merges a function's variables over Globals'
    assert environment["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    assert environment["OUT_OF_ORDER_MAX_RECEIVES"] == {"Ref": "OutOfOrderMaxReceives"}
    assert environment["MAX_AMOUNT"] == {"Ref": "MaxAmount"}


def test_max_amount_is_a_positive_integer_parameter_defaulting_to_the_layers_default():
    max_amount = PARAMETERS["MaxAmount"]
    assert max_amount["Type"] == "Number" and max_amount["MinValue"] == 1
    assert max_amount["Default"] == DEFAULT_MAX_AMOUNT == 1_000_000_000
    assert "minor units" in max_amount["Description"]
