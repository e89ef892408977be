"""Version 4 signatures (RFC 4880 section 5.2): parsing, subpackets, hashing, RSA signing and
verification, and one-pass signature packets (section 5.4)."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from ...._keyops import RSAPrivateOps
from .packets import encode_length, mpi, packet, read_length, read_mpi
from .registry import (
    CRYPTO_HASHES,
    HASHLIB_NAMES,
    PK_RSA,
    PK_RSA_SIGN_ONLY,
    PREFERENCE_SUBPACKETS,
    SIG_BINARY,
    SUB_CREATED,
    SUB_EMBEDDED_SIGNATURE,
    SUB_INTENDED_RECIPIENT,
    SUB_ISSUER,
    SUB_ISSUER_FINGERPRINT,
    SUB_KEY_EXPIRES,
    SUB_KEY_FLAGS,
    SUB_PRIMARY_UID,
    SUB_SIG_EXPIRES,
    TAG_OPS,
    UNDERSTOOD_SUBPACKETS,
    Malformed,
)

_PKCS1: Final = padding.PKCS1v15()
#: Most bytes in either subpacket area of a signature. GnuPG refuses longer areas
#: (g10/parse-packet.c), so no signature that gpg can check has one; real areas are under
#: 500 bytes (a self-signature with preferences, an embedded back-signature of RSA-8192 ~1 KB).
MAX_SUBPACKET_AREA: Final = 10_000
#: Most subpackets in either area. gpg writes 3 to 6 in a message signature (one more per
#: --sig-notation), Sequoia 4 (a salt notation among them), self-signatures about 10.
#: Together with MAX_SUBPACKET_AREA and the 16 signatures of a message this bounds what one
#: envelope's signatures cost to parse: before, 64 KiB areas of 2-byte subpackets made 32,000
#: subpackets a signature out of a few KB of compressed content.
MAX_SUBPACKETS: Final = 64
#: The subpackets that carry a four-octet time.
_TIMES: Final = frozenset({SUB_CREATED, SUB_SIG_EXPIRES, SUB_KEY_EXPIRES})


@dataclass(frozen=True, slots=True)
class Signature:
    """A parsed v4 signature packet. Subpacket values come from the hashed area unless noted."""

    sigtype: int
    pkalg: int
    hashalg: int
    hashed: bytes
    left16: bytes
    value: bytes
    created: int | None
    expires_after: int | None
    key_expires_after: int | None
    key_flags: int | None
    primary_uid: bool
    #: Issuer key ids and v4 fingerprints from both areas: hints for finding the key only.
    issuer_ids: tuple[bytes, ...]
    issuer_fprs: tuple[bytes, ...]
    #: Embedded signatures (the primary-key binding of a signing subkey), from both areas.
    embedded: tuple[bytes, ...]
    critical_unknown: bool
    #: Intended recipient fingerprint subpackets (version octet and fingerprint, as sent),
    #: from the hashed area only: when there are any, the signature is only valid in a message
    #: decrypted by one of those keys (RFC 9580 section 5.2.3.36).
    intended_recipients: tuple[bytes, ...] = ()
    #: Preference and feature subpackets of the hashed area (`PREFERENCE_SUBPACKETS`), by
    #: kind, the first of each: what a self-signature asks peers to send.
    preferences: tuple[tuple[int, bytes], ...] = ()

    def expired_at(self, when: int) -> bool:
        """True when the signature's own expiration time has passed at ``when``."""
        return (
            self.created is not None
            and self.expires_after is not None
            and self.expires_after != 0
            and when >= self.created + self.expires_after
        )


def _subpackets(area: bytes) -> Iterable[tuple[int, bool, bytes]]:
    """(type, critical bit, value) of each subpacket in a subpacket area; `Malformed` at the
    first subpacket past `MAX_SUBPACKETS`, after reading no more than that many."""
    pos, end = 0, len(area)
    count = 0
    while pos < end:
        count += 1
        if count > MAX_SUBPACKETS:
            raise Malformed("too many subpackets")
        size, pos, _partial = read_length(area, pos, partial=False)
        if size < 1 or pos + size > end:
            raise Malformed("bad subpacket length")
        kind = area[pos]
        yield kind & 0x7F, bool(kind & 0x80), area[pos + 1 : pos + size]
        pos += size


@dataclass(slots=True)
class _Found:
    """What the subpacket areas of one signature say, collected while reading them."""

    created: int | None = None
    expires_after: int | None = None
    key_expires_after: int | None = None
    key_flags: int | None = None
    primary_uid: bool = False
    critical_unknown: bool = False
    issuer_ids: list[bytes] = field(default_factory=list)
    issuer_fprs: list[bytes] = field(default_factory=list)
    embedded: list[bytes] = field(default_factory=list)
    intended_recipients: list[bytes] = field(default_factory=list)
    preferences: dict[int, bytes] = field(default_factory=dict)

    def read_hashed(self, kind: int, critical: bool, value: bytes) -> None:
        """Take one subpacket of the hashed (signed) area."""
        if critical and kind not in UNDERSTOOD_SUBPACKETS:
            self.critical_unknown = True
        if kind in _TIMES:
            self._read_time(kind, value)
        elif kind == SUB_KEY_FLAGS and value:
            self.key_flags = value[0]
        elif kind == SUB_PRIMARY_UID and value:
            self.primary_uid = value[0] != 0
        elif kind == SUB_INTENDED_RECIPIENT:
            # Any length: one that matches nothing voids the signature.
            self.intended_recipients.append(value)
        elif kind in PREFERENCE_SUBPACKETS:
            # What the key asks of peers: read for `keys check`, never for a decision here.
            self.preferences.setdefault(kind, value)
        else:
            self.read_hint(kind, value)

    def read_hint(self, kind: int, value: bytes) -> None:
        """Take one subpacket if it is an issuer hint or an embedded signature, from either area.

        The unhashed area is not signed: issuer hints and the self-authenticating embedded
        back-signature are the only things taken from it.
        """
        if kind == SUB_ISSUER and len(value) == 8:
            self.issuer_ids.append(value)
        elif kind == SUB_ISSUER_FINGERPRINT and len(value) == 21 and value[0] == 4:
            self.issuer_fprs.append(value[1:])
        elif kind == SUB_EMBEDDED_SIGNATURE:
            self.embedded.append(value)

    def _read_time(self, kind: int, value: bytes) -> None:
        if len(value) != 4:
            return
        seconds = int.from_bytes(value, "big")
        if kind == SUB_CREATED:
            self.created = seconds
        elif kind == SUB_SIG_EXPIRES:
            self.expires_after = seconds
        else:
            self.key_expires_after = seconds


def _split_v4(body: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """The hashed area, the unhashed area, the left 16 bits of the digest and the signature
    value of a v4 signature body (its first six octets are known to be there). Areas over
    `MAX_SUBPACKET_AREA` are refused before anything is copied or read."""
    hlen = int.from_bytes(body[4:6], "big")
    pos = 6 + hlen
    if pos + 2 > len(body):
        raise Malformed("truncated signature")
    ulen = int.from_bytes(body[pos : pos + 2], "big")
    if hlen > MAX_SUBPACKET_AREA or ulen > MAX_SUBPACKET_AREA:
        raise Malformed("subpacket area over its bound")
    hashed = body[6:pos]
    unhashed = body[pos + 2 : pos + 2 + ulen]
    pos += 2 + ulen
    if pos + 2 > len(body):
        raise Malformed("truncated signature")
    left16 = body[pos : pos + 2]
    value, pos = read_mpi(body, pos + 2)
    if pos != len(body):
        raise Malformed("trailing bytes in signature")
    return hashed, unhashed, left16, value


def parse_signature(body: bytes) -> Signature | None:
    """Parse a signature packet; None for versions other than 4 (ignored, never trusted)."""
    if not body:
        raise Malformed("empty signature")
    if body[0] != 4:
        return None
    if len(body) < 6:
        raise Malformed("truncated signature")
    hashed, unhashed, left16, value = _split_v4(body)
    found = _Found()
    for kind, critical, content in _subpackets(hashed):
        found.read_hashed(kind, critical, content)
    for kind, _critical, content in _subpackets(unhashed):
        found.read_hint(kind, content)
    return Signature(
        sigtype=body[1],
        pkalg=body[2],
        hashalg=body[3],
        hashed=hashed,
        left16=left16,
        value=value,
        created=found.created,
        expires_after=found.expires_after,
        key_expires_after=found.key_expires_after,
        key_flags=found.key_flags,
        primary_uid=found.primary_uid,
        issuer_ids=tuple(found.issuer_ids),
        issuer_fprs=tuple(found.issuer_fprs),
        embedded=tuple(found.embedded),
        critical_unknown=found.critical_unknown,
        intended_recipients=tuple(found.intended_recipients),
        preferences=tuple(found.preferences.items()),
    )


def subpacket(kind: int, value: bytes, *, critical: bool = False) -> bytes:
    """One signature subpacket."""
    return encode_length(len(value) + 1) + bytes((kind | (0x80 if critical else 0),)) + value


def _trailer(sigtype: int, pkalg: int, hashalg: int, hashed: bytes) -> bytes:
    head = bytes((4, sigtype, pkalg, hashalg)) + struct.pack(">H", len(hashed)) + hashed
    return head + b"\x04\xff" + struct.pack(">I", len(head))


def signature_hasher(hashalg: int) -> Any:
    """A fresh hashlib object for ``hashalg``. Raises `Malformed` for digests we never compute."""
    name = HASHLIB_NAMES.get(hashalg)
    if name is None:
        raise Malformed("unsupported hash")
    return hashlib.new(name)


def finish_digest(hasher: Any, sigtype: int, pkalg: int, hashalg: int, hashed: bytes) -> bytes:
    """Feed the v4 trailer into a copy of ``hasher`` (already fed the signed data); digest it."""
    h = hasher.copy()
    h.update(_trailer(sigtype, pkalg, hashalg, hashed))
    digest: bytes = h.digest()
    return digest


def rsa_sign(key: RSAPrivateOps, hashalg: int, digest: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 over a precomputed digest."""
    return key.sign(digest, _PKCS1, Prehashed(CRYPTO_HASHES[hashalg]))


def rsa_verify(key: rsa.RSAPublicKey, sig: Signature, digest: bytes) -> bool:
    """Check a v4 RSA signature over ``digest`` (the full digest of data and trailer)."""
    if sig.pkalg not in (PK_RSA, PK_RSA_SIGN_ONLY) or digest[:2] != sig.left16:
        return False
    size = (key.key_size + 7) // 8
    if len(sig.value) > size:
        return False
    try:
        key.verify(
            sig.value.rjust(size, b"\x00"), digest, _PKCS1, Prehashed(CRYPTO_HASHES[sig.hashalg])
        )
    except (_CryptoInvalidSignature, KeyError, ValueError):
        return False
    return True


def signature_body(
    key: RSAPrivateOps,
    *,
    sigtype: int,
    hashalg: int,
    hashed: bytes,
    unhashed: bytes,
    data: Sequence[bytes] = (),
    hasher: Any = None,
) -> bytes:
    """Make a v4 RSA signature packet body over the concatenation of ``data``, or over what
    ``hasher`` (from `signature_hasher`, left untouched) has already been fed."""
    if hasher is None:
        hasher = signature_hasher(hashalg)
        for part in data:
            hasher.update(part)
    digest = finish_digest(hasher, sigtype, PK_RSA, hashalg, hashed)
    value = int.from_bytes(rsa_sign(key, hashalg, digest), "big")
    return (
        bytes((4, sigtype, PK_RSA, hashalg))
        + struct.pack(">H", len(hashed))
        + hashed
        + struct.pack(">H", len(unhashed))
        + unhashed
        + digest[:2]
        + mpi(value)
    )


# -- one-pass signatures (RFC 4880 section 5.4) ---------------------------------------------
def ops_packet(*, hashalg: int, keyid: bytes, last: bool) -> bytes:
    """A v3 one-pass signature packet for a binary-document RSA signature."""
    return packet(TAG_OPS, bytes((3, SIG_BINARY, hashalg, PK_RSA)) + keyid + bytes((int(last),)))


def parse_ops(body: bytes) -> None:
    """Check a one-pass signature packet's shape; its contents are only hints."""
    if len(body) != 13 or body[0] != 3:
        raise Malformed("bad one-pass signature")
