"""The public, Hokodo-like API under /v1/ (auth, routing, validation). No sockets here."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import unquote

from . import ledger, multipart
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
def handle(state: State, req: Request) -> Response:
    """Handle an authenticated /v1 request."""
    path = req.path
    if m := _DP.match(path):
        if req.method != "GET":
            return method_not_allowed(req.method, ["GET"])
        try:
            return Response(200, state.get_deferred_payment(unquote(m["dp"])))
        except NotFound:
            return not_found()
    if m := _ACTION.match(path):
        if m["action"] not in ledger.ACTIONS:
            return not_found()
        if req.method != "POST":
            return method_not_allowed(req.method, ["POST"])
        return _action(state, req, unquote(m["dp"]), m["action"])
    if m := _DOCS.match(path):
        if req.method != "POST":
            return method_not_allowed(req.method, ["POST"])
        return _upload(state, req, unquote(m["order"]))
    if m := _DOC.match(path):
        if req.method != "GET":
            return method_not_allowed(req.method, ["GET"])
        try:
            doc = state.document(unquote(m["doc"]), unquote(m["order"]))
        except NotFound:
            return not_found()
        return Response(200, doc.to_api(req.base_url))
    return not_found()


def _action(state: State, req: Request, dp_id: str, action: str) -> Response:
    if not state.exists(dp_id):
        return not_found()
    if req.body.strip() and not _is_json(req):
        return _unsupported(req)
    try:
        data = req.json()
    except BadJSON as exc:
        return detail(400, str(exc))
    if not isinstance(data, dict):
        message = f"Invalid data. Expected a dictionary, but got {_type_name(data)}."
        return Response(400, {"non_field_errors": [message]})
    errors: dict[str, list[str]] = {}
    metadata = data.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        errors["metadata"] = [_metadata_error(metadata)]
    amount = None
    if action in ledger.AMOUNT_ACTIONS:
        if "amount" not in data:
            errors["amount"] = [ledger.AMOUNT_REQUIRED]
        else:
            try:
                amount = ledger.parse_amount(data["amount"])
            except ledger.LedgerError as exc:
                errors.update(exc.body())
    if errors:
        return Response(400, errors)
    try:
        return Response(201, state.act(dp_id, action, amount, metadata))
    except NotFound:
        return not_found()
    except ledger.LedgerError as exc:
        return Response(400, exc.body())


def _upload(state: State, req: Request, order_id: str) -> Response:
    if not state.has_order(order_id):
        return not_found()
    if not _is_multipart(req):
        return _unsupported(req)
    try:
        parts = {p.name: p for p in multipart.parse(req.content_type, req.body)}
        texts = {n: p.text() for n, p in parts.items() if p.filename is None}
    except multipart.MultipartError as exc:
        return detail(400, str(exc))
    errors: dict[str, list[str]] = {}

    file = parts.get("file")
    if file is None:
        errors["file"] = ["No file was submitted."]
    elif file.filename is None:
        errors["file"] = ["The submitted data was not a file. Check the encoding type on the form."]
    elif not file.filename.strip():
        errors["file"] = ["No filename could be determined."]
    elif not file.data:
        errors["file"] = ["The submitted file is empty."]

    doc_type = texts.get("doc_type") or "other"
    if doc_type not in DOC_TYPES:
        errors["doc_type"] = [f'"{doc_type}" is not a valid choice.']

    amount: int | None = None
    raw_amount = (texts.get("amount") or "").strip()
    if raw_amount:
        if raw_amount.startswith("-") and _DIGITS.fullmatch(raw_amount[1:]):
            errors["amount"] = ["Ensure this value is greater than or equal to 0."]
        elif not _DIGITS.fullmatch(raw_amount) or len(raw_amount) > 18:
            errors["amount"] = ["A valid integer is required."]
        else:
            amount = int(raw_amount)

    metadata: Any = {}
    raw_metadata = (texts.get("metadata") or "").strip()
    if raw_metadata:
        try:
            metadata = json.loads(raw_metadata)
        except ValueError:
            errors["metadata"] = ["Value must be valid JSON."]
        else:
            if not isinstance(metadata, dict):
                errors["metadata"] = [_metadata_error(metadata)]
    if errors:
        return Response(400, errors)

    assert file is not None and file.filename is not None
    filename = re.split(r"[\\/]", file.filename)[-1].strip() or "document"
    try:
        doc = state.add_document(
            order_id,
            doc_type=doc_type,
            description=texts.get("description", ""),
            amount=amount,
            metadata=metadata,
            filename=filename,
            content_type=file.content_type,
            data=file.data,
        )
    except NotFound:
        return not_found()
    return Response(201, doc.to_api(req.base_url))


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
