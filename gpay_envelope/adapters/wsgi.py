"""WSGI middleware: open request envelopes, seal responses (Flask, Django, any PEP 3333 app).

    from gpay_envelope.adapters import KeyHolder, Keys
    from gpay_envelope.adapters.wsgi import EnvelopeMiddleware

    holder = KeyHolder(Keys(identities=..., senders=..., signer=..., recipients=...))
    flask_app.wsgi_app = EnvelopeMiddleware(flask_app.wsgi_app, keys=holder)     # Flask
    application = EnvelopeMiddleware(get_wsgi_application(), keys=holder)       # Django wsgi.py

Per protected request the middleware reads the key provider once, reads at most
``limits.max_envelope`` bytes of body (413 beyond; a CONTENT_LENGTH over the cap is refused
before any byte is read), opens it (400 `InvalidEnvelope`, 401 `InvalidSignature`), hands the
plaintext on in ``wsgi.input`` as ``application/json``, and seals whatever response the
application produces, with the same keys. The rules themselves are in ``_exchange.py``; this
module moves the environ, ``start_response`` and the body iterable. See docs/adapters.md.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..codecs import OpenResult
from ._exchange import BodyBuffer, Refused, Rejection, ServerExchange, find_header, read_capped
from ._server import ServerMiddleware

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ENVIRON_KEY", "EnvelopeMiddleware", "open_result"]

#: Environ key under which the application finds the `OpenResult` of its request.
ENVIRON_KEY = "gpay_envelope.open_result"

_CHUNK = 64 * 1024


def open_result(environ: WSGIEnvironment) -> OpenResult | None:
    """The `OpenResult` of the request in ``environ`` (``request.environ`` in Flask,
    ``request.META`` in Django), or None on a path the middleware does not protect."""
    result = environ.get(ENVIRON_KEY)
    return result if isinstance(result, OpenResult) else None


class EnvelopeMiddleware(ServerMiddleware["WSGIApplication"]):
    """PEP 3333 middleware that opens request envelopes and seals responses.

    Takes the arguments of `ServerMiddleware`. Requests on other paths pass through untouched.
    """

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        # PATH_INFO is what the application routes on; SCRIPT_NAME is where it is mounted.
        route, mount = str(environ.get("PATH_INFO", "")), str(environ.get("SCRIPT_NAME", ""))
        if not self._protects(route, mount):
            return self.app(environ, start_response)
        exchange = ServerExchange(self._engine)
        try:
            declared = exchange.declared_length(environ.get("CONTENT_LENGTH") or None)
            result, edit = exchange.open_request(_read_body(environ, declared, exchange.max_body))
        except Refused as refused:
            return _reject(start_response, refused.rejection)

        inner = dict(environ)
        edit.apply_to_environ(inner)
        inner["wsgi.input"] = io.BytesIO(result.plaintext)
        inner[ENVIRON_KEY] = result
        response = _Collected(exchange.max_plaintext)
        status, headers = response.run(self.app, inner)
        if exchange.passes_untouched(_code(status)):
            start_response(status, headers)
            return [response.body.data()]
        try:
            envelope, out = exchange.seal_response(
                content_encoding=find_header(headers, "content-encoding"), body=response.body
            )
        except Refused as refused:
            return _reject(start_response, refused.rejection)
        start_response(status, out.apply(headers))
        return [envelope]


def _code(status: str) -> int:
    try:
        return int(status.split(" ", 1)[0])
    except ValueError:
        raise RuntimeError(f"the application gave a malformed status {status!r}") from None


def _read_body(environ: WSGIEnvironment, declared: int | None, cap: int) -> bytes | None:
    """At most ``cap`` bytes of body; None as soon as there are more (the rest is not read).

    Without CONTENT_LENGTH the body is read to its end only when the server says the input
    is terminated (``wsgi.input_terminated``); otherwise PEP 3333 says it is empty.
    """
    stream: Any = environ.get("wsgi.input")
    if stream is None or (declared is None and not environ.get("wsgi.input_terminated")):
        return b""
    return read_capped(_chunks(stream, declared), cap)


def _chunks(stream: Any, size: int | None) -> Iterator[bytes]:
    """``stream.read`` in chunks: ``size`` bytes at most (None: to the end of the input)."""
    left = size
    while left is None or left > 0:
        chunk = stream.read(_CHUNK if left is None else min(left, _CHUNK))
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


def _reject(start_response: StartResponse, rejection: Rejection) -> list[bytes]:
    start_response(f"{rejection.status} {rejection.reason}", list(rejection.headers))
    return [rejection.body]


class _Collected:
    """The response of the wrapped application, held until it can be sealed."""

    def __init__(self, cap: int) -> None:
        self._status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.body = BodyBuffer(cap)

    def run(
        self, app: WSGIApplication, environ: WSGIEnvironment
    ) -> tuple[str, list[tuple[str, str]]]:
        """Call ``app``, collect all it writes and returns (closing what it returned), and
        give its status and headers."""
        chunks = app(environ, self.start_response)
        try:
            for chunk in chunks:
                self.write(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if self._status is None:
            raise RuntimeError("the application returned without calling start_response")
        return self._status, self.headers

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        if self._status is not None and exc_info is None:
            raise RuntimeError("start_response called twice without exc_info")
        if exc_info is not None and self.body.size:
            # Nothing has reached the client yet (PEP 3333 would re-raise otherwise), so the
            # error response replaces the old one, and the body written so far goes with it.
            self.body.clear()
        self._status = status
        self.headers = list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        if self._status is None:
            raise RuntimeError("the application wrote a body before calling start_response")
        self.body.add(data)
