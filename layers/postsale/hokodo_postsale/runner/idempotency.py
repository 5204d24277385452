"""Both layers of exactly-once, derived from the same business key (the upstream `event_id`).

1. Powertools idempotency in DynamoDB: one record per (kind, event_id), with the fields that define the
   action hashed for payload validation, so a reused event_id with other content is an error.
2. A deterministic `Idempotency-Key` header for Hokodo, so that a crash between Hokodo's answer and the
   DynamoDB write makes the redelivery replay Hokodo's first answer instead of applying twice. It is
   derived from (kind, event_id, action, generation): the generation moves on only after Hokodo
   definitively refused the action (see event_state.py), so a fixed and redriven message gets a fresh key
   while a request that may have been applied is always retried under its own.
"""

from __future__ import annotations

import uuid

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

# Never change: every Idempotency-Key ever sent to Hokodo is derived from it.
_HOKODO_KEY_NAMESPACE = uuid.UUID("6f1c2a5e-3b7d-4e58-9a0b-5d2f7c1e8a44")
# Every item the bundle keeps in the table starts with it: `hokodo-postsale.<kind>#…` (Powertools' records) and
# `hokodo-postsale.<kind>.state#…` (event_state.py). The template's IAM policies grant each function its own prefix.
KEY_PREFIX = "hokodo-postsale"


def hokodo_idempotency_key(kind: str, event_id: str, action: str, generation: int = 0) -> str:
    """The same (kind, event_id, action, generation) always gives the same UUID, on any container, after any crash.
    Generation 0 is the key this bundle has always sent for an action."""
    name = action if generation == 0 else f"{action}#{generation}"
    return str(uuid.uuid5(_HOKODO_KEY_NAMESPACE, f"{kind}\x1f{event_id}\x1f{name}"))


def record_prefix(kind: str) -> str:
    """Powertools' key prefix for one kind of event: stable across function renames and redeploys."""
    return f"{KEY_PREFIX}.{kind}"


def idempotency_config(ttl_seconds: int, action_fields: tuple[str, ...]) -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="event_id",
        payload_validation_jmespath=f"[{', '.join(action_fields)}]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
    )


def persistence_layer(table_name: str, kind: str, config: IdempotencyConfig) -> DynamoDBPersistenceLayer:
    """Configured once, at cold start: Powertools would otherwise configure it on the first call of each worker
    thread, and two threads doing so at once race (one may see it configured before the key paths are set)."""
    persistence = DynamoDBPersistenceLayer(table_name=table_name)
    persistence.configure(config, key_prefix=record_prefix(kind))
    return persistence


def record_key(persistence: DynamoDBPersistenceLayer, kind: str, event_id: str) -> str:
    """Powertools' own key of the record of an event of any kind (`<prefix>#<hash of event_id>`), hashed by
    Powertools' own function, so a message can look up whether an earlier event has taken effect."""
    return f"{record_prefix(kind)}#{persistence._generate_hash(event_id)}"  # noqa: SLF001 - Powertools' own hashing
