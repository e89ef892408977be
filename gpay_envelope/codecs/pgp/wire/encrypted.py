"""Public-key encrypted session keys (RFC 9580 section 5.1: v3, and v6 for SEIPD v2) and
symmetrically encrypted, integrity protected data, version 1 (RFC 4880 sections 5.13 and
5.14: OpenPGP CFB and the MDC). Version 2 of the encrypted data is in `aead`."""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from typing import Final

from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES

from .packets import mpi, packet, read_mpi
from .registry import (
    PK_RSA,
    PK_RSA_ENCRYPT_ONLY,
    SYMMETRIC_KEY_SIZES,
    TAG_PKESK,
    TAG_SEIPD,
    Malformed,
)

_BLOCK: Final = 16
_MDC_HEADER: Final = b"\xd3\x14"  # new-format tag 19, length 20
_PKCS1: Final = padding.PKCS1v15()


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


#: Length octet of a v6 PKESK's recipient: key version 4 and its 20-octet fingerprint.
_V4_RECIPIENT: Final = 21


def parse_pkesk6(body: bytes) -> tuple[bytes | None, bytes] | None:
    """Return (v4 fingerprint named, or None for an anonymous recipient; encrypted value) of
    a v6 PKESK for an RSA key; None for other algorithms, versions and key versions."""
    if len(body) < 3 or body[0] != 6:
        return None
    size = body[1]
    if size not in (0, _V4_RECIPIENT) or (size and body[2] != 4):
        return None  # v6 keys (32-octet fingerprints) are not ours: we hold v4 keys only
    pos = 2 + size
    if len(body) < pos + 3:
        raise Malformed("truncated PKESK")
    if body[pos] not in (PK_RSA, PK_RSA_ENCRYPT_ONLY):
        return None
    value, end = read_mpi(body, pos + 1)
    if end != len(body):
        raise Malformed("trailing bytes in PKESK")
    return (bytes(body[3:pos]) if size else None), value


def unwrap_session_key6(plain: bytes, size: int) -> bytes | None:
    """Parse a decrypted v6 PKESK payload (no algorithm octet: the SEIPD v2 packet names the
    cipher, whose key is ``size`` octets); None when its length or checksum is wrong."""
    if len(plain) != size + 2:
        return None
    key = plain[:-2]
    # As for v3: the caller carries on with a random key when this fails.
    if int.from_bytes(plain[-2:], "big") != sum(key) & 0xFFFF:
        return None
    return key


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
