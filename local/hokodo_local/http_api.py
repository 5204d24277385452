"""API Gateway's HTTP API, locally: a small HTTP server that turns each request on a route into the
payload-format 2.0 event API Gateway would send, invokes the real handler, and answers with what it returned.
moto's CloudFormation skips AWS::ApiGatewayV2::*, so the routes are given here (read from the template by the
local stack). As on API Gateway, a request on no route answers 404 `{"message":"Not Found"}`."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own limit
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded", "application/xml")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as in the template: /webhooks/hokodo/{secret}
    handler: Callable[[dict, Any], Any]
    context: Callable[[], Any]  # a fresh Lambda context per invocation

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in (method, "ANY"):
            return None
        if self.path == "$default":  # the catch-all route
            return {}
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class Incoming:
    method: str
    raw_path: str
    query: str
    headers: dict[str, str]  # lower-cased names, as API Gateway gives them
    body: bytes
    params: dict[str, str]


def http_api_event(route: Route, request: Incoming) -> dict:
    """The event API Gateway (HTTP API, payload format 2.0) gives a Lambda proxy integration."""
    method, raw_path, query, headers, body = request.method, request.raw_path, request.query, request.headers, request.body
    content_type = headers.get("content-type", "")
    text = not body or content_type.startswith(_TEXT_TYPES)
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": request.params,
        "body": body.decode("utf-8", "replace") if text else base64.b64encode(body).decode(),
        "isBase64Encoded": not text,
    }


class LocalHttpApi:
    def __init__(self, routes: list[Route], host: str = "127.0.0.1", port: int = 0):
        self.routes = routes
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server naming
                api._serve(self)

            do_GET = do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._stopping = threading.Lock()
        self.url = f"http://{host}:{self._server.server_address[1]}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and free the port; a request being handled finishes in its own thread. Safe to repeat, from
        any thread (a signal's halt and the owner's close may both stop it), and before start()."""
        with self._stopping:
            if self._thread is not None:  # shutdown() waits for serve_forever(): only when it runs
                self._server.shutdown()
                self._thread.join(2)
                self._thread = None
            self._server.server_close()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            request.close_connection = True
            return _answer(request, 413, {"message": "Request Entity Too Large"})
        body = request.rfile.read(length)
        path, _, query = request.path.partition("?")
        for route in self.routes:
            params = route.match(request.command, path)
            if params is not None:
                headers = {k.lower(): v for k, v in request.headers.items()}
                event = http_api_event(route, Incoming(request.command, path, query, headers, body, params))
                try:
                    result = route.handler(event, route.context())
                except Exception:  # as API Gateway answers a failed integration
                    return _answer(request, 500, {"message": "Internal Server Error"})
                return _answer_result(request, result)
        return _answer(request, 404, {"message": "Not Found"})


def _answer_result(request: BaseHTTPRequestHandler, result: Any) -> None:
    if not isinstance(result, dict) or "statusCode" not in result:  # a bare value: 200 with it as JSON
        return _answer(request, 200, result)
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return _write(request, int(result["statusCode"]), data, result.get("headers") or {})


def _answer(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    _write(request, status, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _write(request: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str]) -> None:
    request.send_response(status)
    for name, value in headers.items():
        if name.lower() not in ("content-length", "connection"):
            request.send_header(name, value)
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)
