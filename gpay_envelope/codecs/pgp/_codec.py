"""OpenPGP codec: Google's PGP rules (docs/pgp.md) on a strict RFC 4880 subset.

Profiles (``seal``):

- ``default``: sign with SHA384 (every ENABLED, unexpired signer key, primary first, one-pass
  signatures), encrypt with AES256 in SEIPD v1 (integrity-protected) to every usable
  encryption subkey of every ENABLED, unexpired recipient key, literal data uncompressed;
  output: padded web-safe base64 of the binary packets.
- ``zip``: the same with the literal data ZIP-compressed, byte for byte the shape Google's
  BouncyCastle sample sends.

``open`` accepts padded or unpadded web-safe base64, raw binary and ASCII armor; routes by the
key ids in the message; requires SEIPD with a valid MDC; inflates ZIP, ZLIB and BZip2 under a
cap; accepts AES only and SHA256/384/512 signatures; and succeeds when at least one signature
is valid and made by a signing-capable (sub)key of an ENABLED, unexpired sender key.

Keys are parsed by our own code (`_keys`, which checks every binding), secret material is
read by pgpy (`_pgpy`), and messages never touch pgpy: see docs/pgp.md for why and
for the policy decisions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import padding

from ... import _rotation
from ..._b64 import b64url_decode, b64url_encode
from ..._keyops import RSAPrivateOps
from ..._keys import Key
from ...errors import InvalidEnvelope, InvalidSignature, SealError, UnsupportedCodec
from .._protocol import OpenRequest, OpenResult, SealRequest
from . import wire as op
from ._keys import CLOCK_SKEW, KeyPart
from ._load import material_of
from ._material import PGPMaterial

__all__ = ["PROFILES", "PGPCodec"]

#: Seal profiles: name -> compression algorithm of the literal data (None: uncompressed).
PROFILES: Final[Mapping[str, int | None]] = {"default": None, "zip": op.COMP_ZIP}
#: Signature digests accepted on open. SHA-1 and MD5 are refused (Google's rules; SHA-1 is
#: broken for signatures over attacker-influenced data); SHA-224 is not needed by any peer.
OPEN_HASHES: Final = frozenset({op.HASH_SHA256, op.HASH_SHA384, op.HASH_SHA512})
SEAL_HASH: Final = op.HASH_SHA384
SEAL_CIPHER: Final = op.SYM_AES256
#: Most PKESK packets and most signatures an envelope may carry, and most packets per layer.
MAX_RECIPIENTS: Final = 32
MAX_SIGNATURES: Final = 16
_MAX_TOP_PACKETS: Final = MAX_RECIPIENTS + 8
_MAX_INNER_PACKETS: Final = 2 * MAX_SIGNATURES + 2
#: Room for the packets around the payload inside the encryption (one-pass signatures, the
#: literal header, signatures): the decompression cap is max_plaintext plus this.
_INNER_OVERHEAD: Final = 256 << 10
_PKCS1: Final = padding.PKCS1v15()
_ARMOR_BEGIN: Final = b"-----BEGIN PGP "
_LEADING_SPACE: Final = re.compile(rb"[ \t\r\n\x0b\x0c]*")
_WILDCARD: Final = b"\x00" * 8


@dataclass(frozen=True, slots=True)
class _Inner:
    data: bytes = field(repr=False)  # decrypted plaintext
    signatures: tuple[bytes, ...]
    compression: int | None


def _rsa_decrypt(key: RSAPrivateOps, value: bytes) -> bytes | None:
    """One private-key operation on a PKESK value (monkeypatched by the tests to count them).

    With cryptography's OpenSSL (>= 3.2) a bad PKCS#1 v1.5 padding yields a synthetic random
    message instead of an error (implicit rejection); the caller treats both alike.
    """
    size = (key.key_size + 7) // 8
    if len(value) > size:
        return None
    try:
        return key.decrypt(value.rjust(size, b"\x00"), _PKCS1)
    except ValueError:
        return None


class PGPCodec:
    """OpenPGP envelopes. See the module docstring for profiles and docs/pgp.md for policy."""

    name = "pgp"
    profiles = tuple(PROFILES)
    fan_out = True

    # -- seal ------------------------------------------------------------------------------
    def seal(self, request: SealRequest) -> bytes:
        """Sign with every usable signer key and encrypt to every usable recipient subkey."""
        profile = request.profile or "default"
        if profile not in PROFILES:
            raise UnsupportedCodec(f"unknown PGP profile {profile!r}; known: {sorted(PROFILES)}")
        now = int(request.now.timestamp())
        targets = self._recipients(request, now)
        signers = self._signers(request, now)
        literal = op.literal_packet(request.plaintext, when=now)
        sigs: list[bytes] = []
        ops: list[bytes] = []
        hashed_base = op.subpacket(op.SUB_CREATED, now.to_bytes(4, "big"))
        hasher = op.signature_hasher(SEAL_HASH)
        hasher.update(request.plaintext)  # once for every signer
        for i, (part, private) in enumerate(signers):
            hashed = (
                hashed_base
                + op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + part.fingerprint)
                + op.subpacket(op.SUB_ISSUER, part.keyid)
            )
            body = op.signature_body(
                private,
                sigtype=op.SIG_BINARY,
                hashalg=SEAL_HASH,
                hashed=hashed,
                unhashed=b"",
                hasher=hasher,
            )
            sigs.append(op.packet(op.TAG_SIGNATURE, body))
            # Nested one-pass signatures: the first signer's OPS is the innermost (last, with
            # the "last" flag), so its signature is the first after the literal data, the
            # order gpg writes for "-u first -u second".
            ops.insert(0, op.ops_packet(hashalg=SEAL_HASH, keyid=part.keyid, last=i == 0))
        inner = b"".join((*ops, literal, *sigs))
        algo = PROFILES[profile]
        if algo is not None:
            inner = op.packet(op.TAG_COMPRESSED, bytes((algo,)) + op.compress(algo, inner))
        session_key = os.urandom(op.SYMMETRIC_KEY_SIZES[SEAL_CIPHER])
        payload = op.session_key_payload(SEAL_CIPHER, session_key)
        out = [op.pkesk_packet(p.keyid, p.public_key, payload) for p in targets]
        out.append(op.encrypt_seipd(session_key, inner))
        return b64url_encode(b"".join(out))

    @staticmethod
    def _recipients(request: SealRequest, now: int) -> list[KeyPart]:
        targets: list[KeyPart] = []
        for key in request.recipients:
            parts = material_of(key).encryption_parts(now)
            if not parts:
                raise SealError(f"recipient key {key.kid} has no usable encryption subkey")
            targets.extend(parts)
        if len(targets) > MAX_RECIPIENTS:
            raise SealError(f"more than {MAX_RECIPIENTS} recipient subkeys")
        return targets

    @staticmethod
    def _signers(request: SealRequest, now: int) -> list[tuple[KeyPart, RSAPrivateOps]]:
        signers = []
        for key in request.signers:
            found = material_of(key).signing_part(now)
            if found is None:
                raise SealError(f"signer key {key.kid} has no usable signing key with a secret")
            signers.append(found)
        if len(signers) > MAX_SIGNATURES:
            raise SealError(f"more than {MAX_SIGNATURES} signer keys")
        return signers

    # -- open ------------------------------------------------------------------------------
    def open(self, request: OpenRequest) -> OpenResult:
        """Decrypt (key-id routing, bounded trial for wildcard ids), then verify any-of-N."""
        opened = self._decrypt_and_parse(request)
        if opened is None:
            # Raised here, outside any except block: no __context__ whose frames hold the
            # decrypted content travels with it.
            raise InvalidEnvelope
        decrypted_with, recipients, ciphers, inner = opened
        request.trace.decrypted_with = decrypted_with
        algs = ["RSA", *ciphers]
        if inner.compression is not None:
            algs.append(op.COMPRESSION_NAMES[inner.compression])
        if not inner.signatures:
            if not request.allow_unsigned:
                del inner, opened
                raise InvalidSignature
            return OpenResult(inner.data, self.name, decrypted_with, (), tuple(algs))
        verified, hashes = _verify(inner, request, recipients)
        if not verified:
            del inner, opened
            raise InvalidSignature
        algs.extend(h for h in hashes if h not in algs)
        return OpenResult(inner.data, self.name, decrypted_with, verified, tuple(algs))

    def _decrypt_and_parse(
        self, request: OpenRequest
    ) -> tuple[str, frozenset[bytes], tuple[str, ...], _Inner] | None:
        """Identity kid, intended-recipient values that name it, cipher (and AEAD mode) names
        and the parsed content; None for anything malformed (the exception ends here, with
        its frames)."""
        try:
            message = _decode(request.envelope)
            decrypted_with, recipients, ciphers, content = self._decrypt(message, request)
            return (
                decrypted_with,
                recipients,
                ciphers,
                _parse_inner(content, request.limits.max_plaintext),
            )
        except op.Malformed:
            return None

    @staticmethod
    def _decrypt(
        message: bytes, request: OpenRequest
    ) -> tuple[str, frozenset[bytes], tuple[str, ...], bytes]:
        packets = op.read_packets(message, max_packets=_MAX_TOP_PACKETS)
        pkesks: list[bytes] = []
        seipd: bytes | None = None
        for tag, body in packets:
            if tag in (op.TAG_MARKER, op.TAG_PADDING):
                continue  # both are to be ignored wherever they stand (RFC 9580 5.8, 5.14)
            if seipd is not None:
                raise op.Malformed("packets after the encrypted data")
            if tag == op.TAG_PKESK:
                pkesks.append(body)
            elif tag == op.TAG_SEIPD:
                seipd = body
            else:
                # SED (tag 9, no integrity protection), SKESK (passwords), the draft AEAD
                # packet (20) and anything else: refused.
                raise op.Malformed("unsupported packet")
        if seipd is None:
            raise op.Malformed("not a public-key encrypted message")
        if seipd[:1] == b"\x02":
            return _decrypt_v2(pkesks, seipd, request)
        return _decrypt_v1(pkesks, seipd, request)


def _decrypt_v1(
    bodies: list[bytes], seipd: bytes, request: OpenRequest
) -> tuple[str, frozenset[bytes], tuple[str, ...], bytes]:
    """v3 PKESKs and SEIPD v1 (RFC 4880): the session key names its cipher."""
    pkesks: list[tuple[bytes | None, bytes]] = []
    for body in bodies:
        parsed = op.parse_pkesk(body)
        if parsed is not None:  # other algorithms or versions: for somebody else
            pkesks.append((None if parsed[0] == _WILDCARD else parsed[0], parsed[2]))
    _check_recipients(pkesks)
    if len(seipd) < 1 + 16 + 2 + 22 or seipd[0] != 1:
        raise op.Malformed("not SEIPD v1")
    for kid, recipients, private, value in _candidates(pkesks, request):
        plain = _rsa_decrypt(private, value)
        unwrapped = op.unwrap_session_key(plain) if plain is not None else None
        # RFC 3218 2.3.2: whatever went wrong, carry on with a random key, so a bad
        # padding, algorithm or checksum costs the same and ends the same as a wrong key.
        if unwrapped is None:
            unwrapped = (op.SYM_AES256, os.urandom(32))
        content = op.decrypt_seipd(unwrapped[1], seipd)
        if content is not None:
            return kid, recipients, (op.SYMMETRIC_NAMES[unwrapped[0]],), content
    raise op.Malformed("no identity key decrypts this message")


def _decrypt_v2(
    bodies: list[bytes], seipd: bytes, request: OpenRequest
) -> tuple[str, frozenset[bytes], tuple[str, ...], bytes]:
    """v6 PKESKs and SEIPD v2 (RFC 9580 5.1.2, 5.13.2): the encrypted data names its cipher
    and AEAD mode, the session keys carry no algorithm octet. A v3 PKESK must not precede
    SEIPD v2 (RFC 9580 10.3.2.1), so it is not tried."""
    params = op.seipd2_params(seipd)
    if params is None:
        raise op.Malformed("not a SEIPD v2 we read")
    cipher, aead = params
    size = op.SYMMETRIC_KEY_SIZES[cipher]
    pkesks = [parsed for body in bodies if (parsed := op.parse_pkesk6(body)) is not None]
    _check_recipients(pkesks)
    for kid, recipients, private, value in _candidates(pkesks, request):
        plain = _rsa_decrypt(private, value)
        key = op.unwrap_session_key6(plain, size) if plain is not None else None
        # The same random-key path as v1: no failure ends differently from a wrong key.
        content = op.decrypt_seipd2(os.urandom(size) if key is None else key, seipd)
        if content is not None:
            return kid, recipients, (op.SYMMETRIC_NAMES[cipher], op.AEAD_NAMES[aead]), content
    raise op.Malformed("no identity key decrypts this message")


def _check_recipients(pkesks: list[tuple[bytes | None, bytes]]) -> None:
    if not pkesks or len(pkesks) > MAX_RECIPIENTS:
        raise op.Malformed("not a public-key encrypted message")


def _decode(envelope: bytes) -> bytes:
    """Binary OpenPGP from padded/unpadded web-safe base64, raw binary or ASCII armor."""
    if envelope[:1] and envelope[0] & 0x80:
        return envelope  # binary packets: every header octet has bit 7 set, text never does
    start = _LEADING_SPACE.match(envelope)
    if envelope.startswith(_ARMOR_BEGIN, start.end() if start else 0):
        # Not stripped first: dearmor allows whitespace around the block, and a stripped
        # copy would be another max_envelope bytes.
        blocks = op.dearmor(envelope, max_blocks=1, strict=True)
        if len(blocks) != 1 or blocks[0][0] != "MESSAGE":
            raise op.Malformed("not one armored message")
        raw = blocks[0][1]
    else:
        try:
            raw = b64url_decode(envelope.strip())
        except ValueError:
            raise op.Malformed("not web-safe base64") from None
    if not raw[:1] or not raw[0] & 0x80:
        raise op.Malformed("not OpenPGP")
    return raw


def _recipient_values(material: PGPMaterial, part: KeyPart) -> frozenset[bytes]:
    """Intended-recipient subpacket values naming this identity key: the v4 fingerprint of its
    primary (RFC 9580 5.2.3.36), or of the decrypting subkey itself (accepted too: it names the
    same key, and some writers put the subkey there)."""
    return frozenset(b"\x04" + fpr for fpr in (material.parts[0].fingerprint, part.fingerprint))


def _candidates(
    pkesks: list[tuple[bytes | None, bytes]], request: OpenRequest
) -> Iterator[tuple[str, frozenset[bytes], RSAPrivateOps, bytes]]:
    """(identity kid, intended-recipient values naming it, private key, PKESK value) to try,
    in the order and within the budget `_rotation.attempts` sets.

    Each PKESK is a slot naming one of our encryption subkeys by key id (v3) or fingerprint
    (v6), or naming none (None: the all-zero "wildcard" key id of gpg --throw-keyids, or a v6
    anonymous recipient); an envelope naming only unknown keys costs no private-key
    operation at all.
    """
    hints = [hint for hint, _ in pkesks]
    units = [
        (key, material, part, private)
        for key in request.identities
        if isinstance(material := key.material, PGPMaterial)
        for part, private in material.decryption_parts()
    ]
    for slot, (key, material, part, private) in _rotation.attempts(
        hints, units, names=_names_part, budget=request.trials
    ):
        yield key.kid, _recipient_values(material, part), private, pkesks[slot][1]


def _names_part(hint: bytes, unit: tuple[Key, PGPMaterial, KeyPart, RSAPrivateOps]) -> bool:
    part = unit[2]
    return part.fingerprint == hint if len(hint) == len(part.fingerprint) else part.keyid == hint


def _parse_inner(content: bytes, max_plaintext: int) -> _Inner:
    """The decrypted content: [compressed(...)] one-pass signatures, literal, signatures."""
    cap = max_plaintext + _INNER_OVERHEAD
    packets = _unpadded(op.read_packets(content, max_packets=_MAX_INNER_PACKETS))
    compression = None
    if len(packets) == 1 and packets[0][0] == op.TAG_COMPRESSED:
        compression, content = op.decompress(packets[0][1], cap=cap)
        # One level of compression only: a compressed packet inside is refused below.
        packets = _unpadded(op.read_packets(content, max_packets=_MAX_INNER_PACKETS))
    ops = 0
    while ops < len(packets) and packets[ops][0] == op.TAG_OPS:
        op.parse_ops(packets[ops][1])
        ops += 1
    if ops >= len(packets) or packets[ops][0] != op.TAG_LITERAL:
        raise op.Malformed("expected literal data")
    _format, data = op.parse_literal(packets[ops][1])
    sigs = packets[ops + 1 :]
    if len(sigs) != ops or any(tag != op.TAG_SIGNATURE for tag, _ in sigs):
        raise op.Malformed("signatures do not match the one-pass signatures")
    if ops > MAX_SIGNATURES or len(data) > max_plaintext:
        raise op.Malformed("over a bound")
    return _Inner(data, tuple(body for _, body in sigs), compression)


def _unpadded(packets: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Without Padding packets, which a reader ignores wherever they are (RFC 9580 5.14)."""
    return [p for p in packets if p[0] != op.TAG_PADDING]


def _verify(
    inner: _Inner, request: OpenRequest, recipients: frozenset[bytes]
) -> tuple[tuple[str, ...], list[str]]:
    """Kids of the sender keys with a valid signature (in signature order), and their hashes.

    Everything here runs after the MDC authenticated the content, so no failure is an oracle;
    a signature that is malformed, by an unknown key, or fails any check is simply not counted.
    A signature with intended-recipient fingerprints counts only when one of them names the
    identity key that decrypted (``recipients``): it was not made for somebody else and
    re-encrypted to us (surreptitious forwarding, RFC 9580 5.2.3.36 and 13.12).
    """
    now = int(request.now.timestamp())
    senders = [(k, k.material) for k in request.senders if isinstance(k.material, PGPMaterial)]
    hashers: dict[tuple[int, int], Any] = {}
    signed_bytes = _signed_bytes(inner)
    verified: list[str] = []
    hashes: list[str] = []
    for body in inner.signatures:
        try:
            sig = op.parse_signature(body)
        except op.Malformed:
            continue
        if (
            sig is None
            or sig.sigtype not in (op.SIG_BINARY, op.SIG_TEXT)
            or sig.hashalg not in OPEN_HASHES
            or sig.critical_unknown
            or sig.created is None
            or sig.created > now + CLOCK_SKEW
            or sig.expired_at(now)
            or (sig.intended_recipients and recipients.isdisjoint(sig.intended_recipients))
        ):
            continue
        hasher = hashers.get((sig.sigtype, sig.hashalg))
        if hasher is None:
            hasher = op.signature_hasher(sig.hashalg)
            hasher.update(signed_bytes(sig.sigtype))
            hashers[(sig.sigtype, sig.hashalg)] = hasher
        digest = op.finish_digest(hasher, sig.sigtype, sig.pkalg, sig.hashalg, sig.hashed)
        for key, part in _signers_of(sig, sig.created, senders, now, request.limits.max_trials):
            if op.rsa_verify(part.public_key, sig, digest):
                if key.kid not in verified:
                    verified.append(key.kid)
                name = op.HASH_NAMES[sig.hashalg]
                if name not in hashes:
                    hashes.append(name)
                break
    return tuple(verified), hashes


def _signers_of(
    sig: op.Signature,
    created: int,
    senders: list[tuple[Key, PGPMaterial]],
    now: int,
    limit: int,
) -> list[tuple[Key, KeyPart]]:
    """Sender parts that may have made ``sig``, by issuer fingerprint or issuer key id, or
    (a signature naming no key) any signing part, at most ``limit`` (`_rotation.attempts`).

    Only parts usable at ``now`` whose life, and their primary's, holds ``created``, the
    signature's creation time (`PGPMaterial.signers_at`): a signature dated after its key
    expired, or before it was created, never counts. The clock skew is only for comparing
    with ``now`` (the caller's check that the signature is not from the future).
    """
    issuer = None
    if sig.issuer_fprs or sig.issuer_ids:
        keyids = frozenset(f[-8:] for f in sig.issuer_fprs) | frozenset(sig.issuer_ids)
        issuer = _Issuer(keyids, frozenset(sig.issuer_fprs))
    units = [(k, p) for k, m in senders for p in m.signers_at(created, now)]
    found = _rotation.attempts(
        (issuer,), units, names=_names_signer, budget=_rotation.TrialBudget(limit)
    )
    return [unit for _, unit in found]


@dataclass(frozen=True, slots=True)
class _Issuer:
    """What a signature says about its signer: key ids, and fingerprints when it has them."""

    keyids: frozenset[bytes]
    fingerprints: frozenset[bytes]


def _names_signer(issuer: _Issuer, unit: tuple[Key, KeyPart]) -> bool:
    part = unit[1]
    return part.keyid in issuer.keyids and (
        not issuer.fingerprints or part.fingerprint in issuer.fingerprints
    )


def _signed_bytes(inner: _Inner) -> Callable[[int], bytes]:
    """What a signature of each type is made over. The canonical text is made once per message,
    not once per digest: up to three text signatures with different digests would otherwise
    copy and rewrite a 4 MiB payload three times."""
    text: list[bytes] = []

    def of(sigtype: int) -> bytes:
        if sigtype != op.SIG_TEXT:
            return inner.data
        if not text:
            text.append(_canonical(inner))
        return text[0]

    return of


def _canonical(inner: _Inner) -> bytes:
    """Text signatures (type 0x01) are made over the text with CRLF line endings."""
    return inner.data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
