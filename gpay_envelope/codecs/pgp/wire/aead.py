"""Version 2 symmetrically encrypted, integrity protected data (RFC 9580 section 5.13.2):
chunked AEAD with EAX, OCB or GCM, keyed through HKDF-SHA256 from the session key and a salt.

Only decryption: ``seal`` writes SEIPD v1, which every peer (Google's included) reads. The
whole message is authenticated, every chunk and the final tag over the total length, before
a single octet of plaintext is returned, so a truncated, reordered or altered message yields
nothing at all, exactly as a SEIPD v1 message with a bad MDC does.
"""

from __future__ import annotations

import hmac
import struct
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESOCB3
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CTR
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .registry import SYMMETRIC_KEY_SIZES, TAG_SEIPD

AEAD_EAX: Final = 1
AEAD_OCB: Final = 2
AEAD_GCM: Final = 3
AEAD_NAMES: Final = {AEAD_EAX: "EAX", AEAD_OCB: "OCB", AEAD_GCM: "GCM"}
#: Nonce sizes (RFC 9580 sections 5.13.3 to 5.13.5); the last 8 octets are the chunk index.
NONCE_SIZES: Final = {AEAD_EAX: 16, AEAD_OCB: 15, AEAD_GCM: 12}
TAG_SIZE: Final = 16
SALT_SIZE: Final = 32
#: Version, cipher, AEAD algorithm, chunk size octet, salt.
HEADER_SIZE: Final = 4 + SALT_SIZE
#: Largest chunk size octet a reader must accept (4 MiB chunks); larger ones are refused.
MAX_CHUNK_OCTET: Final = 16
_BLOCK: Final = 16


class _AEAD(Protocol):
    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class EAX:
    """EAX mode (Bellare, Rogaway and Wagner, 2004) over AES: CTR for secrecy, OMAC (CMAC
    with a one-block tweak) over the nonce, the header and the ciphertext for the tag.
    `cryptography` offers GCM and OCB but not EAX, which RFC 9580 makes mandatory."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _omac(self, tweak: int, data: bytes) -> bytes:
        mac = CMAC(AES(self._key))
        mac.update(bytes(_BLOCK - 1) + bytes((tweak,)))
        mac.update(data)
        return mac.finalize()

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Ciphertext and 16-octet tag (used by tests and peers' vectors only)."""
        n = self._omac(0, nonce)
        enc = Cipher(AES(self._key), CTR(n)).encryptor()
        ct = enc.update(data) + enc.finalize()
        tag = _xor3(n, self._omac(1, associated_data or b""), self._omac(2, ct))
        return ct + tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """Plaintext, or `InvalidTag` when the tag does not match (checked before decrypting)."""
        if len(data) < TAG_SIZE:
            raise InvalidTag
        ct, tag = data[:-TAG_SIZE], data[-TAG_SIZE:]
        n = self._omac(0, nonce)
        want = _xor3(n, self._omac(1, associated_data or b""), self._omac(2, ct))
        if not hmac.compare_digest(want, tag):
            raise InvalidTag
        dec = Cipher(AES(self._key), CTR(n)).decryptor()
        return dec.update(ct) + dec.finalize()


def _xor3(a: bytes, b: bytes, c: bytes) -> bytes:
    n = int.from_bytes(a, "big") ^ int.from_bytes(b, "big") ^ int.from_bytes(c, "big")
    return n.to_bytes(_BLOCK, "big")


def _cipher(aead: int, key: bytes) -> _AEAD:
    if aead == AEAD_GCM:
        return AESGCM(key)
    if aead == AEAD_OCB:
        return AESOCB3(key)
    return EAX(key)


def seipd2_params(body: bytes) -> tuple[int, int] | None:
    """(cipher, AEAD algorithm) of a SEIPD v2 body we can decrypt; None for any other body.

    Checked before any private-key operation, so a message in a mode we do not read costs none.
    """
    if len(body) < HEADER_SIZE + TAG_SIZE or body[0] != 2:
        return None
    cipher, aead, chunk_octet = body[1], body[2], body[3]
    if cipher not in SYMMETRIC_KEY_SIZES or aead not in NONCE_SIZES:
        return None
    if chunk_octet > MAX_CHUNK_OCTET:
        return None
    return cipher, aead


def message_key(session_key: bytes, body: bytes) -> tuple[bytes, bytes]:
    """The message key and IV that HKDF-SHA256 derives from the session key and the salt,
    with the packet's first five octets (in OpenPGP packet format) as info."""
    cipher, aead = body[1], body[2]
    size = SYMMETRIC_KEY_SIZES[cipher]
    iv_size = NONCE_SIZES[aead] - 8
    info = bytes((0xC0 | TAG_SEIPD,)) + body[:4]
    okm = HKDF(hashes.SHA256(), size + iv_size, salt=body[4:HEADER_SIZE], info=info).derive(
        session_key
    )
    return okm[:size], okm[size:]


def decrypt_seipd2(session_key: bytes, body: bytes) -> bytes | None:
    """Decrypt a SEIPD v2 body (checked by `seipd2_params`); the plaintext when every chunk tag
    and the final tag verify, else None.

    The chunk size comes from the message, but the chunks are slices of ``body``, so no chunk
    size makes this hold more than ``body`` and the plaintext it authenticates.
    """
    if len(session_key) != SYMMETRIC_KEY_SIZES[body[1]]:
        return None
    key, iv = message_key(session_key, body)
    aead = _cipher(body[2], key)
    ad = bytes((0xC0 | TAG_SEIPD,)) + body[:4]
    chunk = (1 << (body[3] + 6)) + TAG_SIZE
    view = memoryview(body)
    data, final_tag = view[HEADER_SIZE:-TAG_SIZE], view[-TAG_SIZE:]
    if not data:
        return None  # a v2 SEIPD holds one or more chunks, each with its tag
    out = bytearray()
    index = 0
    try:
        for start in range(0, len(data), chunk):
            piece = data[start : start + chunk]
            if len(piece) < TAG_SIZE:
                return None
            out += aead.decrypt(iv + struct.pack(">Q", index), bytes(piece), ad)
            index += 1
        total = struct.pack(">Q", len(out))
        aead.decrypt(iv + struct.pack(">Q", index), bytes(final_tag), ad + total)
    except InvalidTag:
        return None
    return bytes(out)
