"""Deployment settings, read once per container from the environment the template sets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class FulfilmentPolicy(StrEnum):
    """Hokodo's recommendation table ("Do you have partial order shipment?") as a deployment choice."""

    FULL_ONLY = "full_only"
    PARTIAL_THEN_CANCEL = "partial_then_cancel"
    PARTIAL_SOMETIMES_CANCEL = "partial_sometimes_cancel"
    PARTIAL_LEAVE_OPEN = "partial_leave_open"

    @property
    def voids_remaining_after_capture(self) -> bool:
        """Default for a shipment's `final`: whether the rest of the authorisation is voided after a capture."""
        return self in (FulfilmentPolicy.FULL_ONLY, FulfilmentPolicy.PARTIAL_THEN_CANCEL)


DEFAULT_MAX_AMOUNT = 1_000_000_000  # 10,000,000.00 in a two-decimal currency: the template's MaxAmount default
DEFAULT_MAX_DOCUMENT_BYTES = 25_000_000  # the template's MaxDocumentBytes default


@dataclass(frozen=True)
class Settings:
    hokodo_base_url: str
    hokodo_api_key_secret: str
    idempotency_table: str
    dead_letter_queue_url: str
    fulfilment_policy: FulfilmentPolicy
    idempotency_ttl_seconds: int
    hokodo_timeout_seconds: float
    hokodo_max_attempts: int
    batch_concurrency: int
    secret_max_age_seconds: int
    out_of_order_max_receives: int
    max_receive_count: int  # the source queue's maxReceiveCount: the last receive is parked by the bundle, with its reason
    max_amount: int  # the largest amount (minor units) a message may carry
    max_document_bytes: int  # the largest document uploaded; /tmp (EphemeralStorage) must hold it
    event_bus_name: str  # where deferred payment facts are published
    event_source: str  # their `source`
    webhook_secret: str  # Secrets Manager name or ARN of the notification URL's secret
    drift_settle_seconds: int  # drift is reported only once Hokodo and the bundle have both been still this long
    sync_queue_url: str  # where deferred payments are put to be synced (notifications, applied actions, reconciliation)
    key_trust_seconds: int  # an in-doubt action older than this is checked against Hokodo's totals before it is sent again

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        return cls(
            hokodo_base_url=env.get("HOKODO_BASE_URL", "https://api-sandbox.hokodo.co/v1/"),
            hokodo_api_key_secret=env.get("HOKODO_API_KEY_SECRET", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL", ""),
            fulfilment_policy=FulfilmentPolicy(env.get("FULFILMENT_POLICY", "partial_sometimes_cancel")),
            idempotency_ttl_seconds=int(env.get("IDEMPOTENCY_TTL_SECONDS", str(14 * 24 * 3600))),
            hokodo_timeout_seconds=float(env.get("HOKODO_TIMEOUT_SECONDS", "10")),
            hokodo_max_attempts=int(env.get("HOKODO_MAX_ATTEMPTS", "4")),
            batch_concurrency=int(env.get("BATCH_CONCURRENCY", "10")),
            secret_max_age_seconds=int(env.get("SECRET_MAX_AGE_SECONDS", "300")),
            out_of_order_max_receives=int(env.get("OUT_OF_ORDER_MAX_RECEIVES", "3")),
            max_receive_count=int(env.get("MAX_RECEIVE_COUNT", "0")),  # 0: unknown, SQS's redrive policy alone decides
            max_amount=int(env.get("MAX_AMOUNT", str(DEFAULT_MAX_AMOUNT))),
            max_document_bytes=int(env.get("MAX_DOCUMENT_BYTES", str(DEFAULT_MAX_DOCUMENT_BYTES))),
            event_bus_name=env.get("EVENT_BUS_NAME", ""),
            event_source=env.get("EVENT_SOURCE", "hokodo.postsale"),
            webhook_secret=env.get("WEBHOOK_SECRET", ""),
            drift_settle_seconds=int(env.get("DRIFT_SETTLE_SECONDS", "900")),
            sync_queue_url=env.get("SYNC_QUEUE_URL", ""),
            key_trust_seconds=int(env.get("KEY_TRUST_SECONDS", str(24 * 3600))),
        )
