"""Pure ASGI middleware: open request envelopes, seal responses (Starlette, FastAPI, any ASGI 3).

    from gpay_envelope.adapters import KeyHolder, Keys
    from gpay_envelope.adapters.asgi import EnvelopeMiddleware

    holder = KeyHolder(Keys(identities=..., senders=..., signer=..., recipients=...))
    app.add_middleware(EnvelopeMiddleware, keys=holder)        # Starlette / FastAPI
    app = EnvelopeMiddleware(app, keys=holder)                 # any ASGI 3 application

Per protected HTTP request the middleware reads the key provider once, reads the body up to
``limits.max_envelope`` bytes (413 beyond; a Content-Length over the cap is refused before any
byte is read), opens it (400 `InvalidEnvelope`, 401 `InvalidSignature`), hands the plaintext on
as an ``application/json`` body, and seals whatever response the application produces, with the
same keys. Sealing and opening run in a worker thread under asyncio. See docs/adapters.md.

It is pure ASGI (no ``BaseHTTPMiddleware``), needs no framework, and imports none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from functools import partial
from typing import Any

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenResult
from ..errors import OpenError, SealError
from ._common import (
    BAD_REQUEST,
    NO_BODY_STATUSES,
    PLAINTEXT_CONTENT_TYPE,
    SERVER_ERROR,
    TOO_LARGE,
    Engine,
    KeyProvider,
    Keys,
    PathFilter,
    Rejection,
    log,
    parse_content_length,
    rejection_for,
    run_blocking,
)

__all__ = ["SCOPE_KEY", "EnvelopeMiddleware", "open_result"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Scope key under which the application finds the `OpenResult` of its request.
SCOPE_KEY = "gpay_envelope"

# Extensions that let an application send a body without http.response.body messages.
_BODY_EXTENSIONS = ("http.response.pathsend", "http.response.zerocopysend")
# Headers that describe the body, replaced when the body is swapped (request and response).
_BODY_HEADERS = frozenset({b"content-length", b"content-type", b"transfer-encoding"})


def open_result(scope: Scope) -> OpenResult | None:
    """The `OpenResult` of the request in ``scope`` (``request.scope`` in Starlette), or None
    on a path the middleware does not protect."""
    result = scope.get(SCOPE_KEY)
    return result if isinstance(result, OpenResult) else None


class _Disconnected(Exception):
    """The client went away while the body was being read."""


class EnvelopeMiddleware:
    """ASGI 3 middleware that opens request envelopes and seals responses.

    Args:
        app: the ASGI application to wrap.
        keys: a `Keys` bundle or a zero-argument callable returning the current one (a
            `KeyHolder`); called once per request, on the event loop, so it must not block.
        paths: the paths to protect (``scope["path"]``): an entry ending in ``/`` is a
            prefix, any other entry an exact path. None protects every HTTP request. Other
            requests, websockets and lifespan events pass through untouched.
        limits: size bounds; ``max_envelope`` caps the request body read.
        profile: seal profile (None: the codec's default).
        registry: codec registry (None: the default one).
        content_type: content type the application sees on the opened request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyProvider,
        paths: Iterable[str] | None = None,
        limits: Limits = DEFAULT_LIMITS,
        profile: str | None = None,
        registry: CodecRegistry | None = None,
        content_type: str = PLAINTEXT_CONTENT_TYPE,
    ) -> None:
        self.app = app
        self._engine = Engine(
            keys, limits=limits, profile=profile, registry=registry, content_type=content_type
        )
        self._protects = PathFilter(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protects(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        engine = self._engine
        keys = engine.current()
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        try:
            declared = parse_content_length(
                next((v for k, v in headers if k.lower() == b"content-length"), None)
            )
        except ValueError:
            await _reject(send, BAD_REQUEST)
            return
        if declared is not None and declared > engine.max_body:
            await _reject(send, TOO_LARGE, close=True)
            return
        try:
            body = await _read_body(receive, engine.max_body)
        except _Disconnected:
            return
        if body is None:
            await _reject(send, TOO_LARGE, close=True)
            return
        try:
            result = await run_blocking(partial(engine.open, keys, body))
        except OpenError as exc:
            log.debug("request rejected: %s", type(exc).__name__)
            await _reject(send, rejection_for(exc))
            return

        plaintext = result.plaintext
        inner_headers = [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]
        inner_headers += [
            (b"content-type", engine.content_type.encode("latin-1")),
            (b"content-length", str(len(plaintext)).encode("ascii")),
        ]
        inner_scope = dict(scope)
        inner_scope["headers"] = inner_headers
        inner_scope[SCOPE_KEY] = result
        extensions = scope.get("extensions")
        if extensions:
            inner_scope["extensions"] = {
                k: v for k, v in extensions.items() if k not in _BODY_EXTENSIONS
            }

        delivered = False

        async def receive_plaintext() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": plaintext, "more_body": False}
            return await receive()  # then only http.disconnect, as the server would send

        await self.app(inner_scope, receive_plaintext, _Sealer(send, engine, keys).send)


async def _read_body(receive: Receive, cap: int) -> bytes | None:
    """The request body, or None as soon as it exceeds ``cap`` (the rest is not read)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "http.disconnect":
            raise _Disconnected
        if kind != "http.request":
            continue
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > cap:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


async def _reject(send: Send, rejection: Rejection, *, close: bool = False) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in rejection.headers]
    if close:  # the body was not read to its end: the connection cannot be reused
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
    await send({"type": "http.response.body", "body": rejection.body, "more_body": False})


class _Sealer:
    """The ``send`` the application gets: collects the response, seals it, sends it on."""

    __slots__ = ("_body", "_engine", "_keys", "_send", "_size", "_start", "_state")

    def __init__(self, send: Send, engine: Engine, keys: Keys) -> None:
        self._send = send
        self._engine = engine
        self._keys = keys
        self._start: Message | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._state = "start"  # start -> body | passthrough -> done

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            if self._state != "start":
                raise RuntimeError("http.response.start sent twice")
            if int(message["status"]) in NO_BODY_STATUSES:
                self._state = "passthrough"
                await self._send(message)
                return
            self._start = message
            self._state = "body"
        elif kind == "http.response.body" and self._state == "body":
            chunk = bytes(message.get("body", b""))
            self._size += len(chunk)
            if self._size <= self._engine.limits.max_plaintext:
                self._body.append(chunk)
            if not message.get("more_body", False):
                self._state = "done"
                await self._finish()
        elif kind == "http.response.trailers" and self._state in ("body", "done"):
            pass  # trailers are not part of the envelope; the sealed response has none
        else:
            await self._send(message)

    async def _finish(self) -> None:
        assert self._start is not None
        start = self._start
        headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", ())]
        encoding = next((v for k, v in headers if k.lower() == b"content-encoding"), b"identity")
        if encoding.strip().lower() != b"identity":
            log.error(
                "response has Content-Encoding %r; put EnvelopeMiddleware outside any "
                "compression middleware; answering 500",
                encoding.decode("latin-1"),
            )
            await _reject(self._send, SERVER_ERROR)
            return
        if self._size > self._engine.limits.max_plaintext:
            log.error("response of %d bytes is over max_plaintext; answering 500", self._size)
            await _reject(self._send, SERVER_ERROR)
            return
        plaintext = b"".join(self._body)
        try:
            envelope = await run_blocking(partial(self._engine.seal, self._keys, plaintext))
        except SealError as exc:
            log.error("cannot seal the response (%s); answering 500", exc)
            await _reject(self._send, SERVER_ERROR)
            return
        out = [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]
        out += [
            (b"content-type", self._engine.envelope_type(self._keys).encode("latin-1")),
            (b"content-length", str(len(envelope)).encode("ascii")),
        ]
        await self._send({"type": "http.response.start", "status": start["status"], "headers": out})
        await self._send({"type": "http.response.body", "body": envelope, "more_body": False})
