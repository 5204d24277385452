"""multipart/form-data parsing with the standard library's email parser (no ``cgi``)."""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass


class MultipartError(ValueError):
    pass


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes

    def text(self) -> str:
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            raise MultipartError(f"field {self.name!r} is not valid UTF-8") from None


def parse(content_type: str, body: bytes) -> list[Part]:
    """Parse a multipart/form-data body. ``content_type`` is the request's header value."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("utf-8", "surrogateescape")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.get_content_subtype() != "form-data":
        raise MultipartError("Multipart form parse error - Invalid boundary in multipart: None")
    parts = []
    for sub in message.iter_parts():
        if sub.get_content_disposition() != "form-data":
            raise MultipartError("Multipart form parse error - part without form-data disposition")
        name = sub.get_param("name", header="content-disposition")
        if not name:
            raise MultipartError("Multipart form parse error - part without a name")
        payload = sub.get_payload(decode=True)
        if payload is None:  # a nested multipart, which form-data does not use
            raise MultipartError("Multipart form parse error - nested multipart")
        parts.append(Part(str(name), sub.get_filename(), sub.get_content_type(), payload))
    return parts
