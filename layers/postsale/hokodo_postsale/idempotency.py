"""Both layers of exactly-once, derived from the same business key (the upstream `event_id`).

1. Powertools idempotency in DynamoDB: one record per (kind, event_id), with the whole message
   hashed for payload validation, so a reused event_id with other content is an error.
2. A deterministic `Idempotency-Key` header for Hokodo, so that a crash between Hokodo's answer and
   the DynamoDB write makes the redelivery replay Hokodo's first answer instead of applying twice.
"""

from __future__ import annotations

import uuid

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

# Never change: every Idempotency-Key ever sent to Hokodo is derived from it.
_HOKODO_KEY_NAMESPACE = uuid.UUID("6f1c2a5e-3b7d-4e58-9a0b-5d2f7c1e8a44")


def hokodo_idempotency_key(kind: str, event_id: str, action: str) -> str:
    """The same (kind, event_id, action) always gives the same UUID, on any container, after any crash."""
    return str(uuid.uuid5(_HOKODO_KEY_NAMESPACE, f"{kind}\x1f{event_id}\x1f{action}"))


def idempotency_config(ttl_seconds: int) -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="event_id",
        payload_validation_jmespath="@",  # the whole validated message: same id + other content is refused
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
    )


def persistence_layer(table_name: str) -> DynamoDBPersistenceLayer:
    return DynamoDBPersistenceLayer(table_name=table_name)
