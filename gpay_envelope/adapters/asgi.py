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
same keys. Bodies over ``inline_max`` (64 KiB unless given) are sealed and opened in a worker
thread under asyncio, smaller ones on the event loop (`_common.INLINE_MAX` says why). The rules
themselves are in ``_exchange.py``; this module moves ASGI messages. See docs/adapters.md.

It is pure ASGI (no ``BaseHTTPMiddleware``), needs no framework, and imports none.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, MutableMapping
from functools import partial
from typing import Any

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenResult
from ._common import INLINE_MAX, KeyProvider, checked_inline_max, run_blocking
from ._exchange import (
    PLAINTEXT_CONTENT_TYPE,
    BodyBuffer,
    Refused,
    Rejection,
    ServerExchange,
    find_header,
    read_capped_async,
)
from ._server import ServerMiddleware, route_below

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


def open_result(scope: Scope) -> OpenResult | None:
    """The `OpenResult` of the request in ``scope`` (``request.scope`` in Starlette), or None
    on a path the middleware does not protect."""
    result = scope.get(SCOPE_KEY)
    return result if isinstance(result, OpenResult) else None


class _Disconnected(Exception):
    """The client went away while the body was being read."""


class EnvelopeMiddleware(ServerMiddleware[ASGIApp]):
    """ASGI 3 middleware that opens request envelopes and seals responses.

    Takes the arguments of `ServerMiddleware`; ``keys`` is called on the event loop, so it must
    not block (a `KeyHolder` does not). Requests on other paths, websockets and lifespan events
    pass through untouched.

    One argument more than `ServerMiddleware`:

    Args:
        inline_max: bodies of up to this many bytes are opened and sealed on the event loop,
            larger ones in a worker thread (under asyncio). The default suits as many server
            workers as cores; ``0`` hands every body with content to a thread, which raises
            throughput when a process has cores to spare (docs/adapters.md has the numbers).

    Raises:
        TypeError: ``inline_max`` is not an int.
        ValueError: ``inline_max`` is negative.
        PathConfigError: as `ServerMiddleware`.
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
        inline_max: int = INLINE_MAX,
    ) -> None:
        self._inline_max = checked_inline_max(inline_max)
        super().__init__(
            app,
            keys=keys,
            paths=paths,
            limits=limits,
            profile=profile,
            registry=registry,
            content_type=content_type,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protects(*_route(scope)):
            await self.app(scope, receive, send)
            return
        exchange = ServerExchange(self._engine)
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", ()))
        try:
            exchange.declared_length(find_header(headers, "content-length"))
            body = await read_capped_async(_request_chunks(receive), exchange.max_body)
            size = None if body is None else len(body)
            result, edit = await run_blocking(
                partial(exchange.open_request, body), size=size, inline_max=self._inline_max
            )
        except Refused as refused:
            await _reject(send, refused.rejection)
            return
        except _Disconnected:
            return

        plaintext = result.plaintext
        inner_scope = dict(scope)
        inner_scope["headers"] = edit.apply_raw(headers)
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

        sealer = _Sealer(send, exchange, self._inline_max)
        await self.app(inner_scope, receive_plaintext, sealer.send)


def _route(scope: Scope) -> tuple[str, str]:
    """The path the application routes on, and the mount point it is served under."""
    root_path = str(scope.get("root_path", ""))
    return route_below(str(scope.get("path", "")), root_path), root_path


async def _request_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks, to its last (``more_body`` false)."""
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "http.disconnect":
            raise _Disconnected
        if kind != "http.request":
            continue
        yield bytes(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def _reject(send: Send, rejection: Rejection) -> None:
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in rejection.headers]
    if rejection.body_unread:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": rejection.status, "headers": headers})
    await send({"type": "http.response.body", "body": rejection.body, "more_body": False})


class _Sealer:
    """The ``send`` the application gets: collects the response, seals it, sends it on."""

    __slots__ = ("_body", "_exchange", "_inline_max", "_send", "_start", "_state")

    def __init__(self, send: Send, exchange: ServerExchange, inline_max: int) -> None:
        self._send = send
        self._exchange = exchange
        self._inline_max = inline_max
        self._start: Message | None = None
        self._body = BodyBuffer(exchange.max_plaintext)
        self._state = "start"  # start -> body | passthrough -> done

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start":
            if self._state != "start":
                raise RuntimeError("http.response.start sent twice")
            if self._exchange.passes_untouched(int(message["status"])):
                self._state = "passthrough"
                await self._send(message)
                return
            self._start = message
            self._state = "body"
        elif kind == "http.response.body" and self._state == "body":
            self._body.add(bytes(message.get("body", b"")))
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
        seal = partial(
            self._exchange.seal_response,
            content_encoding=find_header(headers, "content-encoding"),
            body=self._body,
        )
        try:
            envelope, edit = await run_blocking(
                seal, size=self._body.size, inline_max=self._inline_max
            )
        except Refused as refused:
            await _reject(self._send, refused.rejection)
            return
        out = edit.apply_raw(headers)
        await self._send({"type": "http.response.start", "status": start["status"], "headers": out})
        await self._send({"type": "http.response.body", "body": envelope, "more_body": False})
