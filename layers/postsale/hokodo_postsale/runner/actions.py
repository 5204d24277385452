"""What every domain function receives: the Hokodo client, the settings, and `perform`, which sends one
Hokodo action of the event being applied exactly once, across deliveries, duplicates and redrives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict, TypeVar

from pydantic import BaseModel

from ..errors import HokodoRefused, PostSaleError
from ..hokodo.client import HokodoClient
from ..hokodo.models import PostSaleEvent
from ..settings import Settings
from .event_state import EventState, EventStore
from .idempotency import hokodo_idempotency_key

Answer = TypeVar("Answer", bound=BaseModel)


class AppliedAction(TypedDict):
    """The record of one Hokodo call, in the event's idempotent result (ledger tracking reads `changes` from it)."""

    action: str
    amount: int
    changes: dict[str, Any]  # Hokodo's signed deltas, minor units


class PostSaleResult(TypedDict):
    """What a post-sale event (shipment, return, cancellation) applied: kept by Powertools as the event's result."""

    deferred_payment_id: str
    actions: list[AppliedAction]


class ApplyContext:
    def __init__(
        self,
        hokodo: HokodoClient,
        settings: Settings,
        *,
        kind: str,
        event_id: str,
        state: EventState,
        store: EventStore,
        deferred_payment_id: str | None = None,
    ):
        self.hokodo = hokodo
        self.settings = settings
        self._kind, self._event_id, self._state, self._store = kind, event_id, state, store
        self._deferred_payment_id = deferred_payment_id
        self._unrecorded: dict[str, str] = {}

    # mypy cannot check a default for a TypeVar'd parameter: without `answer`, Answer is PostSaleEvent (what `send` returns).
    def perform(self, action: str, send: Callable[[str], Answer], answer: type[Answer] = PostSaleEvent) -> Answer:  # type: ignore[assignment]
        """Send `action` (named in Hokodo's words) with `send(idempotency_key)`, unless an earlier delivery of this
        event already applied it: then its recorded answer is returned and nothing is sent.

        Actions applied earlier in this delivery are recorded first, so a failure of this one never leads a later
        delivery to repeat them. The last action of an event is never recorded here: Powertools' record of the
        event, written when it completes, covers it. After a definitive refusal the event's key generation moves
        on. Any error raised carries which action failed and which were applied before it.
        """
        if action in self._state.applied:
            return answer.model_validate_json(self._state.applied[action])
        generation = self._state.generation
        try:
            self.checkpoint()
            result = send(hokodo_idempotency_key(self._kind, self._event_id, action, generation))
        except HokodoRefused as refused:
            self._state.generation = self._store.advance_generation(self._event_id, generation)
            raise _failed(refused, action, self.applied) from None
        except PostSaleError as error:
            raise _failed(error, action, self.applied) from None
        self._unrecorded[action] = result.model_dump_json()
        return result

    def checkpoint(self) -> None:
        """Record the actions applied so far, before a step that may fail."""
        if self._unrecorded:
            self._store.record_applied(self._event_id, self._unrecorded, self._deferred_payment_id)
            self._state.applied.update(self._unrecorded)
            self._unrecorded = {}

    @property
    def applied(self) -> list[str]:
        return [*self._state.applied, *self._unrecorded]


def _failed(error: PostSaleError, action: str, applied: list[str]) -> PostSaleError:
    # Attributes of this error only (read back with getattr in failure_context), not of every PostSaleError.
    error.failed_action = action  # type: ignore[attr-defined]
    error.applied_actions = list(applied)  # type: ignore[attr-defined]
    return error


def failure_context(error: BaseException) -> str:
    """`failed action X (applied before it: …)` for an error `perform` raised, else ''."""
    action = getattr(error, "failed_action", None)
    if action is None:
        return ""
    applied = getattr(error, "applied_actions", [])
    return f"failed action: {action}; applied before it, never repeated: {', '.join(applied) or 'none'}"


def applied(action: str, event: PostSaleEvent) -> AppliedAction:
    """The record of one Hokodo call, kept as the idempotent result of the message."""
    return {"action": action, "amount": event.amount, "changes": event.changes.model_dump()}
