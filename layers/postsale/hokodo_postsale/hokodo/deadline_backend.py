"""A deadline for the whole of an HTTP attempt, enforced where httpcore does its socket I/O.

httpx's timeouts bound each connect, read or write on its own, so a response that trickles in one
byte at a time never times out. This httpcore network backend cuts every connect, read and write to
what is left before the current attempt's deadline, and raises the matching timeout once nothing is
left: an attempt (connect, send, headers and body) ends by its deadline, with no extra thread.

The deadline is per thread of execution (a ContextVar), and a stream reads it on every call: one
pooled client serves a batch from several threads, and a pooled connection follows whichever
attempt is using it. Outside `attempt_deadline`, the backend behaves as httpcore's own.

Imported when a client is built (it imports httpcore), never when `hokodo_postsale.hokodo.client` is.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from ssl import SSLContext

import httpcore
import httpx

_deadline: ContextVar[float | None] = ContextVar("hokodo_postsale_attempt_deadline", default=None)
# httpcore's SyncStream gives every send() inside one write the whole timeout: a large body is written
# in chunks so that a peer draining it slowly cannot stretch a write far past the deadline.
_WRITE_CHUNK = 64 * 1024


@contextmanager
def attempt_deadline(deadline: float) -> Iterator[None]:
    """Network I/O in this block (on this thread) ends by `deadline`, a time.monotonic() instant."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def _cut(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """`timeout`, cut to what is left of the current attempt; `expired` when nothing is."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the attempt's deadline has passed")
    return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _cut(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _WRITE_CHUNK):
            self._stream.write(buffer[start : start + _WRITE_CHUNK], _cut(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._stream.start_tls(ssl_context, server_hostname, _cut(timeout, httpcore.ConnectTimeout))
        return DeadlineStream(tls)

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """Wraps a backend (httpcore's SyncBackend) so that its streams keep to the attempt's deadline.
    Name resolution inside connect (getaddrinfo) cannot be interrupted, by this or by any timeout."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _cut(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _cut(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(self._backend.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_transport(limits: httpx.Limits) -> httpx.HTTPTransport:
    """httpx's own transport (TLS, connection pool, limits), its network I/O kept to `attempt_deadline`."""
    transport = httpx.HTTPTransport(limits=limits)
    _install_backend(transport)
    return transport


def _install_backend(transport: httpx.HTTPTransport) -> None:
    """httpx (0.28) builds httpcore's connection pool itself and offers no way to pass httpcore's
    `network_backend`, so the backend is swapped in afterwards through two private attributes: httpx's
    `HTTPTransport._pool` and httpcore's `ConnectionPool._network_backend`, which the pool hands to
    every connection it opens. Checked here, so that an upgrade renaming them fails when the client is
    built rather than silently dropping the deadline; tests/test_hokodo_client.py proves the swap
    (a trickled answer is cut at the deadline, and connections are still pooled)."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(backend, httpcore.NetworkBackend):
        raise RuntimeError("httpx/httpcore internals changed: cannot keep Hokodo calls to a deadline")
    pool._network_backend = DeadlineBackend(backend)  # type: ignore[union-attr]  # `pool` is a ConnectionPool: checked above
