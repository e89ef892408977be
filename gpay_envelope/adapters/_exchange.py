"""One envelope exchange over HTTP, as rules free of any framework or socket (sans-IO).

Both sides of the partner API follow the same exchange: the client seals the request body, the
server opens it, hands the plaintext to the application, seals the response, and the client
opens that. This module says what each of those steps does to bodies, headers and statuses;
the adapter modules only move bytes between these rules and their framework:

- `ServerExchange`: the middleware side (asgi.py, wsgi.py): the Content-Length check, opening
  the request (400 `InvalidEnvelope`, 401 `InvalidSignature`, 413 oversized), what the
  application is shown, and sealing its response (500 when that cannot be done).
- `ClientExchange`: the client side (httpx.py, requests.py): https only, sealing the request,
  and the rule for which responses must, may or cannot be opened.
- `HeaderEdit`: the headers each step removes and adds, applied the same way to ASGI byte
  pairs, WSGI lists and environs, and the clients' case-insensitive header mappings.

A step that ends the exchange early raises `Refused` with the `Rejection` to send; the
adapters catch it at once and answer with it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import Any

from .._api import open_detailed, seal
from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenResult
from ..errors import InvalidEnvelope, InvalidSignature, OpenError, SealError
from ._common import KeyProvider, Keys, current_keys

__all__ = [
    "CONTENT_TYPES",
    "PLAINTEXT_CONTENT_TYPE",
    "BodyBuffer",
    "ClientExchange",
    "Engine",
    "HeaderEdit",
    "OpenedResponse",
    "Refused",
    "Rejection",
    "ServerExchange",
    "envelope_content_type",
    "find_header",
    "parse_content_length",
    "read_capped",
    "read_capped_async",
    "rejection_for",
    "require_https",
]

log = logging.getLogger("gpay_envelope.adapters")

# --------------------------------------------------------------------------- content types

#: Content type of the HTTP body per codec (spec rows H1, H2).
CONTENT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "pgp": "application/octet-stream; charset=utf-8",
        "jwe": "application/jose; charset=utf-8",
    }
)
#: Content type for a codec this table does not know (a custom codec in a registry).
_FALLBACK_CONTENT_TYPE = "application/octet-stream"
#: Content type the adapters give the plaintext they hand on: the partner APIs carry JSON.
PLAINTEXT_CONTENT_TYPE = "application/json"

#: Statuses whose responses carry no body (RFC 9110): passed on untouched, never sealed.
NO_BODY_STATUSES = frozenset({204, 304})


def envelope_content_type(codec: str) -> str:
    """The content type of an envelope body of ``codec`` (``application/jose; charset=utf-8``
    for JWE, ``application/octet-stream; charset=utf-8`` for PGP)."""
    return CONTENT_TYPES.get(codec, _FALLBACK_CONTENT_TYPE)


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type value, lower-cased, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


# --------------------------------------------------------------------------- headers

#: Headers that describe a body, replaced whenever the body is swapped for another.
BODY_HEADERS = frozenset({"content-length", "content-type", "transfer-encoding"})
#: ... and the coding of it: a client asks for identity and decodes whatever comes anyway.
CODED_BODY_HEADERS = BODY_HEADERS | {"content-encoding"}
# What a client drops from a response whose body it hands on as it came (its type stays).
_FRAMING_HEADERS = CODED_BODY_HEADERS - {"content-type"}
# WSGI keeps these two request headers under their CGI names, without the HTTP_ prefix.
_CGI_NAMES = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def find_header(headers: Iterable[tuple[str | bytes, str | bytes]], name: str) -> str | None:
    """The first value of the header ``name`` (lower case) in ``headers``, as text (ASGI's
    bytes are read as latin-1); None when absent."""
    raw = name.encode("latin-1")
    for key, value in headers:
        # Compared as bytes when ASGI's bytes come in: no decode of every header name.
        if (key.lower() == raw) if isinstance(key, bytes) else (key.lower() == name):
            return _text(value)
    return None


@dataclass(frozen=True, slots=True)
class HeaderEdit:
    """The headers one step of the exchange removes (``drop``, lower-case names) and then adds
    (``add``, in order), whatever form the framework keeps its headers in."""

    drop: frozenset[str]
    add: tuple[tuple[str, str], ...]

    def apply(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """For a WSGI header list."""
        kept = [(k, v) for k, v in headers if k.lower() not in self.drop]
        return kept + list(self.add)

    def apply_raw(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        """For ASGI byte pairs; added names are lower-cased, as ASGI wants them."""
        drop = _raw_names(self.drop)
        kept = [(k, v) for k, v in headers if k.lower() not in drop]
        kept += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.add]
        return kept

    def apply_to(self, headers: MutableMapping[str, Any]) -> None:
        """In place, for a case-insensitive mapping (``httpx.Headers``, requests' headers)."""
        for name in self.drop:
            headers.pop(name, None)
        for name, value in self.add:
            headers[name] = value

    def apply_to_environ(self, environ: MutableMapping[str, Any]) -> None:
        """In place, for the request headers of a WSGI environ (``HTTP_*`` keys)."""
        for name in self.drop:
            environ.pop(_cgi_key(name), None)
        for name, value in self.add:
            environ[_cgi_key(name)] = value


@functools.lru_cache(maxsize=16)
def _raw_names(names: frozenset[str]) -> frozenset[bytes]:
    """``names`` as ASGI header-name bytes; the drop sets are a few constants, so this is
    worked out once each, not per header per request."""
    return frozenset(n.encode("latin-1") for n in names)


def _cgi_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in _CGI_NAMES else f"HTTP_{key}"


def _new_body(drop: frozenset[str], content_type: str | None, length: int) -> HeaderEdit:
    typed = () if content_type is None else (("Content-Type", content_type),)
    return HeaderEdit(drop, (*typed, ("Content-Length", str(length))))


# --------------------------------------------------------------------------- rejections


@dataclass(frozen=True, slots=True)
class Rejection:
    """A response the server adapters send on their own: fixed, plain, never sealed.

    ``body_unread`` says the request body was not read to its end, so the connection cannot
    be reused (ASGI adds ``Connection: close``; a WSGI server handles that hop by itself).
    """

    status: int
    body: bytes
    body_unread: bool = False

    @property
    def reason(self) -> str:
        return HTTPStatus(self.status).phrase

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return (
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(self.body))),
        )


BAD_REQUEST = Rejection(400, b"invalid envelope\n")
UNAUTHORIZED = Rejection(401, b"invalid signature\n")
TOO_LARGE = Rejection(413, b"envelope too large\n", body_unread=True)
SERVER_ERROR = Rejection(500, b"internal server error\n")


def rejection_for(exc: OpenError) -> Rejection:
    """401 for `InvalidSignature` (Google's protocol), 400 for anything else."""
    return UNAUTHORIZED if isinstance(exc, InvalidSignature) else BAD_REQUEST


class Refused(Exception):
    """The exchange ends here with ``rejection``. Caught by the adapter at once, never logged
    with its traceback."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.status)
        self.rejection = rejection


# --------------------------------------------------------------------------- bodies


def parse_content_length(value: str | bytes | None) -> int | None:
    """The value of a Content-Length header; None when absent. Raises ValueError when it is
    not a plain non-negative decimal number."""
    if value is None:
        return None
    text = _text(value).strip()
    if not text or not text.isascii() or not text.isdigit():
        raise ValueError("bad Content-Length")
    return int(text)


def read_capped(chunks: Iterable[bytes], cap: int) -> bytes | None:
    """Join ``chunks`` while they stay within ``cap`` bytes; None (and stop reading) beyond."""
    body = BodyBuffer(cap)
    for chunk in chunks:
        body.add(chunk)
        if body.over:
            return None
    return body.data()


async def read_capped_async(chunks: AsyncIterable[bytes], cap: int) -> bytes | None:
    """`read_capped` for an async iterable."""
    body = BodyBuffer(cap)
    async for chunk in chunks:
        body.add(chunk)
        if body.over:
            return None
    return body.data()


class BodyBuffer:
    """A body held in memory up to ``cap`` bytes; beyond, only its size is still counted."""

    __slots__ = ("_cap", "_parts", "size")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._parts: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size <= self._cap:
            self._parts.append(bytes(chunk))

    @property
    def over(self) -> bool:
        """More than ``cap`` bytes were added."""
        return self.size > self._cap

    def clear(self) -> None:
        self._parts.clear()
        self.size = 0

    def data(self) -> bytes:
        return b"".join(self._parts)


# --------------------------------------------------------------------------- seal and open


class Engine:
    """Seal and open with one adapter's settings (its ``keys``, ``limits``, ``profile``,
    ``registry`` and ``content_type`` arguments). Holds no per-request state."""

    __slots__ = ("_keys", "content_type", "limits", "profile", "registry")

    def __init__(
        self,
        keys: KeyProvider,
        *,
        limits: Limits = DEFAULT_LIMITS,
        profile: str | None = None,
        registry: CodecRegistry | None = None,
        content_type: str = PLAINTEXT_CONTENT_TYPE,
    ) -> None:
        if not (isinstance(keys, Keys) or callable(keys)):
            raise TypeError("keys must be Keys or a zero-argument callable returning Keys")
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be Limits, not {type(limits).__name__}")
        self._keys = keys
        self.limits = limits
        self.profile = profile
        self.registry = registry
        self.content_type = content_type

    def current(self) -> Keys:
        """Ask the provider for the bundle to use for one whole exchange."""
        return current_keys(self._keys)

    def seal(self, keys: Keys, plaintext: bytes) -> bytes:
        """Seal for ``keys.recipients``, signed by ``keys.signer``. Raises `SealError`."""
        return seal(
            plaintext, recipients=keys.recipients, signer=keys.signer, codec=keys.codec,
            profile=self.profile, limits=self.limits, registry=self.registry,
        )

    def open(self, keys: Keys, envelope: bytes) -> OpenResult:
        """Open with ``keys.identities``, verified against ``keys.senders``.

        Raises `InvalidEnvelope` or `InvalidSignature` for anything wrong with the body.
        """
        result = open_detailed(
            envelope, identities=keys.identities, senders=keys.senders, codec=keys.codec,
            limits=self.limits, registry=self.registry,
        )
        if log.isEnabledFor(logging.DEBUG):  # the join is not paid for a silent logger
            log.debug(
                "envelope opened: codec=%s decrypted_with=%s verified_by=%s",
                result.codec,
                result.decrypted_with,
                ",".join(result.verified_by),
            )
        return result


class _Exchange:
    """One request's keys: the provider is read once, and that bundle serves both bodies."""

    __slots__ = ("_engine", "keys")

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self.keys = engine.current()

    @property
    def max_body(self) -> int:
        """Largest envelope body accepted; reading stops at one byte more."""
        return self._engine.limits.max_envelope

    @property
    def envelope_type(self) -> str:
        return envelope_content_type(self.keys.codec)


class ServerExchange(_Exchange):
    """The middleware's side of one request: open the request, seal the response."""

    __slots__ = ()

    @property
    def max_plaintext(self) -> int:
        return self._engine.limits.max_plaintext

    def declared_length(self, content_length: str | bytes | None) -> int | None:
        """The request's Content-Length. Refused: 400 when malformed, 413 when over the cap
        (before any byte is read)."""
        try:
            declared = parse_content_length(content_length)
        except ValueError:
            raise Refused(BAD_REQUEST) from None
        if declared is not None and declared > self.max_body:
            raise Refused(TOO_LARGE)
        return declared

    def open_request(self, body: bytes | None) -> tuple[OpenResult, HeaderEdit]:
        """Open the request ``body`` (None: it went over the cap) and say how the request
        headers change for the application. Refused: 413, 400 or 401."""
        if body is None:
            raise Refused(TOO_LARGE)
        try:
            result = self._engine.open(self.keys, body)
        except OpenError as exc:
            log.debug("request rejected: %s", type(exc).__name__)
            raise Refused(rejection_for(exc)) from None
        edit = _new_body(BODY_HEADERS, self._engine.content_type, len(result.plaintext))
        return result, edit

    @staticmethod
    def passes_untouched(status: int) -> bool:
        """A response without a body (204, 304) goes out as it is."""
        return status in NO_BODY_STATUSES

    def seal_response(
        self, *, content_encoding: str | None, body: BodyBuffer
    ) -> tuple[bytes, HeaderEdit]:
        """Seal the application's response ``body`` with the request's keys. Refused: 500,
        logged at ERROR, when it is content-coded, over ``max_plaintext`` or cannot be sealed.
        """
        encoding = content_encoding or "identity"
        if encoding.strip().lower() != "identity":
            log.error(
                "response has Content-Encoding %r; put EnvelopeMiddleware outside any "
                "compression middleware; answering 500",
                encoding,
            )
            raise Refused(SERVER_ERROR)
        if body.size > self.max_plaintext:
            log.error("response of %d bytes is over max_plaintext; answering 500", body.size)
            raise Refused(SERVER_ERROR)
        try:
            envelope = self._engine.seal(self.keys, body.data())
        except SealError as exc:
            log.error("cannot seal the response (%s); answering 500", exc)
            raise Refused(SERVER_ERROR) from None
        return envelope, _new_body(BODY_HEADERS, self.envelope_type, len(envelope))


@dataclass(frozen=True, slots=True)
class OpenedResponse:
    """A response as the client hands it on: its ``body``, the `OpenResult` when it was an
    envelope (None: handed on as it came, not authenticated), and the header changes."""

    body: bytes
    result: OpenResult | None
    headers: HeaderEdit


def require_https(url: str) -> None:
    """Envelopes travel over https only (spec row T1): ValueError for any other URL."""
    if url[:8].lower() != "https://":
        raise ValueError("gpay_envelope sends envelopes over https only (Google's rule T1)")


class ClientExchange(_Exchange):
    """The client's side of one request: seal the request, open the response."""

    __slots__ = ()

    def seal_request(self, plaintext: bytes) -> tuple[bytes, HeaderEdit]:
        """The sealed body and the request header changes (the codec's content type, its
        length, ``Accept-Encoding: identity``). Raises `SealError`."""
        envelope = self._engine.seal(self.keys, plaintext)
        body = _new_body(CODED_BODY_HEADERS, self.envelope_type, len(envelope))
        return envelope, HeaderEdit(body.drop, (*body.add, ("Accept-Encoding", "identity")))

    def open_response(
        self, *, status: int, content_type: str | None, body: bytes | None
    ) -> OpenedResponse:
        """The rule for a response ``body`` (None: it was over the cap).

        A 2xx response must open: `InvalidEnvelope` / `InvalidSignature` otherwise. Any other
        response is opened when it is labelled as an envelope and opens; else it is handed on
        as it came (empty if over the cap), and its body is not authenticated.
        """
        result = self._open(status, content_type, body)
        if result is None:
            data = body or b""
            return OpenedResponse(data, None, _new_body(_FRAMING_HEADERS, None, len(data)))
        plaintext = result.plaintext
        edit = _new_body(CODED_BODY_HEADERS, self._engine.content_type, len(plaintext))
        return OpenedResponse(plaintext, result, edit)

    def _open(self, status: int, content_type: str | None, body: bytes | None) -> OpenResult | None:
        if 200 <= status < 300:
            if body is None:
                raise InvalidEnvelope from None
            return self._engine.open(self.keys, body)
        if not body or media_type(content_type) != media_type(self.envelope_type):
            return None
        try:
            return self._engine.open(self.keys, body)
        except OpenError:
            return None

