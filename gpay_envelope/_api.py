"""seal() and open(): input checks, size caps, codec choice, the error contract.

Which keys a seal or an open uses is `_rotation`'s decision; misuse is answered alike by both:
a missing or mistyped argument is `TypeError`, a key set that cannot serve its role (another
codec's keys, no private half where one is needed) is `KeySetError`, and keys that exist but
are unusable now (disabled, expired, not bound to the algorithm) are `SealError` on seal.

Every call ends in one audit event when anything listens (`_observe`, docs/observability.md);
when nothing does, the cost is one check.
"""

from __future__ import annotations

from datetime import datetime

from . import _observe, _rotation
from ._keys import KeySet, utcnow
from .codecs import (
    DEFAULT_LIMITS,
    Codec,
    CodecRegistry,
    Limits,
    OpenResult,
    SealRequest,
)
from .codecs import default_registry as _default_registry
from .codecs._protocol import open_request
from .errors import InvalidEnvelope, InvalidSignature, KeySetError, KeyUnavailable, SealError

__all__ = ["open", "open_detailed", "seal"]


def _check_keyset(name: str, value: object, *, optional: bool = False) -> KeySet | None:
    if value is None and optional:
        return None
    if not isinstance(value, KeySet):
        raise TypeError(f"{name} must be a KeySet, not {type(value).__name__}")
    return value


def _codec_for(
    registry: CodecRegistry | None,
    name: str,
    *,
    sets: tuple[tuple[str, KeySet | None], ...],
    private: tuple[str, KeySet | None],
) -> Codec:
    """The codec called ``name``, after checking that every key set belongs to it and that
    the set named in ``private`` holds a private half (the same checks for seal and open)."""
    impl = (registry or _default_registry).get(name)
    for label, ks in sets:
        if ks is not None and ks.codec != impl.name:
            raise KeySetError(f"{label} holds {ks.codec!r} keys, but the codec is {impl.name!r}")
    label, ks = private
    if ks is not None and not ks.has_secret:
        verb = "hold" if label.endswith("s") else "holds"
        raise KeySetError(f"{label} {verb} no private key; it must hold your own private keys")
    return impl


def seal(
    plaintext: bytes,
    *,
    recipients: KeySet,
    signer: KeySet | None,
    codec: str = "pgp",
    profile: str | None = None,
    allow_unsigned: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    registry: CodecRegistry | None = None,
    now: datetime | None = None,
) -> bytes:
    """Sign and encrypt ``plaintext`` for ``recipients``.

    Args:
        plaintext: the payload (the API's JSON body), as bytes.
        recipients: the peer's public keys. JWE seals to their primary; PGP encrypts to every
            ENABLED, unexpired key.
        signer: your own private keys. JWE signs with the primary; PGP signs with every
            ENABLED, unexpired key, primary first. ``None`` only with ``allow_unsigned``.
        codec: ``"pgp"`` or ``"jwe"``.
        profile: a named algorithm profile of the codec; None picks its default
            (JWE: ``"signed"``; also ``"legacy"``, ``"legacy-a128"``).
        allow_unsigned: permit ``signer=None`` (the legacy unsigned JWE text only).
        limits: resource bounds; ``max_plaintext`` applies here.
        registry: codec registry to use instead of the default one.
        now: the time to check key validity against (defaults to the current time).

    Returns:
        The envelope: a compact JWE, or padded web-safe base64 of a binary OpenPGP message.

    Raises:
        TypeError: ``plaintext`` is not bytes, a key set argument is not a `KeySet`, or
            ``signer`` is None without ``allow_unsigned``.
        KeySetError: a key set of another codec, or a ``signer`` with no private key.
        SealError: no usable key (disabled, expired, wrong use or algorithm), or the payload
            is over ``limits.max_plaintext``.
        UnsupportedCodec: unknown codec or profile.
    """
    args = (plaintext, recipients, signer, codec, profile, allow_unsigned, limits, registry, now)
    watch = _observe.watch()
    if watch is None:
        return _seal(*args, None)
    try:
        envelope = _seal(*args, watch)
    except Exception as exc:
        watch.failed("seal", exc)
        raise
    watch.sealed(envelope)
    return envelope


def _seal(
    plaintext: bytes,
    recipients: KeySet,
    signer: KeySet | None,
    codec: str,
    profile: str | None,
    allow_unsigned: bool,
    limits: Limits,
    registry: CodecRegistry | None,
    now: datetime | None,
    watch: _observe.Watch | None,
) -> bytes:
    if not isinstance(plaintext, (bytes, bytearray, memoryview)):
        raise TypeError(f"plaintext must be bytes, not {type(plaintext).__name__}")
    data = bytes(plaintext)
    rcpt = _check_keyset("recipients", recipients)
    sig = _check_keyset("signer", signer, optional=True)
    assert rcpt is not None
    if sig is None and not allow_unsigned:
        raise TypeError("signer is required unless allow_unsigned=True")
    impl = _codec_for(
        registry, codec, sets=(("recipients", rcpt), ("signer", sig)), private=("signer", sig)
    )
    if watch is not None:
        watch.codec = impl.name
    if len(data) > limits.max_plaintext:
        raise SealError(f"plaintext is {len(data)} bytes, over the limit of {limits.max_plaintext}")
    when = _now(now)
    fan_out = impl.fan_out
    request = SealRequest(
        plaintext=data,
        recipients=_rotation.sealing_keys(
            rcpt, when, fan_out=fan_out, role="recipients'", purpose="enc"
        ),
        signers=()
        if sig is None
        else _rotation.sealing_keys(
            sig, when, fan_out=fan_out, role="signer's", purpose="sig", secret=True
        ),
        profile=profile,
        now=when,
        limits=limits,
    )
    if watch is not None:
        watch.profile = profile or impl.profiles[0]
        watch.recipients = tuple(k.kid for k in request.recipients)
        watch.signers = tuple(k.kid for k in request.signers)
    return impl.seal(request)


def open_detailed(
    envelope: bytes | str,
    *,
    identities: KeySet,
    senders: KeySet | None,
    codec: str | None = None,
    allow_unsigned: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    registry: CodecRegistry | None = None,
    now: datetime | None = None,
) -> OpenResult:
    """Like `open`, but also tell which identity key decrypted and which sender keys verified.

    Use it for audit logs and for checking a rotation: after promoting a new key, the
    ``decrypted_with`` of Google's next messages shows when Google switched to it.
    """
    return _observed_open(
        (envelope, identities, senders, codec, allow_unsigned, limits, registry, now)
    )


def _observed_open(
    args: tuple[
        bytes | str, KeySet, KeySet | None, str | None, bool, Limits, CodecRegistry | None,
        datetime | None,
    ],
) -> OpenResult:  # fmt: skip
    """`open_detailed` of its arguments in order, observed when anything listens."""
    envelope = args[0]
    watch = _observe.watch()
    if watch is None:
        return _open_detailed(*args, None)
    watch.size = _envelope_size(envelope)
    try:
        result = _open_detailed(*args, watch)
    except Exception as exc:
        watch.failed("open", exc)
        raise
    watch.opened(result.decrypted_with, result.verified_by, result.algorithms)
    return result


def _open_detailed(
    envelope: bytes | str,
    identities: KeySet,
    senders: KeySet | None,
    codec: str | None,
    allow_unsigned: bool,
    limits: Limits,
    registry: CodecRegistry | None,
    now: datetime | None,
    watch: _observe.Watch | None,
) -> OpenResult:
    if type(envelope) is bytes:  # the common case, no copy
        if len(envelope) > limits.max_envelope:
            raise InvalidEnvelope
        raw = envelope
    else:
        raw = _envelope_bytes(envelope, limits)
    ids = _check_keyset("identities", identities)
    snd = _check_keyset("senders", senders, optional=True)
    assert ids is not None
    if snd is None and not allow_unsigned:
        raise TypeError("senders is required unless allow_unsigned=True")
    impl = _codec_for(
        registry,
        codec or ids.codec,
        sets=(("identities", ids), ("senders", snd)),
        private=("identities", ids),
    )
    if watch is not None:
        watch.codec = impl.name
    when = _now(now)
    request = open_request(
        raw,
        _rotation.identity_keys(ids),
        _rotation.sender_keys(snd, when),
        allow_unsigned,
        when,
        limits,
    )
    if watch is not None:
        watch.trace = request.trace
    failure: type[InvalidEnvelope] | type[InvalidSignature] | None = None
    unavailable: str | None = None
    try:
        result = impl.open(request)
    except InvalidSignature:
        failure = InvalidSignature
    except KeyUnavailable as exc:
        # A token key that cannot be reached says so: the envelope was not judged.
        unavailable = str(exc)
    except Exception:
        # Anything else, a codec bug or a parser error on hostile input included, is the one
        # opaque error.
        failure = InvalidEnvelope
    if unavailable is not None:
        raise KeyUnavailable(unavailable)
    if failure is not None:
        # Raised afresh outside the except block: no __context__ and no codec frames, whose
        # locals hold decrypted plaintext and content keys, travel with the exception.
        raise failure()
    if len(result.plaintext) > limits.max_plaintext:
        del result
        raise InvalidEnvelope
    return result


def _envelope_size(envelope: object) -> int | None:
    """The size of ``envelope`` in bytes (a str: in characters, at most its bytes), or None
    for a type `open` does not take. A memoryview counts bytes, not items."""
    if isinstance(envelope, (bytes, str, bytearray)):
        return len(envelope)
    if isinstance(envelope, memoryview):
        return envelope.nbytes
    return None


def _envelope_bytes(envelope: object, limits: Limits) -> bytes:
    """``envelope`` (str, bytes-like) as bytes, its size checked before any copy."""
    size = _envelope_size(envelope)
    if size is not None and size > limits.max_envelope:
        # A str is at least as many bytes as characters.
        raise InvalidEnvelope
    if isinstance(envelope, str):
        if not envelope.isascii():
            raise InvalidEnvelope
        return envelope.encode("ascii")
    if isinstance(envelope, (bytes, bytearray, memoryview)):
        return bytes(envelope)
    raise TypeError(f"envelope must be bytes or str, not {type(envelope).__name__}")


def open(
    envelope: bytes | str,
    *,
    identities: KeySet,
    senders: KeySet | None,
    codec: str | None = None,
    allow_unsigned: bool = False,
    limits: Limits = DEFAULT_LIMITS,
    registry: CodecRegistry | None = None,
    now: datetime | None = None,
) -> bytes:
    """Decrypt and verify an envelope; return the payload.

    Args:
        envelope: the HTTP body: compact JWE, or (PGP) web-safe base64 padded or not, raw
            binary OpenPGP, or ASCII armor.
        identities: your own private keys. Decryption uses ENABLED keys only: the key the
            envelope names (JWE ``kid``, PGP key ids), or, when it names none, at most
            ``limits.max_trials`` keys, primary first. Identity keys outside their validity
            window (expired, or not yet valid) still decrypt: disable a key to stop it; see
            docs/security.md.
        senders: the peer's public keys. A signature counts when it is valid and made by an
            ENABLED sender key inside its validity window; signatures by unknown keys are
            ignored.
        codec: ``"jwe"`` or ``"pgp"``; None takes the codec of ``identities``.
        allow_unsigned: accept an envelope that carries no signature (legacy unsigned JWE).
            A signature that is present is still checked. Beware: with this on, anyone who
            holds your public key can forge a message that opens; use `open_detailed` and
            check ``verified_by`` if signed and unsigned senders are mixed.
        limits: resource bounds.
        registry: codec registry to use instead of the default one.
        now: the time to check sender key validity against.

    Returns:
        The payload bytes.

    Raises:
        InvalidEnvelope: malformed, tampered, too large, disallowed algorithm, or no usable
            identity key. One fixed message; no cause is attached.
        InvalidSignature: decrypted and authenticated, but no valid signature by a trusted
            sender key (HTTP 401 in Google's protocol).
        TypeError: wrong argument types, or ``senders`` None without ``allow_unsigned``
            (a programming error, not bad input).
        KeySetError: a key set of another codec, or ``identities`` with no private key.
    """
    return _observed_open(
        (envelope, identities, senders, codec, allow_unsigned, limits, registry, now)
    ).plaintext


def _now(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise TypeError("now must be a timezone-aware datetime")
    return now
