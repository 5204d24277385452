"""The unauthenticated admin API under /_admin/ used by tests to drive the emulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from . import ledger
from .clock import iso
from .faults import FaultConfigError
from .parts import EmulatorParts
from .profile import ProfileError, show_deferred_payment, show_event
from .store import Conflict, NotFound
from .web import BadJSON, Request, Response, detail, method_not_allowed, not_found

_CREATE_KEYS = {"authorisation", "currency", "id", "order_id", "notification_url", "expiry_days"}
_ID = re.compile(r"[A-Za-z0-9_.~-]{1,100}")


class _Invalid(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(str(body))
        self.body = body


def _json(req: Request) -> Any:
    try:
        return req.json()
    except BadJSON as exc:
        raise _Invalid({"detail": str(exc)}) from None


def _body(req: Request) -> dict[str, Any]:
    data = _json(req)
    if not isinstance(data, dict):
        raise _Invalid({"detail": "Expected a JSON object."})
    return data


def _non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _Invalid({name: ["A valid non-negative number is required."]})
    return value


def handle(app: EmulatorParts, req: Request) -> Response:
    parts = [unquote(p) for p in req.path.rstrip("/").split("/")[2:]]  # after "/_admin"
    for pattern, methods in _ROUTES:
        if len(pattern) == len(parts) and all(p in ("*", x) for p, x in zip(pattern, parts, strict=True)):
            handler = methods.get(req.method)
            if handler is None:
                return method_not_allowed(req.method, sorted(methods))
            args = [x for p, x in zip(pattern, parts, strict=True) if p == "*"]
            return _run(handler, app, req, args)
    return not_found()


def _run(handler: Callable[..., Response], app: EmulatorParts, req: Request, args: list[str]) -> Response:
    """Call a handler, turning domain exceptions into DRF-style error responses."""
    try:
        return handler(app, req, *args)
    except _Invalid as exc:
        response = Response(400, exc.body)
    except FaultConfigError as exc:
        response = detail(400, str(exc))
    except ledger.LedgerError as exc:
        response = Response(400, exc.body())
    except ProfileError as exc:
        response = Response(400, exc.body)
    except NotFound:
        response = not_found()
    except Conflict as exc:
        response = detail(409, str(exc))
    return response


def _health(app: EmulatorParts, req: Request) -> Response:
    return Response(200, {"status": "ok", "now": iso(app.state.clock.now())})


def _list_dps(app: EmulatorParts, req: Request) -> Response:
    profile = app.profile.current
    return Response(200, [show_deferred_payment(dp, profile) for dp in app.state.list_deferred_payments()])


def _create_dp(app: EmulatorParts, req: Request) -> Response:
    return Response(201, show_deferred_payment(_create(app, _body(req)), app.profile.current))


def _get_dp(app: EmulatorParts, req: Request, dp_id: str) -> Response:
    return Response(200, show_deferred_payment(app.state.get_deferred_payment(dp_id), app.profile.current))


def _clawback(app: EmulatorParts, req: Request, dp_id: str) -> Response:
    data = _body(req)
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _Invalid({"metadata": ["Expected a JSON object."]})
    if "amount" not in data:
        raise _Invalid({"amount": [ledger.AMOUNT_REQUIRED]})
    return Response(201, show_event(app.state.clawback(dp_id, data["amount"], metadata), app.profile.current))


def _get_clock(app: EmulatorParts, req: Request) -> Response:
    return Response(200, _clock(app))


def _advance_clock(app: EmulatorParts, req: Request) -> Response:
    data = _body(req)
    seconds = _non_negative(data.get("seconds", 0), "seconds")
    days = _non_negative(data.get("days", 0), "days")
    app.state.advance_clock(timedelta(days=days, seconds=seconds))
    return Response(200, _clock(app))


def _requests(app: EmulatorParts, req: Request) -> Response:
    return Response(200, app.state.requests())


def _clear_requests(app: EmulatorParts, req: Request) -> Response:
    app.state.clear_requests()
    return Response(204)


def _webhooks(app: EmulatorParts, req: Request) -> Response:
    return Response(200, app.webhooks.log())


def _webhook_faults(app: EmulatorParts, req: Request) -> Response:
    try:
        faults = req.json()
        app.webhooks.add_faults(faults if isinstance(faults, list) else [faults])
    except (BadJSON, ValueError, AttributeError) as exc:
        raise _Invalid({"detail": str(exc)}) from None
    return Response(204)


def _webhook_rates(app: EmulatorParts, req: Request) -> Response:
    data = _body(req)
    try:
        app.webhooks.set_rates(drop=data.get("drop", 0.0), duplicate=data.get("duplicate", 0.0), seed=data.get("seed"))
    except ValueError as exc:
        raise _Invalid({"detail": str(exc)}) from None
    return Response(204)


def _clear_webhooks(app: EmulatorParts, req: Request) -> Response:
    app.webhooks.reset()
    return Response(204)


def _payout_items(app: EmulatorParts, req: Request, order_id: str) -> Response:
    return Response(200, app.state.payout_items(order_id))


def _order_documents(app: EmulatorParts, req: Request, order_id: str) -> Response:
    return Response(200, [d.to_admin(req.base_url) for d in app.state.order_documents(order_id)])


def _document(app: EmulatorParts, req: Request, doc_id: str) -> Response:
    return Response(200, app.state.document(doc_id).to_admin(req.base_url))


def _get_faults(app: EmulatorParts, req: Request) -> Response:
    return Response(200, app.faults.snapshot())


def _put_faults(app: EmulatorParts, req: Request) -> Response:
    data = _body(req)
    app.faults.configure(
        latency_ms=data.get("latency_ms", 0),
        error_rates=data.get("error_rates"),
        next=data.get("next"),
        timeout_seconds=data.get("timeout_seconds", 2.0),
    )
    return Response(200, app.faults.snapshot())


def _delete_faults(app: EmulatorParts, req: Request) -> Response:
    app.faults.clear()
    return Response(200, app.faults.snapshot())


def _add_faults(app: EmulatorParts, req: Request) -> Response:
    app.faults.add(_json(req))
    return Response(200, app.faults.snapshot())


def _get_idempotency(app: EmulatorParts, req: Request) -> Response:
    return Response(200, app.state.idempotency.view())


def _put_idempotency(app: EmulatorParts, req: Request) -> Response:
    data = _body(req)
    if set(data) != {"replay_4xx"} or type(data["replay_4xx"]) is not bool:
        raise _Invalid({"detail": 'Expected {"replay_4xx": true or false}.'})
    app.state.idempotency.replay_4xx = data["replay_4xx"]
    return Response(200, app.state.idempotency.view())


def _forget_idempotency_keys(app: EmulatorParts, req: Request) -> Response:
    app.state.idempotency.forget()
    return Response(200, app.state.idempotency.view())


def _get_profile(app: EmulatorParts, req: Request) -> Response:
    return Response(200, app.profile.current.view())


def _put_profile(app: EmulatorParts, req: Request) -> Response:
    """`{"name"?: "default" | "sparse", "behaviours"?: {...}}`: the behaviours change the named profile, else the current one."""
    return Response(200, app.profile.update(_body(req)).view())


def _reset(app: EmulatorParts, req: Request) -> Response:
    app.reset()
    return Response(200, {"status": "reset"})


_ROUTES: tuple[tuple[tuple[str, ...], dict[str, Callable[..., Response]]], ...] = (
    (("health",), {"GET": _health}),
    (("deferred_payments",), {"GET": _list_dps, "POST": _create_dp}),
    (("deferred_payments", "*"), {"GET": _get_dp}),
    (("deferred_payments", "*", "clawback"), {"POST": _clawback}),
    (("clock",), {"GET": _get_clock}),
    (("clock", "advance"), {"POST": _advance_clock}),
    (("requests",), {"GET": _requests, "DELETE": _clear_requests}),
    (("webhooks",), {"GET": _webhooks, "DELETE": _clear_webhooks}),
    (("webhooks", "faults"), {"POST": _webhook_faults}),
    (("webhooks", "rates"), {"PUT": _webhook_rates}),
    (("documents", "*"), {"GET": _document}),
    (("orders", "*", "payout_items"), {"GET": _payout_items}),
    (("orders", "*", "documents"), {"GET": _order_documents}),
    (("faults",), {"GET": _get_faults, "PUT": _put_faults, "DELETE": _delete_faults}),
    (("faults", "next"), {"POST": _add_faults}),
    (("idempotency",), {"GET": _get_idempotency, "PUT": _put_idempotency, "DELETE": _forget_idempotency_keys}),
    (("profile",), {"GET": _get_profile, "PUT": _put_profile}),
    (("reset",), {"POST": _reset}),
)


def _clock(app: EmulatorParts) -> dict[str, Any]:
    clock = app.state.clock
    return {"now": iso(clock.now()), "offset_seconds": clock.offset.total_seconds()}


def _create(app: EmulatorParts, data: dict[str, Any]) -> dict[str, Any]:
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
