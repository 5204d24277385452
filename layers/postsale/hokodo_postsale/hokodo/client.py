"""Hokodo API client: one pooled httpx client per container, explicit timeouts, Token auth,
an Idempotency-Key on every post-sale POST, and retries of transient failures while time allows.

Retrying a POST is safe only because the same Idempotency-Key goes with every attempt: Hokodo
replays its first answer instead of applying the action twice.

Each attempt, as a whole (connect, send, headers and body), ends within the client's timeout and
before the deadline (`deadline_backend`): httpx's own timeouts are per read, and a response that
trickles in would otherwise hold a call past the Lambda invocation.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any, TypeVar
from urllib.parse import quote

import httpx

from ..errors import (
    DeferredPaymentNotFound,
    HokodoAuthenticationFailed,
    HokodoError,
    HokodoProtocolError,
    HokodoRateLimited,
    HokodoRejected,
    HokodoUnavailable,
    IdempotencyKeyConflict,
    InvalidIdentifier,
    OutcomeInDoubt,
    TransientError,
)
from .models import DeferredPayment, OrderDocument, PostSaleEvent

T = TypeVar("T")
POST_SALE_ACTIONS = ("capture", "capture_remaining", "refund", "void", "void_remaining")
_BACKOFF_BASE_SECONDS = 0.25
_BACKOFF_CAP_SECONDS = 4.0
_MIN_ATTEMPT_SECONDS = 0.05  # with less than this left before the deadline, an attempt is not worth starting
_BODY_CHARS = 500  # of Hokodo's answer, in an error message
# Hokodo's ids (defpay-HiTrbSti37vE2nq9aJHgiP, order-..., odoc-...) are one path segment of these characters.
_PATH_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_DELAY_SECONDS = re.compile(r"[0-9]{1,9}(?:\.[0-9]+)?")
# Hokodo's wording for a reused key is not documented: any 4xx that mentions the key (Idempotency-Key, idempotency_key,
# "idempotency key") is taken for a conflict, whatever its status, and so is every 409.
_IDEMPOTENCY_KEY = re.compile(r"idempotency[\s_-]*key", re.IGNORECASE)
_UPLOAD_SECONDS = 60.0  # an upload attempt may take this long (still never past the deadline): documents are large


class HokodoClient:
    """Talks to `base_url` (e.g. https://api-sandbox.hokodo.co/v1/). Thread-safe: one instance serves a batch."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_seconds: float = 10.0,
        max_attempts: int = 4,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._timeout_seconds = timeout_seconds
        self._connect_seconds = min(3.0, timeout_seconds)
        if transport is None:  # a transport given (tests) is used as is, without the whole-attempt bound
            from .deadline_backend import deadline_transport

            transport = deadline_transport(httpx.Limits(max_connections=20, max_keepalive_connections=20))
        self._http = httpx.Client(
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            headers={"Authorization": f"Token {api_key}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout_seconds, connect=self._connect_seconds),
            transport=transport,
        )
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._deadline: float | None = None
        # Told of every attempt: (action, HTTP status or None when no answer came, seconds). Observability hooks here.
        self.on_attempt: Callable[[str, int | None, float], None] = lambda action, status, seconds: None
        # Told of a deferred payment read tolerantly: (its id, what was tolerated). See hokodo/models.py.
        self.on_tolerated: Callable[[str, tuple[str, ...]], None] = lambda deferred_payment_id, notes: None

    def use_deadline(self, deadline: float | None) -> None:
        """Stop retrying at this `time.monotonic()` instant (the invocation's end less a margin)."""
        self._deadline = deadline

    def close(self) -> None:
        self._http.close()

    # -- post-sale actions -------------------------------------------------------------------
    def capture(
        self, deferred_payment_id: str, amount: int, *, idempotency_key: str, metadata: dict[str, Any] | None = None
    ) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "capture", idempotency_key=idempotency_key, amount=amount, metadata=metadata)

    def capture_remaining(
        self, deferred_payment_id: str, *, idempotency_key: str, metadata: dict[str, Any] | None = None
    ) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "capture_remaining", idempotency_key=idempotency_key, metadata=metadata)

    def refund(
        self, deferred_payment_id: str, amount: int, *, idempotency_key: str, metadata: dict[str, Any] | None = None
    ) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "refund", idempotency_key=idempotency_key, amount=amount, metadata=metadata)

    def void(
        self, deferred_payment_id: str, amount: int, *, idempotency_key: str, metadata: dict[str, Any] | None = None
    ) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "void", idempotency_key=idempotency_key, amount=amount, metadata=metadata)

    def void_remaining(
        self, deferred_payment_id: str, *, idempotency_key: str, metadata: dict[str, Any] | None = None
    ) -> PostSaleEvent:
        return self.post_sale(deferred_payment_id, "void_remaining", idempotency_key=idempotency_key, metadata=metadata)

    def post_sale(
        self,
        deferred_payment_id: str,
        action: str,
        *,
        idempotency_key: str,
        amount: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> PostSaleEvent:
        if action not in POST_SALE_ACTIONS:
            raise ValueError(f"unknown post-sale action {action!r}")
        body: dict[str, Any] = {}
        if amount is not None:
            if type(amount) is not int:  # money never travels as anything but an int
                raise TypeError("amount must be an int in minor units")
            body["amount"] = amount
        if metadata:
            body["metadata"] = metadata
        return self._send(
            "POST",
            f"payment/deferred_payments/{_path_id(deferred_payment_id, 'deferred payment id')}/{action}",
            action=action,
            parse=PostSaleEvent.model_validate,
            json=body,
            headers={"Idempotency-Key": idempotency_key},
        )

    def get_deferred_payment(self, deferred_payment_id: str) -> DeferredPayment:
        path = f"payment/deferred_payments/{_path_id(deferred_payment_id, 'deferred payment id')}"
        dp = self._send("GET", path, action="get_deferred_payment", parse=DeferredPayment.model_validate)
        if dp.tolerated:
            self.on_tolerated(dp.id, dp.tolerated)
        return dp

    # -- order documents -----------------------------------------------------------------------
    def upload_document(
        self,
        order_id: str,
        *,
        file: IO[bytes],
        filename: str,
        content_type: str,
        doc_type: str,
        idempotency_key: str,
        description: str = "",
        amount: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> OrderDocument:
        """`POST orders/{order_id}/documents`, multipart/form-data as the guide says: `file`, `doc_type`,
        `description`, `amount` (integer minor units), `metadata` (a JSON object). `file` must be seekable
        with a known length (a file on disk): httpx then streams it in chunks, and rewinds it for a retry."""
        if amount is not None and type(amount) is not int:  # money never travels as anything but an int
            raise TypeError("amount must be an int in minor units")
        fields = {"doc_type": doc_type, "description": description, "metadata": json.dumps(metadata or {}, separators=(",", ":"))}
        # The same boundary on every attempt under a key, so a retry is the same request byte for byte: whether Hokodo
        # compares a key's requests by their bytes or by their fields is not documented.
        boundary = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
        if amount is not None:
            fields["amount"] = str(amount)
        return self._send(
            "POST",
            f"payment/orders/{_path_id(order_id, 'order id')}/documents",
            action="upload_document",
            parse=OrderDocument.model_validate,
            attempt_seconds=max(self._timeout_seconds, _UPLOAD_SECONDS),
            resend_when_unknown=False,  # whether the documents endpoint honours Idempotency-Key is not documented
            data=fields,
            files={"file": (filename, file, content_type)},
            headers={"Idempotency-Key": idempotency_key, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )

    def get_document(self, order_id: str, document_id: str) -> OrderDocument:
        path = f"payment/orders/{_path_id(order_id, 'order id')}/documents/{_path_id(document_id, 'document id')}"
        return self._send("GET", path, action="get_document", parse=OrderDocument.model_validate)

    def document_file_size(self, url: str) -> int | None:
        """The size of a stored document's file, from its URL's Content-Length (the body is not read), or None
        when the URL does not say. The URL is on Hokodo's storage, another host: our API key is not sent there."""
        if not url.lower().startswith(("https://", "http://")):
            return None
        request = self._http.build_request("GET", url, timeout=httpx.Timeout(self._attempt_seconds("document_file_size")))
        del request.headers["Authorization"]
        try:
            response = self._http.send(request, stream=True)
        except httpx.HTTPError:
            return None
        try:
            length = response.headers.get("Content-Length")
            return int(length) if response.status_code == 200 and length and length.isdigit() else None
        finally:
            response.close()

    # -- transport, retries and error classification ----------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        action: str,
        parse: Callable[[Any], T],
        attempt_seconds: float | None = None,
        resend_when_unknown: bool = True,
        **kwargs: Any,
    ) -> T:
        """Attempts of one request, under the same Idempotency-Key, until Hokodo's documented answer, a
        definitive error, `max_attempts`, or the deadline. A protocol error is retried like a transient one
        (Hokodo may have applied the request); after `max_attempts` it is raised as it is: permanent, so it is
        dead-lettered. Without `resend_when_unknown` (an endpoint whose Idempotency-Key handling is undocumented),
        an attempt that reached Hokodo and got no answer that says whether it was applied is never sent again:
        OutcomeInDoubt."""
        attempt, unknown = 0, False
        while True:
            attempt += 1
            try:
                return self._attempt(method, path, action, parse, kwargs, at_most=attempt_seconds)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # nothing reached Hokodo
                error: HokodoError = HokodoUnavailable(
                    f"Hokodo {action}: could not connect ({type(exc).__name__})", action=action
                )
            except httpx.TimeoutException as exc:
                error = HokodoUnavailable(
                    f"Hokodo {action}: no answer in time ({type(exc).__name__})", action=action, unknown=True
                )
            except httpx.TransportError as exc:
                error = HokodoUnavailable(f"Hokodo {action}: connection lost ({type(exc).__name__})", action=action, unknown=True)
            except httpx.DecodingError:
                error = HokodoProtocolError(f"Hokodo {action} answered with a body that could not be decoded", action=action)
            except (TransientError, HokodoProtocolError) as exc:
                error = exc  # type: ignore[assignment]  # every TransientError raised by an attempt is a HokodoError
            if error.outcome_unknown and not resend_when_unknown:
                raise OutcomeInDoubt(
                    f"{error}: the request may have been applied, and whether Hokodo honours its Idempotency-Key here is not "
                    "documented, so it is not sent again blind",
                    status=error.status,
                    detail=error.detail,
                    action=action,
                ) from error
            unknown |= error.outcome_unknown
            delay = self._retry_delay(attempt, error)
            if delay is None:
                error.outcome_unknown = unknown  # any attempt may have been applied, not only the last
                raise self._given_up(error, attempt)
            self._sleep(delay)

    def _given_up(self, error: HokodoError, attempt: int) -> HokodoError:
        """A protocol error that the deadline kept from its `max_attempts` is not settled yet: transient, so
        that SQS redelivers it to an invocation with time to retry, rather than dead-lettered now."""
        if isinstance(error, HokodoProtocolError) and attempt < self._max_attempts:
            message = f"{error} (not retried: no time left in this invocation)"
            unsettled = HokodoUnavailable(message, status=error.status, detail=error.detail, action=error.action, unknown=True)
            unsettled.__cause__ = error
            return unsettled
        return error

    def _attempt(
        self, method: str, path: str, action: str, parse: Callable[[Any], T], kwargs: dict[str, Any], *, at_most: float | None
    ) -> T:
        from .deadline_backend import attempt_deadline

        seconds = self._attempt_seconds(action, at_most)
        timeout = httpx.Timeout(seconds, connect=min(self._connect_seconds, seconds))
        started = time.monotonic()
        try:
            with attempt_deadline(started + seconds):
                response = self._http.request(method, path, timeout=timeout, **kwargs)
        except httpx.HTTPError:
            self.on_attempt(action, None, time.monotonic() - started)
            raise
        self.on_attempt(action, response.status_code, time.monotonic() - started)
        return parse_response(response, action, parse)

    def _attempt_seconds(self, action: str, at_most: float | None = None) -> float:
        """The whole time one attempt may take: the client's timeout, cut to what is left before the deadline.
        A call must never outlive the invocation, or Lambda would fail the whole batch instead of reporting
        this one record."""
        limit = at_most or self._timeout_seconds
        if self._deadline is None:
            return limit
        left = self._deadline - time.monotonic()
        if left <= _MIN_ATTEMPT_SECONDS:
            raise HokodoUnavailable(f"Hokodo {action}: no time left in this invocation", action=action)
        return min(limit, left)

    def _retry_delay(self, attempt: int, error: HokodoError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now and let SQS redeliver. Hokodo's
        Retry-After is honoured; a wait that would not leave time for an attempt before the deadline is not
        started at all."""
        if attempt >= self._max_attempts or isinstance(error, HokodoAuthenticationFailed):
            return None
        delay = random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)))
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        if self._deadline is not None and time.monotonic() + delay + _MIN_ATTEMPT_SECONDS >= self._deadline:
            return None
        return delay


def _path_id(value: object, what: str) -> str:
    """`value` as one path segment of Hokodo's API, or InvalidIdentifier: an id such as `../x` or `a/b`
    must never make a request reach another route. Percent-encoded too, as belt and braces."""
    if not isinstance(value, str) or not _PATH_ID.fullmatch(value):
        raise InvalidIdentifier(
            f"{what} {str(value)[:80]!r} is not a single path segment of letters, digits, '-' and '_': nothing was sent"
        )
    return quote(value, safe="")


def parse_response(response: httpx.Response, action: str, parse: Callable[[Any], T]) -> T:
    """Hokodo's documented answer to a 2xx, or the error its answer stands for: a 2xx whose body is not the
    documented JSON, or a 3xx (never followed), is a protocol error; the rest is `error_from_response`."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            return parse(response.json())
        except ValueError as exc:  # JSON and text decoding errors, and pydantic's ValidationError, are ValueErrors
            raise _protocol_error(response, action, f"with a body that is not the documented JSON ({_why(exc)})") from None
    if 300 <= status < 400:
        location = (response.headers.get("Location") or "")[:200] or "no Location"
        raise _protocol_error(response, action, f"(redirect to {location})")
    raise error_from_response(response, action)


def _protocol_error(response: httpx.Response, action: str, what: str) -> HokodoProtocolError:
    body = _excerpt(response)
    message = f"Hokodo {action} answered {response.status_code} {what}: {body}"
    return HokodoProtocolError(message, status=response.status_code, detail=body, action=action, unknown=True)


def error_from_response(response: httpx.Response, action: str) -> HokodoError:
    """Turn an error status into the right class, keeping Hokodo's own message (never our request headers). A conflict on
    the Idempotency-Key (any 409, or a 4xx that mentions the key) means the key may have been applied: it is never a
    definitive refusal, so the key generation never moves on for it."""
    status = response.status_code
    try:
        detail: object = response.json()
    except ValueError:
        detail = _excerpt(response)
    text = detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True)
    message = f"Hokodo {action} failed with {status}: {_bounded(text)}"
    retry_after = _retry_after_seconds(response) if status in (429, 503) else None
    kwargs: dict[str, Any] = {"status": status, "detail": detail, "action": action, "retry_after": retry_after}
    if status == 429:
        return HokodoRateLimited(message, **kwargs)
    if status in (401, 403):
        return HokodoAuthenticationFailed(message, **kwargs)
    if status == 409 or (400 <= status < 500 and _IDEMPOTENCY_KEY.search(text)):
        conflict = "a conflict on the Idempotency-Key: a request under this key may have been applied, so it is never sent again"
        return IdempotencyKeyConflict(f"{message} ({conflict} under another key)", **kwargs, unknown=True)
    if status == 404:
        return DeferredPaymentNotFound(message, **kwargs)
    if status == 408 or status >= 500:
        # 408 (the request was not wholly taken) and 503 (the service refused it) applied nothing; another 5xx may have
        return HokodoUnavailable(message, **kwargs, unknown=status not in (408, 503))
    return HokodoRejected(message, **kwargs)


def _retry_after_seconds(response: httpx.Response) -> float | None:
    """Hokodo's Retry-After in seconds from now: delta-seconds or an HTTP-date; None if absent or unreadable."""
    value = (response.headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _excerpt(response: httpx.Response) -> str:
    return _bounded(response.text)


def _bounded(text: str) -> str:
    return text if len(text) <= _BODY_CHARS else text[:_BODY_CHARS] + "..."


def _why(exc: ValueError) -> str:
    """What is wrong with a body, without echoing it: pydantic's field errors, or the decoding error."""
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic's ValidationError
        found = errors(include_url=False, include_input=False)
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in found[:3])
    return str(exc)[:100]
