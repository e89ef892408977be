"""The pluggable codec layer (hazmat): keys in, bytes out, no rotation policy of its own.

A codec turns plaintext into an envelope for the keys it is handed and back. Which keys those
are, in which order they are tried and how many (`gpay_envelope._rotation`), the size caps and
the error contract (`gpay_envelope.seal` / `gpay_envelope.open`) are decided above it: every
codec gets the same `SealRequest` / `OpenRequest`, reports the key hints an envelope carries
to `_rotation.attempts`, and performs the operations. A codec raises `InvalidEnvelope` for
anything wrong with untrusted input before or at decryption and `InvalidSignature` after it;
anything else it lets escape is turned into `InvalidEnvelope` by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from .._keys import Key
from .._rotation import TrialBudget
from ..errors import UnsupportedCodec

__all__ = [
    "DEFAULT_LIMITS",
    "Codec",
    "CodecRegistry",
    "Limits",
    "OpenRequest",
    "OpenResult",
    "SealRequest",
    "default_registry",
]


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource bounds for one envelope.

    Attributes:
        max_plaintext: largest plaintext sealed or returned, after any decompression
            (default 4 MiB).
        max_envelope: largest envelope accepted by open, checked before any parsing
            (default 8 MiB, room for a signed, encoded 4 MiB payload).
        max_trials: most private-key operations spent on an envelope that names no key, and
            most signature checks on a signature that names no key (default 3).
    """

    max_plaintext: int = 4 << 20
    max_envelope: int = 8 << 20
    max_trials: int = 3

    def __post_init__(self) -> None:
        for name in ("max_plaintext", "max_envelope", "max_trials"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int")


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class SealRequest:
    """What `seal` hands a codec: the keys `_rotation.sealing_keys` chose, primary first.

    ``signers`` is empty only for an unsigned envelope (the caller opted in).
    """

    plaintext: bytes = field(repr=False)
    recipients: tuple[Key, ...]
    signers: tuple[Key, ...]
    profile: str | None
    now: datetime
    limits: Limits


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """What `open` hands a codec.

    ``identities`` are the keys that may decrypt and ``senders`` the keys whose signatures
    count (`_rotation.identity_keys` / `sender_keys`), primary first; ``senders`` is empty
    when the caller passed no sender set. ``trials`` is the one budget of private-key
    operations the whole envelope may spend (``limits.max_trials``), made with the request.
    """

    envelope: bytes = field(repr=False)
    identities: tuple[Key, ...]
    senders: tuple[Key, ...]
    allow_unsigned: bool
    now: datetime
    limits: Limits
    trials: TrialBudget = field(init=False)

    def __post_init__(self) -> None:
        # One fresh budget per request (per envelope); frozen, so set once, here.
        object.__setattr__(self, "trials", TrialBudget(self.limits.max_trials))


@dataclass(frozen=True, slots=True)
class OpenResult:
    """An opened envelope and what it took to open it.

    Attributes:
        plaintext: the payload.
        codec: the codec's name.
        decrypted_with: kid of the identity key that decrypted it.
        verified_by: kids of the sender keys whose signatures verified (empty if unsigned).
        algorithms: the algorithms seen (e.g. ``("RSA1_5", "A256CBC-HS512", "DEF", "RS256")``).
    """

    plaintext: bytes
    codec: str
    decrypted_with: str
    verified_by: tuple[str, ...]
    algorithms: tuple[str, ...]

    def __repr__(self) -> str:
        return (
            f"OpenResult(codec={self.codec!r}, decrypted_with={self.decrypted_with!r}, "
            f"verified_by={self.verified_by!r}, algorithms={self.algorithms!r}, "
            f"plaintext=<{len(self.plaintext)} bytes>)"
        )


@runtime_checkable
class Codec(Protocol):
    """A way to seal and open envelopes.

    Attributes:
        name: registry name, e.g. ``"jwe"``.
        profiles: named algorithm profiles accepted by `seal`; the first is the default.
        fan_out: True when an envelope carries every usable recipient and signer key (PGP),
            False when it carries the primary of each (JWE compact).
    """

    name: str
    profiles: tuple[str, ...]
    fan_out: bool

    def seal(self, request: SealRequest) -> bytes:
        """Produce an envelope. Raises `SealError` when no usable key or profile fits."""

    def open(self, request: OpenRequest) -> OpenResult:
        """Open an envelope. Raises `InvalidEnvelope` or `InvalidSignature`."""


class CodecRegistry:
    """Codec names to codec factories, per instance (no class-level state).

    Factories run on first use, so a codec whose dependency is missing costs nothing until
    somebody asks for it.
    """

    def __init__(self) -> None:
        self._factories: dict[str, Callable[[], Codec]] = {}
        self._codecs: dict[str, Codec] = {}

    def register(self, name: str, factory: Callable[[], Codec]) -> None:
        """Register (or replace) the codec called ``name``."""
        self._factories[name] = factory
        self._codecs.pop(name, None)

    def names(self) -> tuple[str, ...]:
        """Registered codec names."""
        return tuple(self._factories)

    def get(self, name: str) -> Codec:
        """The codec called ``name``. Raises `UnsupportedCodec`."""
        codec = self._codecs.get(name)
        if codec is None:
            factory = self._factories.get(name)
            if factory is None:
                raise UnsupportedCodec(f"unknown codec {name!r}; known: {sorted(self._factories)}")
            codec = self._codecs[name] = factory()
        return codec


def _jwe() -> Codec:
    from .jwe import JWECodec

    return JWECodec()


def _pgp() -> Codec:
    from .pgp import PGPCodec

    return PGPCodec()


def _default() -> CodecRegistry:
    reg = CodecRegistry()
    reg.register("jwe", _jwe)
    reg.register("pgp", _pgp)
    return reg


default_registry = _default()
