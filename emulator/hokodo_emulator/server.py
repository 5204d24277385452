"""HTTP plumbing: the threaded server, request reading, the API pipeline (faults ->
auth -> idempotency -> handler) and the admin/file routes."""

from __future__ import annotations

import json
import socket
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from . import admin_api, api
from .clock import iso
from .idempotency import MAX_KEY_LENGTH, Stored, fingerprint
from .parts import EmulatorParts
from .web import Request, Response, detail, not_found

MAX_BODY = 32 * 1024 * 1024  # a 25 MB document and its multipart framing


class _ClientGone(Exception):
    pass


class _Trickle:
    """A response writer that pauses before every byte but the first; stops when the emulator stops."""

    def __init__(self, out: BinaryIO, pause: float, stopping: threading.Event) -> None:
        self._out, self._pause, self._stopping = out, pause, stopping
        self._started = False

    def write(self, data: bytes) -> int:
        for i in range(len(data)):
            if self._started and self._stopping.wait(self._pause):
                raise _ClientGone
            self._started = True
            self._out.write(data[i : i + 1])
        return len(data)

    def flush(self) -> None:
        self._out.flush()


class EmulatorHTTPServer(ThreadingHTTPServer):
    """Tracks its connections and handler threads so that ``close_all`` can end them fast."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: EmulatorParts) -> None:
        self.app = app
        self._track_lock = threading.Lock()
        self._open_connections: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._work, args=(request, client_address), name="hokodo-emulator-request", daemon=True)
        with self._track_lock:
            self._open_connections.add(request)
            self._handler_threads.add(thread)
        thread.start()

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._track_lock:
                self._open_connections.discard(request)
                self._handler_threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.app.stopping.is_set():
            return
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, _ClientGone)):
            return
        super().handle_error(request, client_address)

    def close_all(self, timeout: float = 2.0) -> None:
        with self._track_lock:
            connections = list(self._open_connections)
            threads = list(self._handler_threads)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HokodoEmulator/1.0"
    disable_nagle_algorithm = True
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: EmulatorHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.app.log_requests:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    # -- plumbing ----------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise OverflowError
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY:
            raise OverflowError
        body = self.rfile.read(length)
        if len(body) < length:
            raise _ClientGone
        return body

    def _send(self, response: Response, extra: dict[str, str] | None = None) -> None:
        payload = response.encode()
        self.send_response(response.status)
        if payload or response.status not in (204, 304):
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in {**response.headers, **(extra or {})}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _drop(self) -> None:
        """Close the connection without a response (as if the network failed)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _dispatch(self) -> None:
        app = self.server.app
        try:
            body = self._read_body()
        except OverflowError:
            self.close_connection = True
            self._send(detail(413, "Request entity too large."))
            return
        except (ValueError, _ClientGone):
            self.close_connection = True
            self._send(detail(400, "Malformed request body."))
            return
        split = urlsplit(self.path)
        host = self.headers.get("Host") or urlsplit(app.base_url).netloc
        req = Request(self.command, split.path, self.path, self.headers, body, f"http://{host}")
        try:
            if req.path == "/v1" or req.path.startswith("/v1/"):
                self._api(req)
            elif req.path.startswith("/_admin/"):
                self._send(admin_api.handle(app, req))
            elif req.path.startswith("/files/"):
                self._send(api.file_download(app.state, req))
            else:
                self._send(not_found())
        except (ConnectionError, _ClientGone):
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self._send(detail(500, "A server error occurred."))
            except OSError:
                pass

    # -- the public API pipeline -------------------------------------------------------------
    def _api(self, req: Request) -> None:
        app = self.server.app
        key = req.headers.get("Idempotency-Key")
        entry = app.state.log_request(
            {
                "method": req.method,
                "path": req.raw_path,
                "idempotency_key": key,
                "body": api.summarise_body(req),
                "status": None,
                "replayed": False,
                "fault": None,
                "at": iso(datetime.now(UTC)),  # arrival, wall clock (never the emulator's advanced clock)
            }
        )
        fault = app.faults.take(req.path)
        if fault is not None:
            app.state.update_request(entry, fault=fault.label)
            if fault.status is not None:
                injected = fault.response()
                self._pause(app.faults.latency())
                app.state.update_request(entry, status=injected.status)
                self._send(injected)
                return
            if fault.drop:
                self._pause(app.faults.latency())
                self._drop()
                return
            if fault.timeout is not None:
                self._pause(fault.timeout)

        response, replayed = self._api_response(req, key)
        self._pause(app.faults.latency())
        # For drop_after_apply this is the status the client never received.
        app.state.update_request(entry, status=response.status, replayed=replayed)
        if fault is not None and fault.drop_after_apply:
            self._drop()
            return
        with self._trickled(fault.trickle if fault is not None else None):
            self._send(response, {"Idempotent-Replayed": "true"} if replayed else None)

    @contextmanager
    def _trickled(self, seconds_per_byte: float | None) -> Iterator[None]:
        """Write what is sent inside the block one byte at a time (status line and headers included)."""
        if not seconds_per_byte:
            yield
            return
        wfile, self.wfile = self.wfile, _Trickle(self.wfile, seconds_per_byte, self.server.app.stopping)
        try:
            yield
        finally:
            self.wfile = wfile

    def _pause(self, seconds: float) -> None:
        if seconds > 0 and self.server.app.stopping.wait(seconds):
            raise _ClientGone  # shutting down: give up on this request

    def _api_response(self, req: Request, key: str | None) -> tuple[Response, bool]:
        app = self.server.app
        denied = api.check_auth(req, app.api_key)
        if denied is not None:
            return denied, False
        profile = app.profile.current  # once: a switch while this request runs does not split its answer
        if req.method != "POST" or key is None or (not profile.documents_idempotency and api.is_document_upload(req)):
            return api.handle(app.state, req, profile), False
        if not key or len(key) > MAX_KEY_LENGTH:
            return detail(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters."), False
        fp = fingerprint(req.method, req.raw_path, api.fingerprint_body(req))
        store = app.state.idempotency
        with store.hold(key):
            stored = store.get(key)
            if stored is not None:
                if stored.fingerprint != fp:
                    conflict = profile.key_conflict  # its body is sent as JSON, even a `null`
                    body = json.dumps(conflict["body"], ensure_ascii=False, separators=(",", ":")).encode()
                    return Response(conflict["status"], raw=body), False
                return Response(stored.status, raw=stored.body, content_type=stored.content_type), True
            response = api.handle(app.state, req, profile)
            if store.keeps(response.status):
                store.put(key, Stored(fp, response.status, response.encode(), response.content_type))
            return response, False
