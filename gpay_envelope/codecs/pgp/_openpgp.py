"""A narrow, strict subset of OpenPGP (RFC 4880 / RFC 9580, version 4 objects) on `cryptography`.

What the ``pgp`` codec needs and nothing more: packet framing (old and new headers, partial
body lengths), ASCII armor, v4 RSA signatures, v3 RSA public-key encrypted session keys, SEIPD v1
(OpenPGP CFB with a modification detection code), compressed data (ZIP, ZLIB, BZip2) inflated
under a cap, one-pass signatures and literal data. Every parser here is iterative, bounded by
its input and by explicit counts; nothing backtracks and nothing recurses on input.

Errors: every problem with the bytes raises `Malformed`, an internal exception that the codec
turns into the library's one opaque error. Its text is for the test suite, never shown.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import hashlib
import hmac
import os
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES

from ... import _policy
from ..._keyops import RSAPrivateOps

__all__ = [
    "COMPRESSION_NAMES",
    "HASH_NAMES",
    "SYMMETRIC_KEY_SIZES",
    "SYMMETRIC_NAMES",
    "Malformed",
    "Signature",
    "armor",
    "compress",
    "crc24",
    "dearmor",
    "decompress",
    "decrypt_seipd",
    "encrypt_seipd",
    "finish_digest",
    "literal_packet",
    "mpi",
    "ops_packet",
    "packet",
    "parse_literal",
    "parse_ops",
    "parse_pkesk",
    "parse_signature",
    "pkesk_packet",
    "read_mpi",
    "read_packets",
    "rsa_sign",
    "rsa_verify",
    "session_key_payload",
    "signature_body",
    "signature_hasher",
    "subpacket",
    "unwrap_session_key",
]


class Malformed(Exception):
    """The bytes break the subset's grammar or a bound. Internal: never leaves the codec."""


# -- registries (RFC 4880 section 9) --------------------------------------------------------
TAG_PKESK: Final = 1
TAG_SIGNATURE: Final = 2
TAG_SKESK: Final = 3
TAG_OPS: Final = 4
TAG_SECRET_KEY: Final = 5
TAG_PUBLIC_KEY: Final = 6
TAG_SECRET_SUBKEY: Final = 7
TAG_COMPRESSED: Final = 8
TAG_SED: Final = 9
TAG_MARKER: Final = 10
TAG_LITERAL: Final = 11
TAG_TRUST: Final = 12
TAG_USER_ID: Final = 13
TAG_PUBLIC_SUBKEY: Final = 14
TAG_USER_ATTRIBUTE: Final = 17
TAG_SEIPD: Final = 18
TAG_MDC: Final = 19

PK_RSA: Final = 1
PK_RSA_ENCRYPT_ONLY: Final = 2
PK_RSA_SIGN_ONLY: Final = 3
RSA_ALGORITHMS: Final = frozenset({PK_RSA, PK_RSA_ENCRYPT_ONLY, PK_RSA_SIGN_ONLY})

SYM_AES128: Final = 7
SYM_AES192: Final = 8
SYM_AES256: Final = 9
#: Session-key sizes of the only symmetric algorithms we accept. CAST5 (3), IDEA (1), 3DES (2),
#: Blowfish (4), Twofish (10) and Camellia are refused: Google's rules name CAST5 and IDEA, and
#: 64-bit block ciphers are out for everyone.
SYMMETRIC_KEY_SIZES: Final = {SYM_AES128: 16, SYM_AES192: 24, SYM_AES256: 32}
SYMMETRIC_NAMES: Final = {SYM_AES128: "AES128", SYM_AES192: "AES192", SYM_AES256: "AES256"}

HASH_MD5: Final = 1
HASH_SHA1: Final = 2
HASH_SHA256: Final = 8
HASH_SHA384: Final = 9
HASH_SHA512: Final = 10
HASH_SHA224: Final = 11
#: hashlib names of the digests this module can compute at all.
_HASHLIB: Final = {
    HASH_SHA1: "sha1",
    HASH_SHA256: "sha256",
    HASH_SHA384: "sha384",
    HASH_SHA512: "sha512",
    HASH_SHA224: "sha224",
}
_CRYPTO_HASHES: Final[dict[int, hashes.HashAlgorithm]] = {
    HASH_SHA1: hashes.SHA1(),  # noqa: S303 - only for old key self-signatures, see pgp.py
    HASH_SHA256: hashes.SHA256(),
    HASH_SHA384: hashes.SHA384(),
    HASH_SHA512: hashes.SHA512(),
    HASH_SHA224: hashes.SHA224(),
}
HASH_NAMES: Final = {
    HASH_MD5: "MD5",
    HASH_SHA1: "SHA1",
    HASH_SHA256: "SHA256",
    HASH_SHA384: "SHA384",
    HASH_SHA512: "SHA512",
    HASH_SHA224: "SHA224",
}

COMP_NONE: Final = 0
COMP_ZIP: Final = 1
COMP_ZLIB: Final = 2
COMP_BZIP2: Final = 3
COMPRESSION_NAMES: Final = {
    COMP_NONE: "UNCOMPRESSED",
    COMP_ZIP: "ZIP",
    COMP_ZLIB: "ZLIB",
    COMP_BZIP2: "BZIP2",
}

SIG_BINARY: Final = 0x00
SIG_TEXT: Final = 0x01
SIG_CERT_GENERIC: Final = 0x10
SIG_CERT_POSITIVE: Final = 0x13
SIG_SUBKEY_BINDING: Final = 0x18
SIG_PRIMARY_BINDING: Final = 0x19
SIG_DIRECT_KEY: Final = 0x1F
SIG_KEY_REVOCATION: Final = 0x20
SIG_SUBKEY_REVOCATION: Final = 0x28
SIG_CERT_REVOCATION: Final = 0x30

SUB_CREATED: Final = 2
SUB_SIG_EXPIRES: Final = 3
SUB_KEY_EXPIRES: Final = 9
SUB_PREFERRED_SYMMETRIC: Final = 11
SUB_ISSUER: Final = 16
SUB_PREFERRED_HASH: Final = 21
SUB_PREFERRED_COMPRESSION: Final = 22
SUB_PRIMARY_UID: Final = 25
SUB_KEY_FLAGS: Final = 27
SUB_FEATURES: Final = 30
SUB_EMBEDDED_SIGNATURE: Final = 32
SUB_ISSUER_FINGERPRINT: Final = 33
SUB_INTENDED_RECIPIENT: Final = 35

#: Subpackets whose meaning we apply or which are informational only; a *critical* subpacket
#: outside this set makes the signature invalid (RFC 4880 section 5.2.3.1). Notation data (20)
#: and regular expressions (6) are left out on purpose: we do not evaluate them. Intended
#: recipient fingerprints (35) are applied, critical or not, by the pgp codec's verification.
_UNDERSTOOD_SUBPACKETS: Final = frozenset(
    {2, 3, 4, 5, 7, 9, 11, 12, 16, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35}
)

# Key flags are Google's rules as much as wire format: defined once, in _policy.
FLAG_CERTIFY: Final = _policy.FLAG_CERTIFY
FLAG_SIGN: Final = _policy.FLAG_SIGN
FLAG_ENCRYPT: Final = _policy.FLAG_ENCRYPT

# Data packets may use partial body lengths; everything else must say its length up front.
_PARTIAL_OK: Final = frozenset({TAG_COMPRESSED, TAG_SED, TAG_LITERAL, TAG_SEIPD})
_BLOCK: Final = 16
_MDC_HEADER: Final = b"\xd3\x14"  # new-format tag 19, length 20
_PKCS1: Final = padding.PKCS1v15()


# -- packets --------------------------------------------------------------------------------
def _length(n: int) -> bytes:
    if n < 192:
        return bytes((n,))
    if n < 8384:
        n -= 192
        return bytes(((n >> 8) + 192, n & 0xFF))
    return b"\xff" + struct.pack(">I", n)


def packet(tag: int, body: bytes) -> bytes:
    """One packet with a new-format header and a definite length."""
    return bytes((0xC0 | tag,)) + _length(len(body)) + body


def read_packets(data: bytes, *, max_packets: int) -> list[tuple[int, bytes]]:
    """Split ``data`` into ``(tag, body)`` pairs, both header formats, partial lengths joined.

    Bounds: at most ``max_packets`` packets, and at most one partial-length chunk per 256 bytes
    of input on average (gpg writes chunks of 8 KiB and more), so a stream of tiny chunks cannot
    make the loop or the memory grow faster than the input.
    """
    view = memoryview(data)
    end = len(view)
    pos = 0
    chunk_budget = 64 + end // 256
    out: list[tuple[int, bytes]] = []
    while pos < end:
        if len(out) >= max_packets:
            raise Malformed("too many packets")
        ctb = view[pos]
        pos += 1
        if not ctb & 0x80:
            raise Malformed("not a packet header")
        if ctb & 0x40:
            tag = ctb & 0x3F
            chunks: list[memoryview] = []
            while True:
                if pos >= end:
                    raise Malformed("truncated header")
                first = view[pos]
                partial = False
                if first < 192:
                    size, pos = first, pos + 1
                elif first < 224:
                    if pos + 2 > end:
                        raise Malformed("truncated header")
                    size, pos = ((first - 192) << 8) + view[pos + 1] + 192, pos + 2
                elif first == 255:
                    if pos + 5 > end:
                        raise Malformed("truncated header")
                    size, pos = int.from_bytes(view[pos + 1 : pos + 5], "big"), pos + 5
                else:
                    if tag not in _PARTIAL_OK:
                        raise Malformed("partial length on a non-data packet")
                    chunk_budget -= 1
                    if chunk_budget < 0:
                        raise Malformed("too many partial chunks")
                    size, pos, partial = 1 << (first & 0x1F), pos + 1, True
                if pos + size > end:
                    raise Malformed("truncated body")
                chunks.append(view[pos : pos + size])
                pos += size
                if not partial:
                    break
            out.append((tag, b"".join(chunks) if len(chunks) > 1 else bytes(chunks[0])))
        else:
            tag = (ctb >> 2) & 0x0F
            kind = ctb & 0x03
            if kind == 3:
                # Indeterminate length: to the end of the enclosing data. gpg writes its
                # compressed packets this way.
                if tag not in _PARTIAL_OK:
                    raise Malformed("indeterminate length on a non-data packet")
                size = end - pos
            else:
                width = 1 << kind
                if pos + width > end:
                    raise Malformed("truncated header")
                size = int.from_bytes(view[pos : pos + width], "big")
                pos += width
            if pos + size > end:
                raise Malformed("truncated body")
            out.append((tag, bytes(view[pos : pos + size])))
            pos += size
    return out


def mpi(value: int) -> bytes:
    """An OpenPGP multiprecision integer."""
    bits = value.bit_length()
    return struct.pack(">H", bits) + value.to_bytes((bits + 7) // 8, "big")


def read_mpi(body: bytes, pos: int) -> tuple[bytes, int]:
    """Read one MPI at ``pos``; return its magnitude bytes and the next position."""
    if pos + 2 > len(body):
        raise Malformed("truncated MPI")
    bits = (body[pos] << 8) | body[pos + 1]
    size = (bits + 7) // 8
    pos += 2
    if pos + size > len(body):
        raise Malformed("truncated MPI")
    return body[pos : pos + size], pos + size


# -- armor (RFC 4880 section 6) -------------------------------------------------------------
_CRC24_INIT: Final = 0xB704CE
_CRC24_POLY: Final = 0x1864CFB


def _crc24_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
        table.append(crc & 0xFFFFFF)
    return tuple(table)


_CRC24_TABLE: Final = _crc24_table()


def crc24(data: bytes) -> int:
    """The armor checksum."""
    crc = _CRC24_INIT
    table = _CRC24_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFF) ^ table[(crc >> 16) ^ byte]
    return crc


_ARMOR_KINDS: Final = frozenset(
    {"MESSAGE", "PUBLIC KEY BLOCK", "PRIVATE KEY BLOCK", "SIGNATURE", "SECRET KEY BLOCK"}
)
_BEGIN: Final = b"-----BEGIN PGP "
#: What ``bytes.strip()`` removes; the base64 body may carry it anywhere (gpg skips it too).
_WHITESPACE: Final = b" \t\r\n\x0b\x0c"
_NOT_WHITESPACE: Final = re.compile(rb"[^ \t\r\n\x0b\x0c]")
#: Armor headers ("Version: ...", "Comment: ...") are skipped; real writers put 0 to 3.
_MAX_HEADER_LINES: Final = 16
_MAX_HEADER_LINE: Final = 4096
#: A BEGIN line is at most "-----BEGIN PGP PRIVATE KEY BLOCK-----" and some trailing spaces;
#: a checksum line is "=" and 4 characters.
_MAX_BEGIN_LINE: Final = 128
_MAX_CHECKSUM_LINE: Final = 64
#: Writers wrap the base64 at 64 (gpg, BouncyCastle, OpenPGP.js, Sequoia) to 76 columns (the
#: RFC's maximum): a body with more than one line break per 48 bytes, plus some slack for the
#: last line, blank lines and the checksum, was not written by one of them.
_MIN_AVERAGE_LINE: Final = 48
_LINE_SLACK: Final = 64


def armor(kind: str, data: bytes) -> bytes:
    """ASCII armor with 64-column lines and the CRC24 checksum, as gpg writes it."""
    body = base64.b64encode(data)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    crc = base64.b64encode(crc24(data).to_bytes(3, "big"))
    return b"\n".join(
        [
            f"-----BEGIN PGP {kind}-----".encode(),
            b"",
            *lines,
            b"=" + crc,
            f"-----END PGP {kind}-----".encode(),
            b"",
        ]
    )


def _blank(text: bytes, start: int, end: int) -> bool:
    """True when ``text[start:end]`` is only whitespace (no copy is made)."""
    return start >= end or _NOT_WHITESPACE.search(text, start, end) is None


def _line_end(text: bytes, pos: int) -> int:
    """Index of the line feed ending the line at ``pos``, or the end of ``text``."""
    nl = text.find(b"\n", pos)
    return len(text) if nl < 0 else nl


def _line_start(text: bytes, floor: int, pos: int) -> int:
    """Index where the line holding ``pos`` starts, not before ``floor``."""
    return text.rfind(b"\n", floor, pos) + 1 or floor


def dearmor(text: bytes, *, max_blocks: int, strict: bool) -> list[tuple[str, bytes]]:
    """Decode every armored block in ``text``, in time and memory linear in the input.

    The text is walked with ``find``, never split into lines: the BEGIN line, at most 16 header
    lines (skipped), then the END line is searched for and the body between them is decoded in
    one piece, its whitespace (line breaks, CRs, trailing spaces) deleted first. Extra memory is
    about twice the body. A body with absurdly many line breaks is refused.

    ``strict`` (messages): only whitespace outside the block, and the CRC24 line is not
    computed: the MDC authenticates the content, and RFC 9580 section 6.1 makes the checksum
    optional and says not to reject on it. Otherwise (key files) other lines around the blocks
    are skipped, as gpg does, and the CRC24 line, when present, must match.
    """
    blocks: list[tuple[str, bytes]] = []
    size = len(text)
    pos = 0  # always the start of a line
    while True:
        begin = text.find(_BEGIN, pos)
        if begin < 0:
            if strict and not _blank(text, pos, size):
                raise Malformed("text outside the armor")
            return blocks
        eol = _line_end(text, begin)
        if strict and not _blank(text, pos, begin):
            raise Malformed("text outside the armor")
        if not _blank(text, _line_start(text, pos, begin), begin):
            pos = eol + 1  # "-----BEGIN PGP " inside some other line: not armor
            continue
        line = text[begin : min(eol, begin + _MAX_BEGIN_LINE + 1)].rstrip()
        if eol - begin > _MAX_BEGIN_LINE or not line.endswith(b"-----"):
            if strict:
                raise Malformed("text outside the armor")
            pos = eol + 1
            continue
        kind = line[len(_BEGIN) : -5].decode("ascii", "replace")
        if kind not in _ARMOR_KINDS:
            raise Malformed("unknown armor kind")
        if len(blocks) >= max_blocks:
            raise Malformed("too many armored blocks")
        pos = eol + 1
        # Armor headers ("Key: value") run up to a blank line. Tolerate a missing blank line:
        # base64 never holds a colon.
        headers = 0
        while pos < size:
            eol = _line_end(text, pos)
            if text.find(b":", pos, eol) < 0 or text.startswith(b"=", pos):
                break
            headers += 1
            if headers > _MAX_HEADER_LINES or eol - pos > _MAX_HEADER_LINE:
                raise Malformed("armor headers over a bound")
            pos = eol + 1
        end_line = f"-----END PGP {kind}-----".encode()
        end = text.find(end_line, pos)
        if end < 0:
            raise Malformed("unterminated armor")
        body_end = _line_start(text, pos, end)
        eol = _line_end(text, end)
        if not _blank(text, body_end, end) or not _blank(text, end + len(end_line), eol):
            raise Malformed("not base64")  # other text on the END line
        if text.count(b"\n", pos, body_end) > (body_end - pos) // _MIN_AVERAGE_LINE + _LINE_SLACK:
            raise Malformed("too many lines in the armor")
        # The checksum line ("=" and 4 base64 characters) is the last line of the body. One
        # anywhere else stays in the base64, where padding in the middle fails to decode.
        checksum = None
        if body_end > pos:
            last = _line_start(text, pos, body_end - 1)
            if body_end - last <= _MAX_CHECKSUM_LINE:
                candidate = text[last:body_end].strip()
                if len(candidate) == 5 and candidate.startswith(b"="):
                    checksum, body_end = candidate[1:], last
        try:
            # validate=True is binascii's strict mode: alphabet, padding only at the end.
            raw = base64.b64decode(text[pos:body_end].translate(None, _WHITESPACE), validate=True)
            crc = None
            if checksum is not None and not strict:
                crc = base64.b64decode(checksum, validate=True)
        except binascii.Error:
            raise Malformed("bad base64 in armor") from None
        if crc is not None and int.from_bytes(crc, "big") != crc24(raw):
            raise Malformed("armor checksum mismatch")
        blocks.append((kind, raw))
        pos = eol + 1


# -- signatures (RFC 4880 section 5.2) ------------------------------------------------------
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

    def expired_at(self, when: int) -> bool:
        """True when the signature's own expiration time has passed at ``when``."""
        return (
            self.created is not None
            and self.expires_after is not None
            and self.expires_after != 0
            and when >= self.created + self.expires_after
        )


def _subpackets(area: bytes) -> Iterable[tuple[int, bool, bytes]]:
    pos, end = 0, len(area)
    while pos < end:
        first = area[pos]
        if first < 192:
            size, pos = first, pos + 1
        elif first < 255:
            if pos + 2 > end:
                raise Malformed("truncated subpacket")
            size, pos = ((first - 192) << 8) + area[pos + 1] + 192, pos + 2
        else:
            if pos + 5 > end:
                raise Malformed("truncated subpacket")
            size, pos = int.from_bytes(area[pos + 1 : pos + 5], "big"), pos + 5
        if size < 1 or pos + size > end:
            raise Malformed("bad subpacket length")
        kind = area[pos]
        yield kind & 0x7F, bool(kind & 0x80), area[pos + 1 : pos + size]
        pos += size


def parse_signature(body: bytes) -> Signature | None:
    """Parse a signature packet; None for versions other than 4 (ignored, never trusted)."""
    if not body:
        raise Malformed("empty signature")
    if body[0] != 4:
        return None
    if len(body) < 6:
        raise Malformed("truncated signature")
    sigtype, pkalg, hashalg = body[1], body[2], body[3]
    hlen = int.from_bytes(body[4:6], "big")
    pos = 6 + hlen
    if pos + 2 > len(body):
        raise Malformed("truncated signature")
    hashed = body[6:pos]
    ulen = int.from_bytes(body[pos : pos + 2], "big")
    unhashed = body[pos + 2 : pos + 2 + ulen]
    pos += 2 + ulen
    if pos + 2 > len(body):
        raise Malformed("truncated signature")
    left16 = body[pos : pos + 2]
    value, pos = read_mpi(body, pos + 2)
    if pos != len(body):
        raise Malformed("trailing bytes in signature")
    created = expires = key_expires = flags = None
    primary = critical_unknown = False
    ids: list[bytes] = []
    fprs: list[bytes] = []
    embedded: list[bytes] = []
    recipients: list[bytes] = []
    for kind, critical, value_ in _subpackets(hashed):
        if critical and kind not in _UNDERSTOOD_SUBPACKETS:
            critical_unknown = True
        if kind == SUB_CREATED and len(value_) == 4:
            created = int.from_bytes(value_, "big")
        elif kind == SUB_SIG_EXPIRES and len(value_) == 4:
            expires = int.from_bytes(value_, "big")
        elif kind == SUB_KEY_EXPIRES and len(value_) == 4:
            key_expires = int.from_bytes(value_, "big")
        elif kind == SUB_KEY_FLAGS and value_:
            flags = value_[0]
        elif kind == SUB_PRIMARY_UID and value_:
            primary = value_[0] != 0
        elif kind == SUB_ISSUER and len(value_) == 8:
            ids.append(value_)
        elif kind == SUB_ISSUER_FINGERPRINT and len(value_) == 21 and value_[0] == 4:
            fprs.append(value_[1:])
        elif kind == SUB_EMBEDDED_SIGNATURE:
            embedded.append(value_)
        elif kind == SUB_INTENDED_RECIPIENT:
            recipients.append(value_)  # any length: one that matches nothing voids the signature
    for kind, _critical, value_ in _subpackets(unhashed):
        # The unhashed area is not signed: issuer hints and the self-authenticating embedded
        # back-signature are the only things taken from it.
        if kind == SUB_ISSUER and len(value_) == 8:
            ids.append(value_)
        elif kind == SUB_ISSUER_FINGERPRINT and len(value_) == 21 and value_[0] == 4:
            fprs.append(value_[1:])
        elif kind == SUB_EMBEDDED_SIGNATURE:
            embedded.append(value_)
    return Signature(
        sigtype=sigtype,
        pkalg=pkalg,
        hashalg=hashalg,
        hashed=hashed,
        left16=left16,
        value=value,
        created=created,
        expires_after=expires,
        key_expires_after=key_expires,
        key_flags=flags,
        primary_uid=primary,
        issuer_ids=tuple(ids),
        issuer_fprs=tuple(fprs),
        embedded=tuple(embedded),
        critical_unknown=critical_unknown,
        intended_recipients=tuple(recipients),
    )


def subpacket(kind: int, value: bytes, *, critical: bool = False) -> bytes:
    """One signature subpacket."""
    return _length(len(value) + 1) + bytes((kind | (0x80 if critical else 0),)) + value


def _trailer(sigtype: int, pkalg: int, hashalg: int, hashed: bytes) -> bytes:
    head = bytes((4, sigtype, pkalg, hashalg)) + struct.pack(">H", len(hashed)) + hashed
    return head + b"\x04\xff" + struct.pack(">I", len(head))


def signature_hasher(hashalg: int) -> Any:
    """A fresh hashlib object for ``hashalg``. Raises `Malformed` for digests we never compute."""
    name = _HASHLIB.get(hashalg)
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
    return key.sign(digest, _PKCS1, Prehashed(_CRYPTO_HASHES[hashalg]))


def rsa_verify(key: rsa.RSAPublicKey, sig: Signature, digest: bytes) -> bool:
    """Check a v4 RSA signature over ``digest`` (the full digest of data and trailer)."""
    if sig.pkalg not in (PK_RSA, PK_RSA_SIGN_ONLY) or digest[:2] != sig.left16:
        return False
    size = (key.key_size + 7) // 8
    if len(sig.value) > size:
        return False
    try:
        key.verify(
            sig.value.rjust(size, b"\x00"), digest, _PKCS1, Prehashed(_CRYPTO_HASHES[sig.hashalg])
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


# -- one-pass signatures and literal data ---------------------------------------------------
def ops_packet(*, hashalg: int, keyid: bytes, last: bool) -> bytes:
    """A v3 one-pass signature packet for a binary-document RSA signature."""
    return packet(TAG_OPS, bytes((3, SIG_BINARY, hashalg, PK_RSA)) + keyid + bytes((int(last),)))


def parse_ops(body: bytes) -> None:
    """Check a one-pass signature packet's shape; its contents are only hints."""
    if len(body) != 13 or body[0] != 3:
        raise Malformed("bad one-pass signature")


def literal_packet(data: bytes, *, when: int) -> bytes:
    """A binary literal data packet with no file name."""
    return packet(TAG_LITERAL, b"b\x00" + struct.pack(">I", when & 0xFFFFFFFF) + data)


_LITERAL_FORMATS: Final = frozenset(b"btum")


def parse_literal(body: bytes) -> tuple[int, bytes]:
    """Return (format octet, data) of a literal data packet."""
    if len(body) < 6 or body[0] not in _LITERAL_FORMATS:
        raise Malformed("bad literal data")
    start = 2 + body[1] + 4
    if start > len(body):
        raise Malformed("bad literal data")
    return body[0], body[start:]


# -- compression ----------------------------------------------------------------------------
def compress(algo: int, data: bytes) -> bytes:
    """Compress for a compressed data packet body (without the algorithm octet)."""
    if algo == COMP_ZIP:
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    if algo == COMP_ZLIB:
        return zlib.compress(data, 6)
    raise ValueError("unsupported compression")


def decompress(body: bytes, *, cap: int) -> tuple[int, bytes]:
    """Inflate a compressed data packet with at most ``cap`` bytes of output.

    The cap is enforced while inflating (``max_length``), so a bomb costs at most ``cap``
    bytes and the time to produce them. A stream that is over the cap, truncated, or followed
    by other bytes is refused, never cut.
    """
    if not body:
        raise Malformed("empty compressed packet")
    algo, data = body[0], body[1:]
    if algo == COMP_NONE:
        if len(data) > cap:
            raise Malformed("over the cap")
        return algo, data
    out: bytes
    try:
        if algo in (COMP_ZIP, COMP_ZLIB):
            z = zlib.decompressobj(-zlib.MAX_WBITS if algo == COMP_ZIP else zlib.MAX_WBITS)
            out = z.decompress(data, cap + 1)
            done, rest = z.eof, z.unused_data or z.unconsumed_tail
        elif algo == COMP_BZIP2:
            b = bz2.BZ2Decompressor()
            out = b.decompress(data, cap + 1)
            done, rest = b.eof, b.unused_data
        else:
            raise Malformed("unsupported compression")
    except (zlib.error, OSError, EOFError, ValueError):
        raise Malformed("corrupt compressed data") from None
    if len(out) > cap or not done or rest:
        raise Malformed("compressed data over the cap, truncated or trailed")
    return algo, out


# -- session keys and SEIPD (RFC 4880 sections 5.1, 5.13, 5.14) -----------------------------
def session_key_payload(algo: int, key: bytes) -> bytes:
    """The plaintext of a PKESK: algorithm octet, key, two-octet checksum."""
    return bytes((algo,)) + key + struct.pack(">H", sum(key) & 0xFFFF)


def pkesk_packet(keyid: bytes, public_key: rsa.RSAPublicKey, payload: bytes) -> bytes:
    """A v3 PKESK for an RSA key."""
    ct = int.from_bytes(public_key.encrypt(payload, _PKCS1), "big")
    return packet(TAG_PKESK, b"\x03" + keyid + bytes((PK_RSA,)) + mpi(ct))


def parse_pkesk(body: bytes) -> tuple[bytes, int, bytes] | None:
    """Return (key id, public-key algorithm, encrypted value) of a v3 PKESK; None otherwise."""
    if len(body) < 10 or body[0] != 3:
        return None
    keyid, algo = body[1:9], body[9]
    if algo not in (PK_RSA, PK_RSA_ENCRYPT_ONLY):
        return None
    value, pos = read_mpi(body, 10)
    if pos != len(body):
        raise Malformed("trailing bytes in PKESK")
    return keyid, algo, value


def unwrap_session_key(plain: bytes) -> tuple[int, bytes] | None:
    """Parse a decrypted PKESK payload; None when its shape or checksum is wrong."""
    if not plain:
        return None
    size = SYMMETRIC_KEY_SIZES.get(plain[0])
    if size is None or len(plain) != size + 3:
        return None
    key = plain[1:-2]
    # Not constant time, and it need not be: the caller substitutes a random key on failure
    # and carries on, so a wrong checksum looks exactly like a wrong key further down.
    if int.from_bytes(plain[-2:], "big") != sum(key) & 0xFFFF:
        return None
    return plain[0], key


def encrypt_seipd(key: bytes, plaintext: bytes) -> bytes:
    """A SEIPD v1 packet: OpenPGP CFB (no resync), a random prefix and the SHA-1 MDC."""
    prefix = os.urandom(_BLOCK)
    prefix += prefix[-2:]
    mdc = hashlib.sha1(prefix)  # noqa: S324 - the MDC is SHA-1 by definition (RFC 4880 5.14)
    mdc.update(plaintext)
    mdc.update(_MDC_HEADER)
    enc = Cipher(AES(key), CFB(b"\x00" * _BLOCK)).encryptor()
    body = b"\x01" + enc.update(prefix) + enc.update(plaintext)
    body += enc.update(_MDC_HEADER + mdc.digest()) + enc.finalize()
    return packet(TAG_SEIPD, body)


def decrypt_seipd(key: bytes, body: bytes) -> bytes | None:
    """Decrypt a SEIPD v1 body; the content when the MDC matches, else None.

    The two "quick check" octets of the prefix are not looked at: used as an early exit they
    are an oracle (Mister and Zuccherato, 2005). Every candidate key pays the full decryption
    and the MDC comparison.
    """
    if len(body) < 1 + _BLOCK + 2 + 22 or body[0] != 1:
        return None
    dec = Cipher(AES(key), CFB(b"\x00" * _BLOCK)).decryptor()
    plain = dec.update(memoryview(body)[1:]) + dec.finalize()
    content_end = len(plain) - 22
    mdc = hashlib.sha1(memoryview(plain)[:content_end])  # noqa: S324 - see encrypt_seipd
    mdc.update(_MDC_HEADER)
    ok = plain[content_end : content_end + 2] == _MDC_HEADER
    if not hmac.compare_digest(mdc.digest(), plain[content_end + 2 :]) or not ok:
        return None
    return plain[_BLOCK + 2 : content_end]
