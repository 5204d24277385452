"""What every domain function receives: the Hokodo client, the settings, and `perform`, which sends one
Hokodo action of the event being applied exactly once, across deliveries, duplicates and redrives.

An action whose answer never came (a timeout, a 5xx, a dropped connection, a key conflict) may have been applied.
It is retried under its own Idempotency-Key, which Hokodo replays, but only for as long as Hokodo can be trusted to
remember the key (`KeyTrustSeconds`, unknown at Hokodo: 24 h by default). Past that, before it is sent again, Hokodo's
totals decide: the deferred payment is read and its total (captured, refunded or voided) compared with what the bundle
recorded as applied; the in-doubt amount already there is recorded as applied, nothing there is sent, anything else
is dead-lettered for the operator. A `*_remaining` action is never in doubt that way: once applied, nothing remains,
so sending it again applies nothing more."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar

from aws_lambda_powertools import Logger
from pydantic import BaseModel

from ..errors import HokodoRefused, OutcomeUndecidable, PostSaleError
from ..hokodo.client import HokodoClient
from ..hokodo.models import PostSaleEvent
from ..settings import Settings
from .event_state import EventState, EventStore
from .idempotency import hokodo_idempotency_key

logger = Logger()
Answer = TypeVar("Answer", bound=BaseModel)
# The actions whose outcome Hokodo's totals can decide: the total each moves, and the changes it makes, by its amount.
_DECIDED_BY_TOTALS: dict[str, tuple[str, Callable[[int], dict[str, int]]]] = {
    "capture": ("captured", lambda amount: {"protected_captures": amount}),  # how much beyond the authorisation: unknown
    "refund": ("refunded", lambda amount: {"refunds": amount, "protected_captures": -amount}),
    "void": ("voided", lambda amount: {"voided_authorisation": amount, "authorisation": -amount}),
}


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
    def perform(
        self,
        action: str,
        send: Callable[[str], Answer],
        answer: type[Answer] = PostSaleEvent,  # type: ignore[assignment]
        *,
        amount: int | None = None,
    ) -> Answer:
        """Send `action` (named in Hokodo's words; `amount` in minor units when it has one) with `send(idempotency_key)`,
        unless an earlier delivery of this event already applied it: then its recorded answer is returned and nothing
        is sent.

        Actions applied earlier in this delivery are recorded first, so a failure of this one never leads a later
        delivery to repeat them. The last action of an event is never recorded here: Powertools' record of the
        event, written when it completes, covers it. After a definitive refusal the event's key generation moves
        on; after an answer that leaves the outcome unknown, the action is recorded as in doubt (see the module).
        Any error raised carries which action failed and which were applied before it.
        """
        if action in self._state.applied:
            return answer.model_validate_json(self._state.applied[action])
        generation = self._state.generation
        attempted_at = time.time()
        try:
            self.checkpoint()
            found = self._found_in_totals(action, amount) if answer is PostSaleEvent else None
            if found is not None:
                self._unrecorded[action] = found.model_dump_json()
                return answer.model_validate(found.model_dump())
            result = send(hokodo_idempotency_key(self._kind, self._event_id, action, generation))
        except HokodoRefused as refused:
            self._state.generation = self._store.advance_generation(self._event_id, generation)
            raise _failed(refused, action, self.applied) from None
        except PostSaleError as error:
            unknown = getattr(error, "outcome_unknown", False)  # Hokodo may have applied it
            if unknown and action in _DECIDED_BY_TOTALS and action not in self._state.doubts:
                self._store.record_doubt(self._event_id, action, attempted_at)
                self._state.doubts[action] = attempted_at
            raise _failed(error, action, self.applied) from None
        self._unrecorded[action] = result.model_dump_json()
        return result

    def _found_in_totals(self, action: str, amount: int | None) -> PostSaleEvent | None:
        """For an action in doubt for longer than Hokodo is trusted to remember its key: Hokodo's answer, rebuilt, when
        its totals show it applied; None when they show it was not (send it); OutcomeUndecidable otherwise."""
        doubted_at = self._state.doubts.get(action)
        trusted_for = self.settings.key_trust_seconds
        if doubted_at is None or amount is None or self._deferred_payment_id is None or time.time() - doubted_at <= trusted_for:
            return None
        total, changes = _DECIDED_BY_TOTALS[action]
        at_hokodo = self.hokodo.get_deferred_payment(self._deferred_payment_id).totals()[total]
        recorded = self._store.sent(self._deferred_payment_id)[total]
        moved = at_hokodo - recorded
        where = {"event_id": self._event_id, "action": action, "amount": amount, "at_hokodo": at_hokodo, "recorded": recorded}
        if moved == 0:
            logger.info("in-doubt action not applied at Hokodo: sent again", extra=where)
            return None
        if moved == amount:
            logger.warning("in-doubt action found applied in Hokodo's totals: recorded as applied, not sent again", extra=where)
            found = {"type": action, "amount": amount, "changes": changes(amount), "found_in_totals": True}
            return PostSaleEvent.model_validate(found)
        raise OutcomeUndecidable(
            f"{action} of {amount} was sent {int(time.time() - doubted_at)} s ago without a clear answer, longer than Hokodo is "
            f"trusted to remember its Idempotency-Key (KeyTrustSeconds {trusted_for}); Hokodo's {total} total is {at_hokodo}, "
            f"the bundle recorded {recorded} as applied: the difference ({moved}) is not this amount, so something else moved "
            f"it too. Check the deferred payment {self._deferred_payment_id} at Hokodo: if this {action} is there, drop this "
            "message; if not, redrive it after raising KeyTrustSeconds above its age, or send it again as a new event"
        )

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
