"""Tiny request/response value types shared by the routers (no sockets here)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from email.message import Message
from typing import Any


class BadJSON(ValueError):
    pass


@dataclass
class Request:
    method: str
    path: str  # without the query string
    raw_path: str  # as sent, with the query string
    headers: Message
    body: bytes
    base_url: str  # http://host:port the client used

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "") or ""

    def json(self) -> Any:
        """The JSON body; an empty body is ``{}``."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadJSON(f"JSON parse error - {exc}") from None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json"

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def detail(status: int, message: str, **headers: str) -> Response:
    return Response(status, {"detail": message}, dict(headers))


NOT_FOUND = "Not found."


def not_found() -> Response:
    return detail(404, NOT_FOUND)


def method_not_allowed(method: str, allowed: list[str]) -> Response:
    return detail(405, f'Method "{method}" not allowed.', Allow=", ".join(allowed))
