"""Writes the bundle's contracts as JSON Schema, generated from the pydantic models (`python schemas/generate.py`):
the messages upstreams send, the document drop's object metadata, and the detail of every event published to the
bus (schemas/events/). tests/test_contracts.py fails when a committed schema no longer matches its model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "layers" / "postsale"))

from hokodo_postsale.contracts.document_drops import DocumentObjectMetadata  # noqa: E402
from hokodo_postsale.contracts.messages import CancellationMessage, ReturnMessage, ShipmentMessage  # noqa: E402
from hokodo_postsale.events.catalogue import CATALOGUE  # noqa: E402

MAJOR_VERSION = 1  # of every contract: additive changes only within a major version (docs/contracts.md)
CONTRACTS = {
    "shipment": ShipmentMessage,
    "return": ReturnMessage,
    "cancellation": CancellationMessage,
    "document-metadata": DocumentObjectMetadata,
    **{f"events/{model.DETAIL_TYPE.lower().replace(' ', '-')}": model for model in CATALOGUE},
}


def render(name: str) -> str:
    model = CONTRACTS[name]
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": f"urn:hokodo-postsale:v{MAJOR_VERSION}:{name}"}
    schema |= model.model_json_schema()
    if detail_type := getattr(model, "DETAIL_TYPE", ""):
        schema["title"] = detail_type
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    for name in CONTRACTS:
        path = HERE / f"{name}.schema.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(render(name))
        print(f"wrote schemas/{name}.schema.json")
