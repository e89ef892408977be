"""seal() and open(): input checks, size caps, codec choice, key candidates, the error contract."""

from __future__ import annotations

from datetime import datetime

from ._keys import Key, KeySet, utcnow
from .codecs import DEFAULT_LIMITS, CodecRegistry, Limits, OpenRequest, OpenResult, SealRequest
from .codecs import default_registry as _default_registry
from .errors import InvalidEnvelope, InvalidSignature, KeySetError, SealError

__all__ = ["open", "open_detailed", "seal"]


def _check_keyset(name: str, value: object, *, optional: bool = False) -> KeySet | None:
    if value is None and optional:
        return None
    if not isinstance(value, KeySet):
        raise TypeError(f"{name} must be a KeySet, not {type(value).__name__}")
    return value


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
        TypeError: ``plaintext`` is not bytes, or a key set argument is not a `KeySet`.
        SealError: no usable key (disabled, expired, no private half, wrong algorithm), the
            payload is over ``limits.max_plaintext``, or unsigned without ``allow_unsigned``.
        UnsupportedCodec: unknown codec or profile.
    """
    if not isinstance(plaintext, (bytes, bytearray, memoryview)):
        raise TypeError(f"plaintext must be bytes, not {type(plaintext).__name__}")
    data = bytes(plaintext)
    rcpt = _check_keyset("recipients", recipients)
    sig = _check_keyset("signer", signer, optional=True)
    assert rcpt is not None
    if sig is None and not allow_unsigned:
        raise SealError("no signer given; pass allow_unsigned=True to seal without a signature")
    if len(data) > limits.max_plaintext:
        raise SealError(f"plaintext is {len(data)} bytes, over the limit of {limits.max_plaintext}")
    impl = (registry or _default_registry).get(codec)
    for label, ks in (("recipients", rcpt), ("signer", sig)):
        if ks is not None and ks.codec != impl.name:
            raise SealError(f"{label} holds {ks.codec!r} keys, but the codec is {impl.name!r}")
    if sig is not None and not sig.has_secret:
        raise SealError("the signer key set holds no private key")
    request = SealRequest(
        plaintext=data,
        recipients=rcpt,
        signer=sig,
        profile=profile,
        now=_now(now),
        limits=limits,
    )
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
    if isinstance(envelope, (str, bytes, bytearray, memoryview)) and len(envelope) > (
        limits.max_envelope
    ):
        # Before any copy; a str is at least as many bytes as characters.
        raise InvalidEnvelope
    if isinstance(envelope, str):
        if not envelope.isascii():
            raise InvalidEnvelope
        raw = envelope.encode("ascii")
    elif isinstance(envelope, (bytes, bytearray, memoryview)):
        raw = bytes(envelope)
    else:
        raise TypeError(f"envelope must be bytes or str, not {type(envelope).__name__}")
    ids = _check_keyset("identities", identities)
    snd = _check_keyset("senders", senders, optional=True)
    assert ids is not None
    if snd is None and not allow_unsigned:
        raise TypeError("senders is required unless allow_unsigned=True")
    impl = (registry or _default_registry).get(codec or ids.codec)
    for label, ks in (("identities", ids), ("senders", snd)):
        if ks is not None and ks.codec != impl.name:
            raise TypeError(f"{label} holds {ks.codec!r} keys, but the codec is {impl.name!r}")
    if not ids.has_secret:
        raise KeySetError("identities hold no private key; open needs your own private keys")
    when = _now(now)
    request = OpenRequest(
        envelope=raw,
        identities=_identity_candidates(ids),
        senders=_sender_candidates(snd, when),
        allow_unsigned=allow_unsigned,
        now=when,
        limits=limits,
    )
    failure: type[InvalidEnvelope] | type[InvalidSignature] | None = None
    try:
        result = impl.open(request)
    except InvalidSignature:
        failure = InvalidSignature
    except Exception:
        # Anything else, a codec bug or a parser error on hostile input included, is the one
        # opaque error.
        failure = InvalidEnvelope
    if failure is not None:
        # Raised afresh outside the except block: no __context__ and no codec frames, whose
        # locals hold decrypted plaintext and content keys, travel with the exception.
        raise failure()
    if len(result.plaintext) > limits.max_plaintext:
        del result
        raise InvalidEnvelope
    return result


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
            ``limits.max_trials`` keys, primary first. Expired identity keys still decrypt
            (disable them to stop); see docs/security.md.
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
        TypeError: wrong argument types (a programming error, not bad input).
    """
    return open_detailed(
        envelope,
        identities=identities,
        senders=senders,
        codec=codec,
        allow_unsigned=allow_unsigned,
        limits=limits,
        registry=registry,
        now=now,
    ).plaintext


def _now(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise TypeError("now must be a timezone-aware datetime")
    return now


def _identity_candidates(keys: KeySet) -> tuple[Key, ...]:
    return tuple(k for k in keys.enabled() if k.has_secret)


def _sender_candidates(keys: KeySet | None, when: datetime) -> tuple[Key, ...]:
    if keys is None:
        return ()
    return tuple(k for k in keys.enabled() if k.is_valid_at(when))
