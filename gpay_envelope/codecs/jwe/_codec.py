"""JWE codec: compact JWE (RFC 7516) with an optional nested compact JWS (RFC 7515).

Profiles (``seal``):

- ``signed`` (default; Google's current "JWE encryption with JWS signing" text): a JWS
  (RS256 by default; PS256 or ES256 when the signing key is bound to them) nested in a compact
  JWE with RSA-OAEP-256 + A256GCM, ``cty: "JWT"``.
- ``legacy`` / ``legacy-a128`` (Google's older JWE text): RSA1_5 key management, A256CBC-HS512
  / A128CBC-HS256, ``zip: "DEF"``; nested JWS when a signer is given, unsigned only when the
  caller opts in.

``open`` accepts the allow-listed algorithms of both families, and each key only with the
algorithms it is bound to. What the codec adds to joserfc lives in `_joserfc` (RSA1_5 with
random CEK substitution, strict DEFLATE, capped registries); RSA-OAEP(-256) with AES-GCM and
the RSASSA signatures are done with `cryptography` directly (`_direct`), behind the same header
rules, caps and key routing as every other algorithm; this module adds a start-up check
that the OpenSSL in use does implicit rejection (without it RSA1_5 is refused on open: timing
would still differ), and the opaque error. Which keys are tried, in which order and how many,
is `gpay_envelope._rotation`'s decision.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwe, jws
from joserfc.errors import JoseError

from ... import _rotation
from ..._b64 import Segment, decode_segment, split_compact
from ..._keys import Key
from ...errors import (
    InvalidEnvelope,
    InvalidSignature,
    KeyUnavailable,
    SealError,
    UnsupportedCodec,
)
from .._protocol import OpenRequest, OpenResult, SealRequest, open_result
from . import _direct
from . import _joserfc as jx
from ._algs import (
    JWE_HEADERS,
    JWS_HEADERS,
    JWS_OPEN_ALGS,
    OPEN_ALGS,
    OPEN_ENCS,
    PROFILES,
    SIGN_PREFERENCE,
)
from ._keyio import JWKMaterial

__all__ = ["JWECodec", "implicit_rejection_ok"]

log = logging.getLogger("gpay_envelope")

# -- RSA1_5 --------------------------------------------------------------------------------

def probe_decrypt(key: rsa.RSAPrivateKey, ciphertext: bytes) -> bytes:
    return key.decrypt(ciphertext, padding.PKCS1v15())


@functools.cache
def implicit_rejection_ok() -> bool:
    """Whether the RSA backend answers a bad PKCS#1 v1.5 padding with a synthetic message
    (implicit rejection, OpenSSL >= 3.2) instead of an error.

    Checked once per process, by behaviour rather than by version number, so a provider that
    skips implicit rejection (an HSM, a distribution build) is caught too.
    """
    # A throwaway key that only probes the backend; its size does not matter, its speed does.
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    n = key.public_key().public_numbers().n
    size = (n.bit_length() + 7) // 8
    bad = b"\x00\x03" + b"\xff" * (size - 2)  # block type 3: never valid PKCS#1 v1.5
    ciphertext = pow(int.from_bytes(bad, "big"), 65537, n).to_bytes(size, "big")
    try:
        probe_decrypt(key, ciphertext)
    except ValueError:
        return False
    return True


class JWECodec:
    """Compact JWE with nested JWS. See the module docstring for profiles and safety rules."""

    name = "jwe"
    profiles = tuple(PROFILES)
    fan_out = False

    def __init__(self) -> None:
        self.rsa1_5_decrypt = implicit_rejection_ok()
        if not self.rsa1_5_decrypt:
            log.warning(
                "the RSA backend does not do implicit rejection for PKCS#1 v1.5: "
                "RSA1_5 envelopes will not be opened (upgrade to cryptography>=50 wheels)"
            )

    # -- seal ------------------------------------------------------------------------------
    def seal(self, request: SealRequest) -> bytes:
        """Seal to the recipients' primary, signed by the signer's primary."""
        profile = PROFILES.get(request.profile or "signed")
        if profile is None:
            raise UnsupportedCodec(
                f"unknown JWE profile {request.profile!r}; known: {sorted(PROFILES)}"
            )
        if profile.needs_signer and not request.signers:
            raise SealError(f"the {profile.name!r} profile needs a signer")
        regs = jx.registries(request.limits.max_plaintext, request.limits.max_envelope)
        rk = request.recipients[0]
        if profile.alg not in rk.algorithms:
            raise SealError(
                f"the recipients' primary {rk.kid!r} is not bound to {profile.alg} "
                f"(bound to {sorted(rk.algorithms)})"
            )
        header: dict[str, Any] = {"alg": profile.alg, "enc": profile.enc, "kid": rk.kid}
        payload = request.plaintext
        if request.signers:
            payload = _sign(request.signers[0], payload, regs.jws)
            header["cty"] = "JWT"
        if profile.zip:
            header["zip"] = "DEF"
        material = _material(rk)
        public = material.rsa_public
        direct = profile.alg in _direct.OAEP and profile.enc in _direct.GCM_KEY_BYTES
        if direct and public is not None:
            if profile.zip:
                payload = regs.jwe.get_zip("DEF").compress(payload)
            try:
                return _direct.encrypt_gcm(public, header, payload)
            except ValueError as exc:
                raise SealError(f"JWE encryption failed: {exc}") from None
        try:
            token = jwe.encrypt_compact(header, payload, material.jose, registry=regs.jwe)
        except JoseError as exc:
            raise SealError(f"JWE encryption failed: {exc.error}") from None
        return token.encode("ascii")

    # -- open ------------------------------------------------------------------------------
    def open(self, request: OpenRequest) -> OpenResult:
        """Decrypt (kid routing, bounded trial), then verify the nested JWS."""
        regs = jx.registries(request.limits.max_plaintext, request.limits.max_envelope)
        envelope = request.envelope.strip()
        # One pass checks the alphabet and counts the dots before anything is split, so 8 MiB
        # of "a." cannot become millions of tiny objects.
        segments = split_compact(envelope, 5)
        if segments is None or not jx.check_compact_caps(envelope, segments, regs.jwe):
            raise InvalidEnvelope from None
        # Within the header cap here, so the copy for the cache key is small.
        head = _jwe_header(bytes(segments[0]), self.rsa1_5_decrypt)
        if head is None:
            raise InvalidEnvelope from None
        _, alg, _, kid, declared_jws, direct, algs = head
        # An envelope that may be unsigned inflates no further than the plaintext cap.
        jwe_reg = regs.jwe if declared_jws or not request.allow_unsigned else regs.jwe_plain
        candidates = _identity_candidates(request.identities, alg, kid)
        decrypt = _decrypt_gcm if direct else _decrypt
        opened = decrypt(head, segments, candidates, request, jwe_reg)
        if opened is None:
            raise InvalidEnvelope from None
        opened_with, inner = opened
        request.trace.decrypted_with = opened_with.kid
        if not (declared_jws or _looks_like_jws(inner, regs.jws)):
            if not request.allow_unsigned:
                raise InvalidSignature from None
            return open_result(inner, self.name, opened_with.kid, (), algs)
        payload, signer, sig_alg = _verify_jws(inner, request, regs.jws)
        return open_result(payload, self.name, opened_with.kid, (signer,), (*algs, sig_alg))


# A sender's headers repeat exactly from one message to the next (the same kid and
# algorithms), so each distinct header segment is parsed and checked once. The caches hold at
# most this many segments, each within its header cap (1 KiB for a JWE, 512 bytes for a
# JWS), and the headers they return are read-only.
_HEADER_CACHE = 64


def _json_object(segment: bytes) -> dict[str, Any] | None:
    """The JSON object a header segment holds, or None. RFC 7515/7516 section 4: the header
    is UTF-8; decoding it first spares json its guess at the encoding."""
    try:
        value = json.loads(decode_segment(segment).decode("utf-8"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _JWEHead(NamedTuple):
    """A JWE protected header that `open` takes, and what `open` reads from it."""

    header: Mapping[str, Any]  # read-only
    alg: str
    enc: str
    kid: str | None
    declared_jws: bool  # ``cty: JWT``: a nested JWS, not a guess at one
    direct: bool  # RSA-OAEP(-256) with AES-GCM: done with `cryptography` directly
    algorithms: tuple[str, ...]  # for `OpenResult.algorithms`


class _JWSHead(NamedTuple):
    """A JWS protected header, and whether `_verify_jws` may take it."""

    header: Mapping[str, Any]  # read-only
    allowed: bool  # every member allowed and a string, an algorithm `open` takes
    alg: Any  # a str when ``allowed``
    kid: Any  # a str or None when ``allowed``


@functools.lru_cache(maxsize=_HEADER_CACHE)
def _jwe_header(segment: bytes, rsa1_5: bool) -> _JWEHead | None:
    """The protected header a JWE header segment holds, when every member is allowed and a
    string and the algorithms are ones `open` takes (RSA1_5 only when ``rsa1_5``); otherwise
    None."""
    header = _json_object(segment)
    if (
        header is None
        or "alg" not in header
        or "enc" not in header
        or not set(header) <= JWE_HEADERS
        or not jx.check_string_members(header)
    ):
        return None
    alg = header["alg"]
    if (
        alg not in OPEN_ALGS
        or header["enc"] not in OPEN_ENCS
        or header.get("zip", "DEF") != "DEF"
        or (alg == "RSA1_5" and not rsa1_5)
    ):
        return None
    enc = header["enc"]
    return _JWEHead(
        header=MappingProxyType(header),
        alg=alg,
        enc=enc,
        kid=header.get("kid"),
        declared_jws=header.get("cty", "").upper() == "JWT",
        direct=alg in _direct.OAEP and enc in _direct.GCM_KEY_BYTES,
        algorithms=(alg, enc, *(("DEF",) if "zip" in header else ())),
    )


@functools.lru_cache(maxsize=_HEADER_CACHE)
def _jws_header(segment: bytes) -> _JWSHead | None:
    """The JSON object a JWS header segment holds, read-only, and whether `_verify_jws` may
    take it; None when the segment holds no JSON object."""
    header = _json_object(segment)
    if header is None:
        return None
    allowed = (
        set(header) <= JWS_HEADERS
        and jx.check_string_members(header)
        and header.get("alg") in JWS_OPEN_ALGS
    )
    return _JWSHead(MappingProxyType(header), allowed, header.get("alg"), header.get("kid"))


# The candidate keys of one key set for one header are the same on every message (keys and
# the tuples `_rotation` makes of a set are immutable, and compare by identity), so they are
# worked out once. Few entries: a server has one identity set and one sender set at a time,
# and one more for a moment after a reload.
_CANDIDATE_CACHE = 16


@functools.lru_cache(maxsize=_CANDIDATE_CACHE)
def _identity_candidates(keys: tuple[Key, ...], alg: str, kid: str | None) -> tuple[Key, ...]:
    """The identity keys that may unwrap ``alg``, primary first. An envelope that names a kid
    is tried with that key only (`_rotation.attempts`), so only it is kept."""
    return tuple(
        k
        for k in keys
        if (kid is None or k.kid == kid)
        and k.can("enc")
        and alg in k.algorithms
        and k.kty == "RSA"
    )


@functools.lru_cache(maxsize=_CANDIDATE_CACHE)
def _sender_candidates(keys: tuple[Key, ...], alg: str) -> tuple[Key, ...]:
    """The sender keys whose signatures by ``alg`` count, in set order."""
    return tuple(k for k in keys if k.can("sig") and alg in k.algorithms)


def _decrypt_gcm(
    head: _JWEHead,
    segments: list[Segment],
    candidates: tuple[Key, ...],
    request: OpenRequest,
    registry: jx.OpenJWERegistry,
) -> tuple[Key, bytes] | None:
    """RSA-OAEP(-256) with AES-GCM, done with `cryptography` directly (`_direct`): each
    segment decoded once, the keys `_rotation.attempts` picks tried in turn. The key that
    decrypted and the content, or None. Content that decrypts but does not inflate ends the
    trial."""
    protected, ek, iv, ciphertext, tag = segments
    try:
        encrypted_key, nonce, mac = decode_segment(ek), decode_segment(iv), decode_segment(tag)
        body = decode_segment(ciphertext)
    except ValueError:
        raise InvalidEnvelope from None
    # The additional authenticated data is the header segment as it came.
    aad = bytes(protected)
    alg, enc = head.alg, head.enc
    for _, key in _rotation.attempts(
        (head.kid,), candidates, names=_names_kid, budget=request.trials
    ):
        ops = _material(key).rsa_private
        if ops is None:
            continue
        try:
            content = _direct.decrypt_gcm(ops, alg, enc, encrypted_key, nonce, body, mac, aad)
        except KeyUnavailable:
            raise  # the token is gone: not a verdict on the envelope
        except Exception:  # noqa: S112 - a wrong key; every failure looks the same
            continue
        # The decoded ciphertext is not needed any more: free it before anything is inflated.
        del body
        if "zip" in head.header:
            try:
                content = registry.get_zip("DEF").decompress(content)
            except jx.AfterAuth:
                raise InvalidEnvelope from None
        return key, content
    return None


def _decrypt(
    head: _JWEHead,
    segments: list[Segment],
    candidates: tuple[Key, ...],
    request: OpenRequest,
    registry: jx.OpenJWERegistry,
) -> tuple[Key, bytes] | None:
    """Every other algorithm pair, through joserfc's models: the keys `_rotation.attempts`
    picks tried in turn. The key that decrypted and the content, or None. Content that
    decrypts but cannot be used ends the trial."""
    try:
        obj = jx.compact_encryption(head.header, segments)
    except ValueError:
        raise InvalidEnvelope from None
    recipient = obj.recipient
    assert recipient is not None
    try:
        for _, key in _rotation.attempts(
            (head.kid,), candidates, names=_names_kid, budget=request.trials
        ):
            recipient.recipient_key = _jose(key)
            try:
                jx.perform_decrypt(obj, registry)
            except jx.AfterAuth:
                raise InvalidEnvelope from None
            except KeyUnavailable:
                raise  # the token is gone: not a verdict on the envelope
            except Exception:  # noqa: S112 - a wrong key; every failure looks the same
                continue
            if obj.plaintext is None:
                return None
            return key, obj.plaintext
        return None
    finally:
        recipient.recipient_key = None
        # The decoded ciphertext is not needed any more: free it before the JWS is decoded.
        obj.bytes_segments.clear()


def _names_kid(kid: str, key: Key) -> bool:
    return key.kid == kid


def _sign(key: Key, payload: bytes, registry: jx.OpenJWSRegistry) -> bytes:
    """The compact JWS of ``payload`` by ``key``, with the first algorithm it is bound to."""
    alg = next((a for a in SIGN_PREFERENCE if a in key.algorithms), None)
    if alg is None:
        raise SealError(f"the signer's primary {key.kid!r} is bound to no JWS algorithm")
    header = {"alg": alg, "kid": key.kid}
    material = _material(key)
    if alg in _direct.RSA_SIGNATURES and material.rsa_private is not None:
        return _direct.sign_compact(material.rsa_private, header, payload)
    return jws.serialize_compact(header, payload, material.jose, registry=registry).encode("ascii")


def _jws_parts(
    value: bytes, registry: jx.OpenJWSRegistry
) -> tuple[list[Segment], _JWSHead] | None:
    """The three segments of a compact JWS and its protected header (`_jws_header`), or None;
    the header is size-capped before it is parsed."""
    segments = split_compact(value, 3)
    if segments is None or len(segments[0]) > registry.max_header_length:
        return None
    parsed = _jws_header(bytes(segments[0]))
    return None if parsed is None else (segments, parsed)


def _looks_like_jws(value: bytes, registry: jx.OpenJWSRegistry) -> bool:
    """A peer may nest a JWS without ``cty``: three base64url segments (header and signature
    not empty) whose first decodes to a JSON object with an ``alg``. Plain JSON or text like
    ``1.2.3`` is not one."""
    parts = _jws_parts(value, registry)
    return parts is not None and len(parts[0][2]) > 0 and "alg" in parts[1].header


def _material(key: Key) -> JWKMaterial:
    material = key.material
    if not isinstance(material, JWKMaterial):
        raise SealError(f"key {key.kid!r} is not a JWE-codec key")
    return material


def _jose(key: Key) -> Any:
    return _material(key).jose


def _signature_ok(
    alg: str, model: Any, key: Key, signing_input: memoryview, signature: bytes
) -> bool:
    """Whether ``signature`` is ``key``'s signature ``alg`` over ``signing_input``. The key's
    binding (`Key.algorithms`) was checked by the caller; the RSASSA family is checked with
    `cryptography` directly (``model`` is None), the rest by joserfc's ``model``."""
    if model is None:
        public = _material(key).rsa_public
        return public is not None and _direct.verify_rsa(public, alg, signing_input, signature)
    return jx.verify_signature(model, signing_input, signature, _jose(key))


def _verify_jws(
    value: bytes, request: OpenRequest, registry: jx.OpenJWSRegistry
) -> tuple[bytes, str, str]:
    """Verify a compact JWS by a sender key; return (payload, sender kid, alg).

    Everything here runs after authenticated decryption, so every failure is
    `InvalidSignature`: the content is intact, but nobody we trust signed it. The signature
    is checked over a view of ``value`` and the payload decoded only once it verified.
    """
    parts = _jws_parts(value, registry)
    if parts is None:
        raise InvalidSignature from None
    (header, payload, signature), (_, allowed, alg, kid) = parts
    # The caps joserfc's parser and validator apply.
    if not allowed or not jx.jws_within_caps(value, payload, signature, registry):
        raise InvalidSignature from None
    try:
        sig = decode_segment(signature)
    except ValueError:
        raise InvalidSignature from None
    signing_input = memoryview(value)[: len(header) + 1 + len(payload)]
    candidates = _sender_candidates(request.senders, alg)
    budget = _rotation.TrialBudget(request.limits.max_trials)
    if alg in _direct.RSA_SIGNATURES:
        model = None  # `allowed` took only the registry's algorithms
    else:
        try:
            model = registry.get_alg(alg)
        except JoseError:
            raise InvalidSignature from None
    for _, key in _rotation.attempts((kid,), candidates, names=_names_kid, budget=budget):
        try:
            ok = _signature_ok(alg, model, key, signing_input, sig)
        except Exception:  # noqa: S112 - a key of the wrong type; try the next one
            continue
        if ok:
            try:
                return decode_segment(payload), key.kid, alg
            except ValueError:
                raise InvalidSignature from None
    raise InvalidSignature from None
