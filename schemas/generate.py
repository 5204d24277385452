"""Writes the message contracts as JSON Schema, generated from the pydantic models (`python schemas/generate.py`).
tests/test_contracts.py fails when a committed schema no longer matches its model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "layers" / "postsale"))

from hokodo_postsale.models import CancellationMessage, ReturnMessage, ShipmentMessage  # noqa: E402

CONTRACTS = {"shipment": ShipmentMessage, "return": ReturnMessage, "cancellation": CancellationMessage}


def render(model) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    for name, model in CONTRACTS.items():
        (HERE / f"{name}.schema.json").write_text(render(model))
        print(f"wrote schemas/{name}.schema.json")
