"""What every web adapter shares: the key bundle, the key holder and the HTTP framing.

Nothing here imports a web framework; each adapter module imports its own, so that
``import gpay_envelope`` and ``import gpay_envelope.adapters`` never need one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import MappingProxyType
from typing import TypeAlias, TypeVar

from .._api import open_detailed, seal
from .._keys import KeySet
from ..codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenResult
from ..errors import InvalidEnvelope, InvalidSignature, KeySetError, OpenError

__all__ = [
    "CONTENT_TYPES",
    "PLAINTEXT_CONTENT_TYPE",
    "Engine",
    "KeyHolder",
    "KeyProvider",
    "Keys",
    "Rejection",
    "envelope_content_type",
]

log = logging.getLogger("gpay_envelope.adapters")

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

_T = TypeVar("_T")


def envelope_content_type(codec: str) -> str:
    """The content type of an envelope body of ``codec`` (``application/jose; charset=utf-8``
    for JWE, ``application/octet-stream; charset=utf-8`` for PGP)."""
    return CONTENT_TYPES.get(codec, _FALLBACK_CONTENT_TYPE)


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type value, lower-cased, without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Keys:
    """One side's keys for one exchange, as a single immutable value.

    The same bundle serves a partner's server (open requests, seal responses) and its client
    (seal requests, open responses).

    Attributes:
        identities: your private decryption keys (`open`'s ``identities``).
        senders: the peer's public signature keys (`open`'s ``senders``).
        signer: your private signing keys (`seal`'s ``signer``).
        recipients: the peer's public encryption keys (`seal`'s ``recipients``).

    Raises:
        TypeError: a field is not a `KeySet`.
        KeySetError: the four sets are not all of one codec, or ``identities`` or ``signer``
            hold no private key.

    Change a field with ``dataclasses.replace(keys, identities=...)``; the result is checked
    again.
    """

    identities: KeySet
    senders: KeySet
    signer: KeySet
    recipients: KeySet

    def __post_init__(self) -> None:
        for name in ("identities", "senders", "signer", "recipients"):
            value = getattr(self, name)
            if not isinstance(value, KeySet):
                raise TypeError(f"{name} must be a KeySet, not {type(value).__name__}")
        codecs = {ks.codec for ks in (self.identities, self.senders, self.signer, self.recipients)}
        if len(codecs) != 1:
            raise KeySetError(f"the four key sets must be of one codec, not {sorted(codecs)}")
        for name in ("identities", "signer"):
            if not getattr(self, name).has_secret:
                raise KeySetError(f"{name} holds no private key")

    @property
    def codec(self) -> str:
        """The codec of all four sets."""
        return self.identities.codec


KeyProvider: TypeAlias = "Keys | Callable[[], Keys]"
"""Fixed `Keys`, or a zero-argument callable returning the current `Keys` (a `KeyHolder`).
The adapters call it once per request and use that one bundle for the whole exchange."""


class KeyHolder:
    """The current `Keys`, swappable at run time from any thread.

    ``set`` and ``update`` replace the whole bundle in one reference assignment, so a reader
    sees either the old or the new bundle, never a mix. Pass the holder itself as a key
    provider: calling it is ``get()``.
    """

    __slots__ = ("_keys", "_lock")

    def __init__(self, keys: Keys) -> None:
        if not isinstance(keys, Keys):
            raise TypeError(f"keys must be Keys, not {type(keys).__name__}")
        self._keys = keys
        self._lock = threading.Lock()

    def get(self) -> Keys:
        """The current bundle."""
        return self._keys

    __call__ = get

    def set(self, keys: Keys) -> None:
        """Replace the bundle."""
        if not isinstance(keys, Keys):
            raise TypeError(f"keys must be Keys, not {type(keys).__name__}")
        with self._lock:
            self._keys = keys

    def update(self, change: Callable[[Keys], Keys]) -> Keys:
        """Replace the bundle with ``change(current)``, atomically with respect to other
        ``set``/``update`` calls; returns the new bundle. If ``change`` raises (an invalid
        set), nothing changes."""
        with self._lock:
            new = change(self._keys)
            if not isinstance(new, Keys):
                raise TypeError(f"change must return Keys, not {type(new).__name__}")
            self._keys = new
            return new

    def __repr__(self) -> str:
        return f"KeyHolder({self._keys!r})"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A response the server adapters send on their own: fixed, plain, never sealed."""

    status: int
    body: bytes

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
TOO_LARGE = Rejection(413, b"envelope too large\n")
SERVER_ERROR = Rejection(500, b"internal server error\n")


def rejection_for(exc: OpenError) -> Rejection:
    """401 for `InvalidSignature` (Google's protocol), 400 for anything else."""
    return UNAUTHORIZED if isinstance(exc, InvalidSignature) else BAD_REQUEST


class PathFilter:
    """Which request paths a middleware protects: an entry ending in ``/`` is a prefix, any
    other entry an exact path; None protects every path."""

    __slots__ = ("_paths",)

    def __init__(self, paths: Iterable[str] | None) -> None:
        self._paths = None if paths is None else tuple(paths)

    def __call__(self, path: str) -> bool:
        if self._paths is None:
            return True
        return any(path.startswith(p) if p.endswith("/") else path == p for p in self._paths)


def parse_content_length(value: str | bytes | None) -> int | None:
    """The value of a Content-Length header; None when absent. Raises ValueError when it is
    not a plain non-negative decimal number."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit():
        raise ValueError("bad Content-Length")
    return int(text)


def read_capped(chunks: Iterable[bytes], cap: int) -> bytes | None:
    """Join ``chunks`` while they stay within ``cap`` bytes; None (and stop reading) beyond."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            return None
        parts.append(chunk)
    return b"".join(parts)


async def aread_capped(chunks: AsyncIterable[bytes], cap: int) -> bytes | None:
    """`read_capped` for an async iterable."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            return None
        parts.append(chunk)
    return b"".join(parts)


async def run_blocking(fn: Callable[[], _T]) -> _T:
    """Run CPU-bound ``fn`` (RSA) off the event loop under asyncio; inline elsewhere."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # not asyncio (e.g. trio): no portable thread pool without anyio
        return fn()
    return await asyncio.to_thread(fn)


class Engine:
    """Seal and open with one adapter's settings. Holds no per-request state.

    Args:
        keys: a `KeyProvider`.
        limits: size bounds; ``max_envelope`` also caps how much of a body is read.
        profile: the seal profile (None: the codec's default).
        registry: codec registry (None: the default one).
        content_type: content type given to opened plaintext.
    """

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

    @property
    def max_body(self) -> int:
        """Largest envelope body accepted; reading stops at one byte more."""
        return self.limits.max_envelope

    def current(self) -> Keys:
        """Ask the provider for the bundle to use for one whole exchange."""
        provider = self._keys
        keys = provider if isinstance(provider, Keys) else provider()
        if not isinstance(keys, Keys):
            raise TypeError(f"the key provider returned {type(keys).__name__}, not Keys")
        return keys

    def envelope_type(self, keys: Keys) -> str:
        return envelope_content_type(keys.codec)

    def is_envelope_type(self, keys: Keys, content_type: str | None) -> bool:
        return media_type(content_type) == media_type(self.envelope_type(keys))

    def seal(self, keys: Keys, plaintext: bytes) -> bytes:
        """Seal for ``keys.recipients``, signed by ``keys.signer``. Raises `SealError`."""
        return seal(
            plaintext,
            recipients=keys.recipients,
            signer=keys.signer,
            codec=keys.codec,
            profile=self.profile,
            limits=self.limits,
            registry=self.registry,
        )

    def open(self, keys: Keys, envelope: bytes) -> OpenResult:
        """Open with ``keys.identities``, verified against ``keys.senders``.

        Raises `InvalidEnvelope` or `InvalidSignature` for anything wrong with the body.
        """
        result = open_detailed(
            envelope,
            identities=keys.identities,
            senders=keys.senders,
            codec=keys.codec,
            limits=self.limits,
            registry=self.registry,
        )
        log.debug(
            "envelope opened: codec=%s decrypted_with=%s verified_by=%s",
            result.codec,
            result.decrypted_with,
            ",".join(result.verified_by),
        )
        return result

    def open_response(
        self, keys: Keys, *, status: int, content_type: str | None, body: bytes | None
    ) -> OpenResult | None:
        """The client side's rule for a response body (None: it was over the cap).

        A 2xx response must open: `InvalidEnvelope` / `InvalidSignature` otherwise. Any other
        response is opened when it is labelled as an envelope and opens; else None, and its
        body is not authenticated.
        """
        if 200 <= status < 300:
            if body is None:
                raise InvalidEnvelope from None
            return self.open(keys, body)
        if not body or not self.is_envelope_type(keys, content_type):
            return None
        try:
            return self.open(keys, body)
        except OpenError:
            return None
