"""Everything the JWE codec takes from joserfc beyond its public API, in one place.

joserfc gives compact JWE/JWS parsing, the content ciphers and the RSA-OAEP models; what the
codec needs on top of it subclasses joserfc's models and registries, which live in its
private modules (the pin ``joserfc<1.9`` in pyproject.toml is for this file):

- RSA1_5 with RFC 3218 random CEK substitution on every failure, so no padding or length
  oracle on any backend.
- A strict raw-DEFLATE model: the cap is enforced while inflating, truncated or trailing data
  and zlib-wrapped streams are refused, nothing is silently cut.
- Per-instance registries with size caps that fit real payloads, and no ``warnings`` calls.

Private-key operations reach the key's `RSAPrivateOps` through joserfc's ``get_op_key``,
so they go through the one interface both codecs use. RSA-OAEP(-256) with AES-GCM and the
RSASSA signatures never come here: the codec does them with `cryptography` directly
(`_direct`), on the same `RSAPrivateOps` (``JWKMaterial.rsa_private``).
"""

from __future__ import annotations

import functools
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import padding
from joserfc._rfc7515.model import JWSAlgModel
from joserfc._rfc7516.message import perform_decrypt as _joserfc_decrypt
from joserfc._rfc7516.models import CompactEncryption, JWEAlgModel, JWEZipModel, Recipient
from joserfc._rfc7518.jwe_algs import RSAAlgKeyEncryption
from joserfc.jwe import JWERegistry
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from ..._b64 import Segment, decode_segment
from ._algs import CEK_BYTES, JWS_OPEN_ALGS, OPEN_ALGS, OPEN_ENCS

__all__ = [
    "AfterAuth",
    "CompactEncryption",
    "OpenJWERegistry",
    "OpenJWSRegistry",
    "Registries",
    "StrictDeflate",
    "check_compact_caps",
    "check_string_members",
    "compact_encryption",
    "jws_within_caps",
    "perform_decrypt",
    "registries",
    "verify_signature",
]

# Room for a JWS around the payload: base64url (4/3), header and an RSA-4096 signature.
JWS_OVERHEAD = 4096


class AfterAuth(Exception):
    """The content decrypted and authenticated, but what came out is unusable: stop trying."""


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
        size = CEK_BYTES[recipient.headers()["enc"]]
        fallback = secrets.token_bytes(size)
        try:
            cek = key.get_op_key("decrypt").decrypt(recipient.encrypted_key, self.padding)
        except ValueError:
            cek = fallback
        return cek if len(cek) == size else fallback




def check_compact_caps(
    value: bytes, segments: Sequence[Segment], registry: OpenJWERegistry
) -> bool:
    """Whether a compact JWE whose five ``segments`` `split_compact` found in ``value`` is
    within the size caps joserfc's own parser checks (they read only lengths)."""
    header, ek, iv, ciphertext, tag = segments
    total, header_max, ek_max, iv_max, ciphertext_max, tag_max = registry.compact_caps
    return (
        len(value) <= total
        and len(header) <= header_max
        and len(ek) <= ek_max
        and len(iv) <= iv_max
        and len(ciphertext) <= ciphertext_max
        and len(tag) <= tag_max
    )


def compact_encryption(
    protected: Mapping[str, object], segments: Sequence[Segment]
) -> CompactEncryption:
    """joserfc's object for a compact JWE with this protected header and ``segments``,
    each segment decoded once (joserfc's parser splits the value again and copies every
    segment before decoding it). Raises ValueError for a segment that is not base64url."""
    header, ek, iv, ciphertext, tag = segments
    obj = CompactEncryption(dict(protected))
    # The additional authenticated data is the header segment as it came.
    obj.base64_segments["aad"] = bytes(header)
    obj.bytes_segments.update(
        iv=decode_segment(iv), ciphertext=decode_segment(ciphertext), tag=decode_segment(tag)
    )
    recipient: Recipient[RSAKey] = Recipient(obj)
    recipient.encrypted_key = decode_segment(ek)
    obj.recipient = recipient
    return obj


def perform_decrypt(obj: CompactEncryption, registry: OpenJWERegistry) -> None:
    """One decryption of ``obj`` with its recipient's key by joserfc's models; sets
    ``obj.plaintext``. For the algorithm pairs the codec does not do directly (`_direct`).

    Raises `AfterAuth` when the content authenticated but does not inflate, and any other
    exception when the key does not decrypt.
    """
    _joserfc_decrypt(obj, registry)


def jws_within_caps(
    value: bytes, payload: Segment, signature: Segment, registry: OpenJWSRegistry
) -> bool:
    """Whether a JWS whose segments `split_compact` found passes the size caps joserfc's
    compact JWS parser and validator apply. joserfc's header rules (members that must be
    strings, no ``crit``, nothing outside its registry) are met by the codec's stricter
    allow-list (`check_string_members`)."""
    total, payload_max, signature_max = registry.compact_caps
    return (
        len(value) <= total and len(signature) <= signature_max and len(payload) <= payload_max
    )


def check_string_members(header: Mapping[str, object]) -> bool:
    """Whether every member of ``header`` is a string: what joserfc's header registries require
    of each member the codec allows in a JWE (alg, enc, zip, kid, cty, typ) or a JWS (alg,
    kid, typ, cty). Call it after the header's members were allow-listed."""
    return all(isinstance(value, str) for value in header.values())


def verify_signature(
    model: JWSAlgModel, signing_input: Segment, signature: bytes, key: RSAKey | ECKey
) -> bool:
    """One signature check by joserfc's algorithm model, after its key check (type, use,
    algorithm), for the algorithms the codec does not check directly (`_direct.verify_rsa`
    does the RSASSA family)."""
    model.check_key(key)
    return model.verify(bytes(signing_input), signature, key)


class StrictDeflate(JWEZipModel):
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
            raise AfterAuth from None
        # Over the cap, truncated, or followed by other bytes: refuse, never cut.
        if d.unconsumed_tail or not d.eof or d.unused_data:
            raise AfterAuth
        return out


_RSA15_MODEL = _RSA15()


class OpenJWERegistry(JWERegistry):
    """Allow-list, caps and models per instance; joserfc's class-level tables stay untouched."""

    max_encrypted_key_length = 2048

    def __init__(self, *, max_ciphertext: int, inflate_cap: int) -> None:
        super().__init__(algorithms=[*OPEN_ALGS, *OPEN_ENCS, "DEF"], strict_check_header=True)
        self.max_ciphertext_length = max_ciphertext
        self._zip = StrictDeflate(inflate_cap)
        # joserfc's caps on each segment of a compact JWE, and their sum on the whole, read
        # on every open (`check_compact_caps`); the caps do not change after this.
        caps = (
            self.max_protected_header_length,
            self.max_encrypted_key_length,
            self.max_initialization_vector_length,
            self.max_ciphertext_length,
            self.max_auth_tag_length,
        )
        self.compact_caps = (sum(caps), *caps)

    def get_alg(self, name: str) -> JWEAlgModel:
        self._check_algorithm(name, self.algorithms["alg"])
        return _RSA15_MODEL if name == "RSA1_5" else self.algorithms["alg"][name]

    def get_zip(self, name: str) -> JWEZipModel:
        self._check_algorithm(name, self.algorithms["zip"])
        return self._zip


class OpenJWSRegistry(JWSRegistry):
    def __init__(self, *, max_payload: int) -> None:
        super().__init__(algorithms=list(JWS_OPEN_ALGS), strict_check_header=True)
        self.max_payload_length = max_payload
        self.max_signature_length = 2048
        # joserfc's caps on the whole compact JWS, its payload and its signature.
        self.compact_caps = (
            self.max_header_length + self.max_payload_length + self.max_signature_length,
            self.max_payload_length,
            self.max_signature_length,
        )


@dataclass(frozen=True)
class Registries:
    """Registries for one set of limits. Stateless after construction, so shared by threads."""

    jwe: OpenJWERegistry  # inflates up to a signed payload: the JWS around max_plaintext
    jwe_plain: OpenJWERegistry  # inflates up to max_plaintext, for envelopes that may be unsigned
    jws: OpenJWSRegistry


@functools.lru_cache(maxsize=16)
def registries(max_plaintext: int, max_envelope: int) -> Registries:
    jws_max = -(-max_plaintext * 4 // 3) + JWS_OVERHEAD
    return Registries(
        jwe=OpenJWERegistry(max_ciphertext=max_envelope, inflate_cap=jws_max),
        jwe_plain=OpenJWERegistry(max_ciphertext=max_envelope, inflate_cap=max_plaintext),
        jws=OpenJWSRegistry(max_payload=jws_max),
    )
