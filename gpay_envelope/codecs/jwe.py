"""JWE codec: compact JWE (RFC 7516) with an optional nested compact JWS (RFC 7515), on joserfc.

Profiles (``seal``):

- ``signed`` (default; Google's current "JWE encryption with JWS signing" text): a JWS
  (RS256 by default; PS256 or ES256 when the signing key is bound to them) nested in a compact
  JWE with RSA-OAEP-256 + A256GCM, ``cty: "JWT"``.
- ``legacy`` / ``legacy-a128`` (Google's older JWE text): RSA1_5 key management, A256CBC-HS512
  / A128CBC-HS256, ``zip: "DEF"``; nested JWS when a signer is given, unsigned only when the
  caller opts in.

``open`` accepts the allow-listed algorithms of both families, and each key only with the
algorithms it is bound to. What this module adds to joserfc (see research/jwe-backends.md):

- RSA1_5 with RFC 3218 random CEK substitution on every failure, so no padding or length
  oracle on any backend, plus a start-up check that the OpenSSL in use does implicit
  rejection; without it RSA1_5 is refused on open (timing would still differ).
- A strict raw-DEFLATE model: the cap is enforced while inflating, truncated or trailing data
  and zlib-wrapped streams are refused, nothing is silently cut.
- Per-instance registries with size caps that fit real payloads, and no ``warnings`` calls.
- ``kid`` routing with a bounded trial when there is no ``kid``, and one opaque error.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
import zlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jwe, jws
from joserfc._rfc7516.compact import extract_compact as _extract_jwe
from joserfc._rfc7516.message import perform_decrypt as _perform_decrypt
from joserfc._rfc7516.models import JWEAlgModel, JWEZipModel, Recipient
from joserfc._rfc7518.jwe_algs import RSAAlgKeyEncryption
from joserfc.errors import JoseError
from joserfc.jwe import JWERegistry
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from .._b64 import b64url_decode
from .._keyio import JWKMaterial
from .._keys import Key, route
from ..errors import InvalidEnvelope, InvalidSignature, SealError, UnsupportedCodec
from . import OpenRequest, OpenResult, SealRequest

__all__ = ["JWECodec", "Profile", "implicit_rejection_ok"]

log = logging.getLogger("gpay_envelope")


@dataclass(frozen=True)
class Profile:
    """A named set of algorithms for sealing."""

    name: str
    alg: str
    enc: str
    zip: bool
    needs_signer: bool


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("signed", "RSA-OAEP-256", "A256GCM", zip=False, needs_signer=True),
        Profile("legacy", "RSA1_5", "A256CBC-HS512", zip=True, needs_signer=False),
        Profile("legacy-a128", "RSA1_5", "A128CBC-HS256", zip=True, needs_signer=False),
    )
}

#: What open accepts at all; each key narrows it further to the algorithms it is bound to.
OPEN_ALGS = frozenset({"RSA-OAEP-256", "RSA-OAEP", "RSA1_5"})
OPEN_ENCS = frozenset(
    {"A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"}
)
JWE_HEADERS = frozenset({"alg", "enc", "zip", "kid", "cty", "typ"})
JWS_OPEN_ALGS = ("RS256", "PS256", "ES256", "RS384", "RS512", "PS384", "PS512")
JWS_HEADERS = frozenset({"alg", "kid", "typ", "cty"})
#: Signature algorithm preference when a signing key is bound to several.
_SIGN_PREFERENCE = ("RS256", "PS256", "ES256", "RS384", "PS384", "RS512", "PS512")

_JWS_SHAPE = re.compile(rb"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+")
# Room for a JWS around the payload: base64url (4/3), header and an RSA-4096 signature.
_JWS_OVERHEAD = 4096


class _AfterAuth(Exception):
    """The content decrypted and authenticated, but what came out is unusable: stop trying."""


# -- RSA1_5 --------------------------------------------------------------------------------
def _probe_decrypt(key: rsa.RSAPrivateKey, ciphertext: bytes) -> bytes:
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
        _probe_decrypt(key, ciphertext)
    except ValueError:
        return False
    return True


class _RSA15(RSAAlgKeyEncryption):
    """RSA1_5 that never lets a decryption failure show: RFC 3218 section 2.3.2.

    A random CEK of the right size is drawn before the RSA operation and used whenever the
    backend raises or returns a CEK of the wrong length; the content's authentication tag
    then fails exactly as it does for a wrong key.
    """

    def __init__(self) -> None:
        super().__init__("RSA1_5", "RSAES-PKCS1-v1_5", padding.PKCS1v15())
        self.security_warning = None

    def decrypt_cek(self, recipient: Recipient[RSAKey]) -> bytes:
        key = recipient.recipient_key
        assert key is not None and recipient.encrypted_key is not None
        self.check_key_type(key)
        size = _CEK_BYTES[recipient.headers()["enc"]]
        fallback = secrets.token_bytes(size)
        try:
            cek = key.get_op_key("decrypt").decrypt(recipient.encrypted_key, self.padding)
        except ValueError:
            cek = fallback
        return cek if len(cek) == size else fallback


_CEK_BYTES = {
    "A128CBC-HS256": 32,
    "A192CBC-HS384": 48,
    "A256CBC-HS512": 64,
    "A128GCM": 16,
    "A192GCM": 24,
    "A256GCM": 32,
}


# -- DEFLATE -------------------------------------------------------------------------------
class _StrictDeflate(JWEZipModel):
    """Raw DEFLATE (RFC 1951) only, with the output cap enforced while inflating."""

    name = "DEF"
    description = "DEFLATE, strict"

    def __init__(self, cap: int) -> None:
        self.cap = cap

    def compress(self, s: bytes) -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return c.compress(s) + c.flush()

    def decompress(self, s: bytes) -> bytes:
        d = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = d.decompress(s, self.cap)
        except zlib.error:
            raise _AfterAuth from None
        # Over the cap, truncated, or followed by other bytes: refuse, never cut.
        if d.unconsumed_tail or not d.eof or d.unused_data:
            raise _AfterAuth
        return out


# -- registries ----------------------------------------------------------------------------
_RSA15_MODEL = _RSA15()


class _JWERegistry(JWERegistry):
    """Allow-list, caps and models per instance; joserfc's class-level tables stay untouched."""

    max_encrypted_key_length = 2048

    def __init__(self, *, max_ciphertext: int, inflate_cap: int) -> None:
        super().__init__(algorithms=[*OPEN_ALGS, *OPEN_ENCS, "DEF"], strict_check_header=True)
        self.max_ciphertext_length = max_ciphertext
        self._zip = _StrictDeflate(inflate_cap)

    def get_alg(self, name: str) -> JWEAlgModel:
        self._check_algorithm(name, self.algorithms["alg"])
        return _RSA15_MODEL if name == "RSA1_5" else self.algorithms["alg"][name]

    def get_zip(self, name: str) -> JWEZipModel:
        self._check_algorithm(name, self.algorithms["zip"])
        return self._zip


class _JWSRegistry(JWSRegistry):
    def __init__(self, *, max_payload: int) -> None:
        super().__init__(algorithms=list(JWS_OPEN_ALGS), strict_check_header=True)
        self.max_payload_length = max_payload
        self.max_signature_length = 2048


@dataclass(frozen=True)
class _Registries:
    """Registries for one set of limits. Stateless after construction, so shared by threads."""

    jwe: _JWERegistry  # inflates up to a signed payload: the JWS around max_plaintext
    jwe_plain: _JWERegistry  # inflates up to max_plaintext, for envelopes that may be unsigned
    jws: _JWSRegistry


@functools.lru_cache(maxsize=16)
def _registries(max_plaintext: int, max_envelope: int) -> _Registries:
    jws_max = -(-max_plaintext * 4 // 3) + _JWS_OVERHEAD
    return _Registries(
        jwe=_JWERegistry(max_ciphertext=max_envelope, inflate_cap=jws_max),
        jwe_plain=_JWERegistry(max_ciphertext=max_envelope, inflate_cap=max_plaintext),
        jws=_JWSRegistry(max_payload=jws_max),
    )


# -- the codec -----------------------------------------------------------------------------
class JWECodec:
    """Compact JWE with nested JWS. See the module docstring for profiles and safety rules."""

    name = "jwe"
    profiles = tuple(PROFILES)

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
        if profile.needs_signer and request.signer is None:
            raise SealError(f"the {profile.name!r} profile needs a signer")
        regs = _registries(request.limits.max_plaintext, request.limits.max_envelope)
        rk = request.recipients.primary
        _check_sealing_key(rk, "recipients'", "enc", request)
        if profile.alg not in rk.algorithms:
            raise SealError(
                f"the recipients' primary {rk.kid!r} is not bound to {profile.alg} "
                f"(bound to {sorted(rk.algorithms)})"
            )
        header: dict[str, Any] = {"alg": profile.alg, "enc": profile.enc, "kid": rk.kid}
        payload = request.plaintext
        if request.signer is not None:
            sk = request.signer.primary
            _check_sealing_key(sk, "signer's", "sig", request)
            if not sk.has_secret:
                raise SealError(f"the signer's primary {sk.kid!r} has no private key")
            alg = next((a for a in _SIGN_PREFERENCE if a in sk.algorithms), None)
            if alg is None:
                raise SealError(f"the signer's primary {sk.kid!r} is bound to no JWS algorithm")
            payload = jws.serialize_compact(
                {"alg": alg, "kid": sk.kid}, payload, _jose(sk), registry=regs.jws
            ).encode("ascii")
            header["cty"] = "JWT"
        if profile.zip:
            header["zip"] = "DEF"
        try:
            token = jwe.encrypt_compact(header, payload, _jose(rk), registry=regs.jwe)
        except JoseError as exc:
            raise SealError(f"JWE encryption failed: {exc.error}") from None
        return token.encode("ascii")

    # -- open ------------------------------------------------------------------------------
    def open(self, request: OpenRequest) -> OpenResult:
        """Decrypt (kid routing, bounded trial), then verify the nested JWS."""
        limits = request.limits
        regs = _registries(limits.max_plaintext, limits.max_envelope)
        envelope = request.envelope.strip()
        # joserfc splits on every dot before counting: count first, so 8 MiB of "a." cannot
        # become millions of tiny objects.
        if envelope.count(b".") != 4:
            raise InvalidEnvelope from None
        try:
            obj = _extract_jwe(envelope, regs.jwe)
        except Exception:
            raise InvalidEnvelope from None
        header = obj.protected
        if not isinstance(header, dict):
            raise InvalidEnvelope from None
        alg, enc, kid, cty = (header.get(n) for n in ("alg", "enc", "kid", "cty"))
        declared_jws = isinstance(cty, str) and cty.upper() == "JWT"
        # An envelope that may be unsigned inflates no further than the plaintext cap.
        jwe_reg = regs.jwe if declared_jws or not request.allow_unsigned else regs.jwe_plain
        if (
            not set(header) <= JWE_HEADERS
            or not isinstance(alg, str)
            or not isinstance(enc, str)
            or alg not in OPEN_ALGS
            or enc not in OPEN_ENCS
            or header.get("zip", "DEF") != "DEF"
            or (kid is not None and not isinstance(kid, str))
            or (alg == "RSA1_5" and not self.rsa1_5_decrypt)
        ):
            raise InvalidEnvelope from None
        pool = (
            request.identities if kid is None else [k for k in request.identities if k.kid == kid]
        )
        candidates = [k for k in pool if k.can("enc") and alg in k.algorithms and k.kty == "RSA"]
        named = None if kid is None else (lambda k: k.kid == kid)
        recipient = obj.recipient
        assert recipient is not None
        opened_with: Key | None = None
        for key in route(candidates, named=named, limit=limits.max_trials):
            recipient.recipient_key = _jose(key)
            try:
                _perform_decrypt(obj, jwe_reg)
            except _AfterAuth:
                raise InvalidEnvelope from None
            except Exception:  # noqa: S112 - a wrong key; every failure looks the same
                continue
            opened_with = key
            break
        recipient.recipient_key = None
        if opened_with is None or obj.plaintext is None:
            raise InvalidEnvelope from None
        inner = obj.plaintext
        algs: tuple[str, ...] = (alg, enc, *(("DEF",) if "zip" in header else ()))
        if not (declared_jws or _looks_like_jws(inner, regs.jws)):
            if not request.allow_unsigned:
                raise InvalidSignature from None
            return OpenResult(inner, self.name, opened_with.kid, (), algs)
        payload, signer, sig_alg = _verify_jws(inner, request, regs.jws)
        return OpenResult(payload, self.name, opened_with.kid, (signer,), (*algs, sig_alg))


def _jws_header(value: bytes, registry: _JWSRegistry) -> dict[str, Any] | None:
    """The protected header of a compact JWS, or None; size-capped before it is parsed."""
    seg = value.split(b".", 1)[0]
    if len(seg) > registry.max_header_length:
        return None
    try:
        head = json.loads(b64url_decode(seg))
    except ValueError:
        return None
    return head if isinstance(head, dict) else None


def _looks_like_jws(value: bytes, registry: _JWSRegistry) -> bool:
    """A peer may nest a JWS without ``cty``: three base64url segments whose first decodes to
    a JSON object with an ``alg``. Plain JSON or text like ``1.2.3`` is not one."""
    if _JWS_SHAPE.fullmatch(value) is None:
        return False
    head = _jws_header(value, registry)
    return head is not None and "alg" in head


def _jose(key: Key) -> Any:
    material = key.material
    if not isinstance(material, JWKMaterial):
        raise SealError(f"key {key.kid!r} is not a JWE-codec key")
    return material.jose


def _check_sealing_key(key: Key, role: str, purpose: str, request: SealRequest) -> None:
    if not key.usable_at(request.now):
        raise SealError(f"the {role} primary {key.kid!r} is expired or not yet valid")
    if not key.can(purpose):
        raise SealError(f"the {role} primary {key.kid!r} has use {key.use!r}, not {purpose!r}")


def _verify_jws(
    value: bytes, request: OpenRequest, registry: _JWSRegistry
) -> tuple[bytes, str, str]:
    """Verify a compact JWS by a sender key; return (payload, sender kid, alg).

    Everything here runs after authenticated decryption, so every failure is
    `InvalidSignature`: the content is intact, but nobody we trust signed it.
    """
    head = _jws_header(value, registry)
    if head is None or value.count(b".") != 2:
        raise InvalidSignature from None
    try:
        obj = jws.extract_compact(value, registry=registry)
    except Exception:
        raise InvalidSignature from None
    alg, kid = head.get("alg"), head.get("kid")
    if (
        not isinstance(alg, str)
        or not set(head) <= JWS_HEADERS
        or alg not in JWS_OPEN_ALGS
        or (kid is not None and not isinstance(kid, str))
    ):
        raise InvalidSignature from None
    candidates = [k for k in request.senders if k.can("sig") and alg in k.algorithms]
    named = None if kid is None else (lambda k: k.kid == kid)
    for key in route(candidates, named=named, limit=request.limits.max_trials):
        try:
            ok = jws.validate_compact(obj, _jose(key), registry=registry)
        except Exception:  # noqa: S112 - a key of the wrong type; try the next one
            continue
        if ok:
            return obj.payload, key.kid, alg
    raise InvalidSignature from None
