"""The codec protocol and the records seal and open hand a codec: `Limits`, `SealRequest`,
`OpenRequest`, `OpenTrace`, `OpenResult`. See the package docstring for the contract."""


from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from .._keys import Key
from .._rotation import TrialBudget

__all__ = [
    "DEFAULT_LIMITS",
    "Codec",
    "Limits",
    "OpenRequest",
    "OpenResult",
    "OpenTrace",
    "SealRequest",
    "open_request",
    "open_result",
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


@dataclass(slots=True)
class OpenTrace:
    """What an open learnt before it ended, for the audit event of an open that then fails.

    A codec sets ``decrypted_with`` to the kid of the identity key that decrypted as soon as
    one has (so an `InvalidSignature` still tells which of our keys the peer sealed to). It
    names a key only: nothing else about the envelope goes here.
    """

    decrypted_with: str | None = None


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """What `open` hands a codec.

    ``identities`` are the keys that may decrypt and ``senders`` the keys whose signatures
    count (`_rotation.identity_keys` / `sender_keys`), primary first; ``senders`` is empty
    when the caller passed no sender set. ``trials`` is the one budget of private-key
    operations the whole envelope may spend (``limits.max_trials``), made with the request;
    ``trace`` is where the codec records which identity key decrypted (`OpenTrace`).
    """

    envelope: bytes = field(repr=False)
    identities: tuple[Key, ...]
    senders: tuple[Key, ...]
    allow_unsigned: bool
    now: datetime
    limits: Limits
    trials: TrialBudget = field(init=False)
    trace: OpenTrace = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One fresh budget per request (per envelope); frozen, so set once, here.
        object.__setattr__(self, "trials", TrialBudget(self.limits.max_trials))
        object.__setattr__(self, "trace", OpenTrace())


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


_new = object.__new__
(
    _set_envelope, _set_identities, _set_senders, _set_allow_unsigned, _set_now, _set_limits,
    _set_trials, _set_trace,
) = (
    getattr(OpenRequest, name).__set__
    for name in (
        "envelope", "identities", "senders", "allow_unsigned", "now", "limits", "trials", "trace"
    )
)  # fmt: skip
_set_plaintext, _set_codec, _set_decrypted_with, _set_verified_by, _set_algorithms = (
    getattr(OpenResult, name).__set__
    for name in ("plaintext", "codec", "decrypted_with", "verified_by", "algorithms")
)


def open_request(
    envelope: bytes,
    identities: tuple[Key, ...],
    senders: tuple[Key, ...],
    allow_unsigned: bool,
    now: datetime,
    limits: Limits,
) -> OpenRequest:
    """An `OpenRequest` of these fields with a fresh budget and trace, the same as
    ``OpenRequest(...)`` makes, at about half the cost: each field is set by its slot, without
    the frozen class's per-field call (measured on every open)."""
    request: OpenRequest = _new(OpenRequest)
    _set_envelope(request, envelope)
    _set_identities(request, identities)
    _set_senders(request, senders)
    _set_allow_unsigned(request, allow_unsigned)
    _set_now(request, now)
    _set_limits(request, limits)
    _set_trials(request, TrialBudget(limits.max_trials))
    _set_trace(request, OpenTrace())
    return request


def open_result(
    plaintext: bytes,
    codec: str,
    decrypted_with: str,
    verified_by: tuple[str, ...],
    algorithms: tuple[str, ...],
) -> OpenResult:
    """An `OpenResult` of these fields, the same as ``OpenResult(...)`` makes, at about half
    the cost: each field is set by its slot, without the frozen class's per-field call
    (measured on every open)."""
    result: OpenResult = _new(OpenResult)
    _set_plaintext(result, plaintext)
    _set_codec(result, codec)
    _set_decrypted_with(result, decrypted_with)
    _set_verified_by(result, verified_by)
    _set_algorithms(result, algorithms)
    return result


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
