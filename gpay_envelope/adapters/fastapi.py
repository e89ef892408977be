"""FastAPI glue: a route class that opens each request envelope before FastAPI reads the body,
and seals each response; the `OpenResult` as a dependency.

    from fastapi import APIRouter, FastAPI
    from gpay_envelope.adapters.fastapi import OpenedEnvelope, envelope_route

    router = APIRouter(route_class=envelope_route(keys=holder))

    @router.post("/echo")
    async def echo(body: EchoRequest, opened: OpenedEnvelope) -> EchoResponse:
        # body: the opened, verified plaintext, parsed and validated by FastAPI as usual;
        # opened: which of your keys decrypted it, which of the peer's keys signed it.
        return EchoResponse(...)                    # sealed on the way out

    app = FastAPI()
    app.include_router(router)

Each route of the router is served through the ASGI ``EnvelopeMiddleware`` (the same exchange
rules: 400, 401, 413 before the endpoint runs; every response sealed with the request's keys,
FastAPI's own 422 and error responses included), so only the routes of that router are
protected, wherever the router is included or mounted. The middleware's arguments but ``app``
and ``paths`` are `envelope_route`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute, request_response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenResult
from ._common import INLINE_MAX, KeyProvider, checked_inline_max
from ._exchange import PLAINTEXT_CONTENT_TYPE, Engine
from .asgi import EnvelopeMiddleware, open_result

__all__ = ["OpenedEnvelope", "envelope_route", "opened_envelope"]


def envelope_route(
    *,
    keys: KeyProvider,
    limits: Limits = DEFAULT_LIMITS,
    profile: str | None = None,
    registry: CodecRegistry | None = None,
    content_type: str = PLAINTEXT_CONTENT_TYPE,
    inline_max: int = INLINE_MAX,
) -> type[APIRoute]:
    """An ``APIRoute`` class for ``APIRouter(route_class=...)`` (or ``FastAPI().router``) whose
    routes open request envelopes and seal responses.

    Args:
        keys: a `Keys` bundle or a key provider (a `KeyHolder`), read once per request on the
            event loop, so it must not block.
        limits, profile, registry, content_type, inline_max: as the ASGI
            ``EnvelopeMiddleware``'s.

    Raises:
        TypeError: ``keys``, ``limits`` or ``inline_max`` is of the wrong kind (checked here,
            not on the first request).
        ValueError: ``inline_max`` is negative.
    """
    options: dict[str, Any] = {
        "keys": keys,
        "limits": limits,
        "profile": profile,
        "registry": registry,
        "content_type": content_type,
    }
    Engine(**options)  # the checks the middleware makes, before any route exists
    options["inline_max"] = checked_inline_max(inline_max)

    class EnvelopeRoute(APIRoute):
        """An ``APIRoute`` whose whole exchange runs through the ASGI ``EnvelopeMiddleware``."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            # FastAPI builds a route's ASGI app from this handler, for the route itself and
            # for each router it is included in, so wrapping here covers every way it is
            # served. The handler reads nothing: it answers with the middleware around the
            # route's own app, which opens the body, runs FastAPI's parsing, dependencies and
            # error handlers on the plaintext, and seals what they answer.
            inner = EnvelopeMiddleware(request_response(super().get_route_handler()), **options)

            async def handler(request: Request) -> Response:
                return _Exchange(inner)

            return handler

    return EnvelopeRoute


class _Exchange(Response):
    """A "response" that serves the whole request with ``app``: the body is still unread when
    FastAPI calls it with the request's scope, receive and send."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


def opened_envelope(request: Request) -> OpenResult:
    """The dependency behind `OpenedEnvelope`: the `OpenResult` of the request.

    Raises:
        RuntimeError: the route is not an `envelope_route` route, so its request was never
            opened (a wiring mistake, answered with 500 rather than served unauthenticated).
    """
    result = open_result(request.scope)
    if result is None:
        raise RuntimeError(
            "OpenedEnvelope is used on a route that does not open envelopes: give its router "
            "route_class=envelope_route(...)"
        )
    return result


#: An endpoint parameter annotated with it gets the request's `OpenResult`.
OpenedEnvelope = Annotated[OpenResult, Depends(opened_envelope)]
