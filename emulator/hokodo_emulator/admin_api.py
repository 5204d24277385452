"""The unauthenticated admin API under /_admin/ used by tests to drive the emulator."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from . import ledger
from .clock import iso
from .faults import FaultConfigError
from .store import Conflict, NotFound
from .web import BadJSON, Request, Response, detail, method_not_allowed, not_found

if TYPE_CHECKING:
    from .app import Emulator

_CREATE_KEYS = {"authorisation", "currency", "id", "order_id", "notification_url", "expiry_days"}
_ID = re.compile(r"[A-Za-z0-9_.~-]{1,100}")


class _Invalid(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.body = body


def _body(req: Request) -> dict[str, Any]:
    try:
        data = req.json()
    except BadJSON as exc:
        raise _Invalid({"detail": str(exc)}) from None
    if not isinstance(data, dict):
        raise _Invalid({"detail": "Expected a JSON object."})
    return data


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _Invalid({name: ["A valid non-negative number is required."]})
    return value


def handle(app: Emulator, req: Request) -> Response:
    try:
        return _route(app, req)
    except _Invalid as exc:
        return Response(400, exc.body)
    except FaultConfigError as exc:
        return detail(400, str(exc))
    except ledger.LedgerError as exc:
        return Response(400, exc.body())
    except NotFound:
        return not_found()
    except Conflict as exc:
        return detail(409, str(exc))


def _route(app: Emulator, req: Request) -> Response:  # noqa: C901 - a flat routing table
    state, method = app.state, req.method
    path = req.path.rstrip("/")
    parts = [unquote(p) for p in path.split("/")[2:]]  # after "/_admin"

    def allow(*methods: str) -> None:
        if method not in methods:
            raise _MethodNotAllowed(list(methods))

    try:
        match parts:
            case ["health"]:
                allow("GET")
                return Response(200, {"status": "ok", "now": iso(state.clock.now())})
            case ["deferred_payments"]:
                allow("GET", "POST")
                if method == "GET":
                    return Response(200, state.list_deferred_payments())
                return Response(201, _create(app, _body(req)))
            case ["deferred_payments", dp_id]:
                allow("GET")
                return Response(200, state.get_deferred_payment(dp_id))
            case ["deferred_payments", dp_id, "clawback"]:
                allow("POST")
                data = _body(req)
                metadata = data.get("metadata") or {}
                if not isinstance(metadata, dict):
                    raise _Invalid({"metadata": ["Expected a JSON object."]})
                if "amount" not in data:
                    raise _Invalid({"amount": [ledger.AMOUNT_REQUIRED]})
                return Response(201, state.clawback(dp_id, data["amount"], metadata))
            case ["clock"]:
                allow("GET")
                return Response(200, _clock(app))
            case ["clock", "advance"]:
                allow("POST")
                data = _body(req)
                seconds = _non_negative(data.get("seconds", 0), "seconds")
                days = _non_negative(data.get("days", 0), "days")
                state.advance_clock(timedelta(days=days, seconds=seconds))
                return Response(200, _clock(app))
            case ["requests"]:
                allow("GET", "DELETE")
                if method == "DELETE":
                    state.clear_requests()
                    return Response(204)
                return Response(200, state.requests())
            case ["webhooks"]:
                allow("GET", "DELETE")
                if method == "DELETE":
                    app.webhooks.reset()
                    return Response(204)
                return Response(200, app.webhooks.log())
            case ["documents", doc_id]:
                allow("GET")
                return Response(200, state.document(doc_id).to_admin(req.base_url))
            case ["faults"]:
                allow("GET", "PUT", "DELETE")
                if method == "PUT":
                    data = _body(req)
                    app.faults.configure(
                        latency_ms=data.get("latency_ms", 0),
                        error_rates=data.get("error_rates"),
                        next=data.get("next"),
                    )
                elif method == "DELETE":
                    app.faults.clear()
                return Response(200, app.faults.snapshot())
            case ["faults", "next"]:
                allow("POST")
                try:
                    specs = req.json()
                except BadJSON as exc:
                    raise _Invalid({"detail": str(exc)}) from None
                app.faults.add(specs)
                return Response(200, app.faults.snapshot())
            case ["reset"]:
                allow("POST")
                app.reset()
                return Response(200, {"status": "reset"})
    except _MethodNotAllowed as exc:
        return method_not_allowed(method, exc.allowed)
    return not_found()


class _MethodNotAllowed(Exception):
    def __init__(self, allowed: list[str]) -> None:
        super().__init__(allowed)
        self.allowed = allowed


def _clock(app: Emulator) -> dict[str, Any]:
    clock = app.state.clock
    return {"now": iso(clock.now()), "offset_seconds": clock.offset.total_seconds()}


def _create(app: Emulator, data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - _CREATE_KEYS
    if unknown:
        raise _Invalid({"detail": f"Unknown fields: {', '.join(sorted(unknown))}."})
    errors: dict[str, list[str]] = {}
    authorisation = data.get("authorisation")
    if type(authorisation) is not int or authorisation <= 0:
        errors["authorisation"] = [ledger.AMOUNT_INVALID]
    currency = data.get("currency", "GBP")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        errors["currency"] = ["A three-letter upper-case ISO 4217 code is required."]
    for key in ("id", "order_id"):
        value = data.get(key)
        if value is not None and (not isinstance(value, str) or not _ID.fullmatch(value)):
            errors[key] = ["Up to 100 letters, digits, '-', '_', '.' or '~'."]
    url = data.get("notification_url")
    if url is not None and (not isinstance(url, str) or not re.match(r"https?://", url)):
        errors["notification_url"] = ["An http(s) URL is required."]
    expiry = data.get("expiry_days")
    if expiry is not None:
        try:
            expiry = _non_negative(expiry, "expiry_days")
        except _Invalid as exc:
            errors.update(exc.body)
    if errors:
        raise _Invalid(errors)
    return app.state.create_deferred_payment(
        authorisation,
        currency=currency,
        id=data.get("id"),
        order_id=data.get("order_id"),
        notification_url=url,
        expiry_days=expiry,
    )
