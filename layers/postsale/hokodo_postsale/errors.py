"""Failure classes: every error is either transient (try again later) or permanent (dead-letter now).

The batch runner only looks at which of the two an exception is; the message of a permanent error
becomes the dead-letter reason, so it must say what went wrong without carrying any secret.
"""

from __future__ import annotations


class PostSaleError(Exception):
    """Base class for every error this package raises on purpose."""

    transient = False


class TransientError(PostSaleError):
    """Worth retrying: the same request may succeed later (timeouts, 429, 5xx, in-flight duplicates)."""

    transient = True


class PermanentError(PostSaleError):
    """Retrying cannot help: the message or the request is wrong. The record goes to its DLQ with this reason."""


class InvalidMessage(PermanentError):
    """The upstream message does not follow the contract (malformed JSON, float amount, missing field...)."""


class HokodoError(PostSaleError):
    """Hokodo answered with an error status. Carries the API's own message, like stripe-python's errors."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: object = None,
        action: str = "",
        retry_after: float | None = None,
        unknown: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.detail = detail
        self.action = action
        self.retry_after = retry_after  # seconds, from Hokodo's Retry-After (429, 503), when it sent one
        # The request reached Hokodo and nothing says whether it was applied (a timeout after sending, a lost
        # connection, a 5xx other than 503, an answer that is not the documented one, a key conflict).
        self.outcome_unknown = unknown


class HokodoUnavailable(HokodoError, TransientError):
    """Timeout, connection error or 5xx: Hokodo may or may not have applied the request."""


class HokodoRateLimited(HokodoError, TransientError):
    """429. `retry_after` is Hokodo's Retry-After in seconds, when it sent one."""


class HokodoAuthenticationFailed(HokodoError, TransientError):
    """401/403: the API key is wrong or revoked. Transient so messages wait in the queue while it is fixed."""


class HokodoRefused(HokodoError, PermanentError):
    """A definitive refusal: a 4xx other than 401, 403, 408, 409, 429 and an Idempotency-Key conflict.
    Nothing was applied, so the event's next attempt (a redrive after the cause is fixed) is sent under
    the next key generation."""


class HokodoRejected(HokodoRefused):
    """4xx validation error: Hokodo refused this request and will refuse it again."""


class DeferredPaymentNotFound(HokodoRefused):
    """404: Hokodo has no deferred payment (or order) with this id."""


class IdempotencyKeyConflict(HokodoError, PermanentError):
    """Hokodo saw this Idempotency-Key before with a different request body. That key may have been
    applied, so this is never a definitive refusal: the key generation does not advance."""


class HokodoProtocolError(HokodoError, PermanentError):
    """A 3xx, or a 2xx whose body is not the documented JSON. Hokodo may have applied the request, so it is
    retried a bounded number of times under the same key, then dead-lettered; never a new key generation."""


class OutcomeUndecidable(PermanentError):
    """An action whose outcome was left in doubt long ago, and which Hokodo's totals cannot decide: another sender moved
    the same total. Dead-lettered with what to check; never sent blind."""


class OutcomeInDoubt(HokodoError, PermanentError):
    """A request reached Hokodo, no answer says whether it was applied, and the endpoint's Idempotency-Key handling is not
    documented (order documents): it is not sent again blind. Dead-lettered for the operator to check at Hokodo; a
    redrive sends it once."""


class InvalidIdentifier(PermanentError):
    """An id that would not be a single path segment of Hokodo's API (e.g. `../x`): nothing is sent."""


class DocumentUnavailable(PermanentError):
    """The object version a notification names was deleted or overwritten before it was processed."""


class AwaitingEarlierEvent(TransientError):
    """Hokodo refused this event, but an earlier business event it depends on (e.g. the shipment a
    return reverses) may still be on its way. Retried until the record's receive count reaches the
    deployment's OUT_OF_ORDER_MAX_RECEIVES, then dead-lettered with this reason."""


class HeldBack(TransientError):
    """Not tried: an earlier record of the same deferred payment failed in this batch, and this one must not
    overtake it. The message names the blocking event."""


class KeyGenerationMoved(TransientError):
    """Another delivery of the same event advanced its key generation concurrently: the refusal seen here may
    be stale. Retried, and read afresh."""
