"""The public, Hokodo-like API under /v1/ (auth, routing, validation). No sockets here."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import unquote

from . import ledger, multipart
from .profile import Profile, show_deferred_payment, show_event
from .store import NotFound, State
from .web import BadJSON, Request, Response, detail, method_not_allowed, not_found

DOC_TYPES = ("invoice", "credit_note", "purchase_order", "shipping", "other")

_DP = re.compile(r"^/v1/payment/deferred_payments/(?P<dp>[^/]+)/?$")
_ACTION = re.compile(r"^/v1/payment/deferred_payments/(?P<dp>[^/]+)/(?P<action>[^/]+)/?$")
_DOCS = re.compile(r"^/v1/payment/orders/(?P<order>[^/]+)/documents/?$")
_DOC = re.compile(r"^/v1/payment/orders/(?P<order>[^/]+)/documents/(?P<doc>[^/]+)/?$")
_FILE = re.compile(r"^/files/(?P<doc>[^/]+)/(?P<name>[^/]+)$")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


# -- authentication (mirrors DRF's TokenAuthentication) ----------------------------------------
def check_auth(req: Request, api_key: str) -> Response | None:
    """None if authenticated, else the 401. Never includes the key in anything returned."""
    header = req.headers.get("Authorization", "") or ""
    parts = header.split()
    if not parts or parts[0].lower() != "token":
        return _unauthorised("Authentication credentials were not provided.")
    if len(parts) == 1:
        return _unauthorised("Invalid token header. No credentials provided.")
    if len(parts) > 2:
        return _unauthorised("Invalid token header. Token string should not contain spaces.")
    if not hmac.compare_digest(parts[1].encode(), api_key.encode()):
        return _unauthorised("Invalid token.")
    return None


def _unauthorised(message: str) -> Response:
    return detail(401, message, **{"WWW-Authenticate": "Token"})


# -- helpers ------------------------------------------------------------------------------------
def _is_multipart(req: Request) -> bool:
    return req.content_type.split(";")[0].strip().lower() == "multipart/form-data"


def _is_json(req: Request) -> bool:
    media = req.content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _unsupported(req: Request) -> Response:
    media = req.content_type.split(";")[0].strip()
    return detail(415, f'Unsupported media type "{media}" in request.')


def _type_name(value: Any) -> str:
    return {dict: "dict", list: "list", str: "str", bool: "bool", int: "int", float: "float"}.get(
        type(value), type(value).__name__
    )


def _metadata_error(value: Any) -> str:
    return f'Expected a dictionary of items but got type "{_type_name(value)}".'


def fingerprint_body(req: Request) -> bytes:
    """What identifies a request's body for Idempotency-Key purposes.

    JSON: the raw bytes. Multipart: the parsed fields and the file's digest, because clients
    choose a fresh random boundary for every attempt and a retry must still match.
    """
    if _is_multipart(req):
        try:
            parts = multipart.parse(req.content_type, req.body)
        except multipart.MultipartError:
            return req.body
        canon = [[p.name, p.filename, p.content_type, hashlib.sha256(p.data).hexdigest()] for p in parts]
        return json.dumps(canon, sort_keys=True).encode()
    return req.body


def summarise_body(req: Request) -> Any:
    """The body as shown in the admin request log: JSON, or multipart fields without file bytes."""
    if _is_multipart(req):
        try:
            parts = multipart.parse(req.content_type, req.body)
        except multipart.MultipartError:
            return None
        out: dict[str, Any] = {}
        for p in parts:
            if p.filename is not None:
                out[p.name] = {
                    "filename": p.filename,
                    "content_type": p.content_type,
                    "size": len(p.data),
                    "sha256": hashlib.sha256(p.data).hexdigest(),
                }
            else:
                out[p.name] = p.data.decode("utf-8", "replace")
        return out
    try:
        return req.json() if req.body.strip() else None
    except BadJSON:
        return None


# -- routing ------------------------------------------------------------------------------------
class _Reject(Exception):
    """Stop handling and answer with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def is_document_upload(req: Request) -> bool:
    return req.method == "POST" and _DOCS.match(req.path) is not None


def handle(state: State, req: Request, profile: Profile) -> Response:
    """Handle an authenticated /v1 request; what it shows is shaped by ``profile``."""
    for pattern, method, handler in _ROUTES:
        m = pattern.match(req.path)
        if m is None:
            continue
        if m.groupdict().get("action", "capture") not in ledger.ACTIONS:
            return not_found()
        if req.method != method:
            return method_not_allowed(req.method, [method])
        args = {k: unquote(v) for k, v in m.groupdict().items()}
        try:
            return handler(state, req, profile, **args)
        except _Reject as exc:
            return exc.response
        except NotFound:
            return not_found()
    return not_found()


def _get_deferred_payment(state: State, req: Request, profile: Profile, dp: str) -> Response:
    return Response(200, show_deferred_payment(state.get_deferred_payment(dp), profile))


def _get_document(state: State, req: Request, profile: Profile, order: str, doc: str) -> Response:
    return Response(200, state.document(doc, order).to_api(req.base_url))


def _action(state: State, req: Request, profile: Profile, dp: str, action: str) -> Response:
    if not state.exists(dp):
        return not_found()
    amount, metadata = _action_body(req, action)
    try:
        return Response(201, show_event(state.act(dp, action, amount, metadata), profile))
    except ledger.LedgerError as exc:
        return Response(400, exc.body())


def _action_body(req: Request, action: str) -> tuple[int | None, dict[str, Any]]:
    """Validate a post-sale action's JSON body; DRF-style 400/415 via _Reject."""
    if req.body.strip() and not _is_json(req):
        raise _Reject(_unsupported(req))
    try:
        data = req.json()
    except BadJSON as exc:
        raise _Reject(detail(400, str(exc))) from None
    if not isinstance(data, dict):
        message = f"Invalid data. Expected a dictionary, but got {_type_name(data)}."
        raise _Reject(Response(400, {"non_field_errors": [message]}))
    errors: dict[str, list[str]] = {}
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        errors["metadata"] = [_metadata_error(metadata)]
    amount = None
    if action in ledger.AMOUNT_ACTIONS:
        try:
            amount = ledger.parse_amount(data["amount"]) if "amount" in data else None
            if amount is None:
                errors["amount"] = [ledger.AMOUNT_REQUIRED]
        except ledger.LedgerError as exc:
            errors.update(exc.body())
    if errors:
        raise _Reject(Response(400, errors))
    return amount, metadata


def _upload(state: State, req: Request, profile: Profile, order: str) -> Response:
    if not state.has_order(order):
        return not_found()
    if not _is_multipart(req):
        return _unsupported(req)
    try:
        parts = {p.name: p for p in multipart.parse(req.content_type, req.body)}
        texts = {n: p.text() for n, p in parts.items() if p.filename is None}
    except multipart.MultipartError as exc:
        return detail(400, str(exc))
    errors: dict[str, list[str]] = {}
    file = _field(errors, "file", _check_file, parts.get("file"))
    doc_type = _field(errors, "doc_type", _check_doc_type, texts.get("doc_type") or "other")
    amount = _field(errors, "amount", _check_doc_amount, (texts.get("amount") or "").strip())
    metadata = _field(errors, "metadata", _check_metadata, (texts.get("metadata") or "").strip())
    if errors:
        return Response(400, errors)
    filename = re.split(r"[\\/]", file.filename)[-1].strip() or "document"
    doc = state.add_document(
        order,
        doc_type=doc_type,
        description=texts.get("description", ""),
        amount=amount,
        metadata=metadata,
        filename=filename,
        content_type=file.content_type,
        data=file.data,
    )
    return Response(201, doc.to_api(req.base_url))


def _field(errors: dict[str, list[str]], name: str, check: Any, value: Any) -> Any:
    """Run ``check(value)``; a ValueError becomes ``errors[name]``."""
    try:
        return check(value)
    except ValueError as exc:
        errors[name] = [str(exc)]
        return None


def _check_file(part: multipart.Part | None) -> multipart.Part:
    if part is None:
        raise ValueError("No file was submitted.")
    if part.filename is None:
        raise ValueError("The submitted data was not a file. Check the encoding type on the form.")
    if not part.filename.strip():
        raise ValueError("No filename could be determined.")
    if not part.data:
        raise ValueError("The submitted file is empty.")
    return part


def _check_doc_type(value: str) -> str:
    if value not in DOC_TYPES:
        raise ValueError(f'"{value}" is not a valid choice.')
    return value


def _check_doc_amount(raw: str) -> int | None:
    if not raw:
        return None
    if raw.startswith("-") and _DIGITS.fullmatch(raw[1:]):
        raise ValueError("Ensure this value is greater than or equal to 0.")
    if not _DIGITS.fullmatch(raw) or len(raw) > 18:
        raise ValueError("A valid integer is required.")
    return int(raw)


def _check_metadata(raw: str) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError("Value must be valid JSON.") from None
    if not isinstance(value, dict):
        raise ValueError(_metadata_error(value))
    return value


_ROUTES = (
    (_DP, "GET", _get_deferred_payment),
    (_ACTION, "POST", _action),
    (_DOCS, "POST", _upload),
    (_DOC, "GET", _get_document),
)


def file_download(state: State, req: Request) -> Response:
    """GET /files/<doc_id>/<filename>: the uploaded bytes (no auth, like a signed storage URL)."""
    m = _FILE.match(req.path)
    if m is None:
        return not_found()
    if req.method != "GET":
        return method_not_allowed(req.method, ["GET"])
    try:
        doc = state.document(unquote(m["doc"]))
    except NotFound:
        return not_found()
    if unquote(m["name"]) != doc.filename:
        return not_found()
    return Response(200, raw=doc.data, content_type=doc.content_type or "application/octet-stream")
