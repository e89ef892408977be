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
application produces, with the same keys. See docs/adapters.md.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

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
    PathFilter,
    Rejection,
    log,
    parse_content_length,
    rejection_for,
)

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ENVIRON_KEY", "EnvelopeMiddleware", "open_result"]

#: Environ key under which the application finds the `OpenResult` of its request.
ENVIRON_KEY = "gpay_envelope.open_result"

_CHUNK = 64 * 1024
_RESPONSE_HEADERS_DROPPED = frozenset({"content-length", "content-type", "transfer-encoding"})


def open_result(environ: WSGIEnvironment) -> OpenResult | None:
    """The `OpenResult` of the request in ``environ`` (``request.environ`` in Flask,
    ``request.META`` in Django), or None on a path the middleware does not protect."""
    result = environ.get(ENVIRON_KEY)
    return result if isinstance(result, OpenResult) else None


class EnvelopeMiddleware:
    """PEP 3333 middleware that opens request envelopes and seals responses.

    Args:
        app: the WSGI application to wrap.
        keys: a `Keys` bundle or a zero-argument callable returning the current one (a
            `KeyHolder`); called once per request.
        paths: the paths to protect (``SCRIPT_NAME + PATH_INFO``): an entry ending in ``/`` is
            a prefix, any other entry an exact path. None protects every request.
        limits: size bounds; ``max_envelope`` caps the request body read.
        profile: seal profile (None: the codec's default).
        registry: codec registry (None: the default one).
        content_type: content type the application sees on the opened request.
    """

    def __init__(
        self,
        app: WSGIApplication,
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

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        if not self._protects(path):
            return self.app(environ, start_response)
        engine = self._engine
        keys = engine.current()
        try:
            declared = parse_content_length(environ.get("CONTENT_LENGTH") or None)
        except ValueError:
            return _reject(start_response, BAD_REQUEST)
        if declared is not None and declared > engine.max_body:
            return _reject(start_response, TOO_LARGE)
        body = _read_body(environ, declared, engine.max_body)
        if body is None:
            return _reject(start_response, TOO_LARGE)
        try:
            result = engine.open(keys, body)
        except OpenError as exc:
            log.debug("request rejected: %s", type(exc).__name__)
            return _reject(start_response, rejection_for(exc))

        inner = dict(environ)
        inner.pop("HTTP_TRANSFER_ENCODING", None)
        inner["wsgi.input"] = io.BytesIO(result.plaintext)
        inner["CONTENT_LENGTH"] = str(len(result.plaintext))
        inner["CONTENT_TYPE"] = engine.content_type
        inner[ENVIRON_KEY] = result

        response = _Collected(engine.limits.max_plaintext)
        chunks = self.app(inner, response.start_response)
        try:
            for chunk in chunks:
                response.write(chunk)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        if response.status is None:
            raise RuntimeError("the application returned without calling start_response")
        status, headers = response.status, response.headers
        if _code(status) in NO_BODY_STATUSES:
            start_response(status, headers)
            return [response.body()]
        encoding = next((v for k, v in headers if k.lower() == "content-encoding"), "identity")
        if encoding.strip().lower() != "identity":
            log.error(
                "response has Content-Encoding %r; put EnvelopeMiddleware outside any "
                "compression middleware; answering 500",
                encoding,
            )
            return _reject(start_response, SERVER_ERROR)
        if response.size > engine.limits.max_plaintext:
            log.error("response of %d bytes is over max_plaintext; answering 500", response.size)
            return _reject(start_response, SERVER_ERROR)
        try:
            envelope = engine.seal(keys, response.body())
        except SealError as exc:
            log.error("cannot seal the response (%s); answering 500", exc)
            return _reject(start_response, SERVER_ERROR)
        out = [(k, v) for k, v in headers if k.lower() not in _RESPONSE_HEADERS_DROPPED]
        out += [
            ("Content-Type", engine.envelope_type(keys)),
            ("Content-Length", str(len(envelope))),
        ]
        start_response(status, out)
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
    if stream is None:
        return b""
    if declared is not None:
        parts: list[bytes] = []
        left = declared
        while left > 0:
            chunk = stream.read(min(left, _CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)
    if not environ.get("wsgi.input_terminated"):
        return b""
    parts = []
    size = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > cap:
            return None
        parts.append(chunk)


def _reject(start_response: StartResponse, rejection: Rejection) -> list[bytes]:
    start_response(f"{rejection.status} {rejection.reason}", list(rejection.headers))
    return [rejection.body]


class _Collected:
    """The response of the wrapped application, held until it can be sealed."""

    def __init__(self, cap: int) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.size = 0
        self._cap = cap
        self._parts: list[bytes] = []

    def start_response(
        self,
        status: str,
        headers: list[tuple[str, str]],
        exc_info: OptExcInfo | None = None,
    ) -> Callable[[bytes], object]:
        if self.status is not None and exc_info is None:
            raise RuntimeError("start_response called twice without exc_info")
        if exc_info is not None and self.size:
            # Nothing has reached the client yet (PEP 3333 would re-raise otherwise), so the
            # error response replaces the old one, and the body written so far goes with it.
            self._parts.clear()
            self.size = 0
        self.status = status
        self.headers = list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        if self.status is None:
            raise RuntimeError("the application wrote a body before calling start_response")
        self.size += len(data)
        if self.size <= self._cap:
            self._parts.append(bytes(data))

    def body(self) -> bytes:
        return b"".join(self._parts)
