"""EME-OAEP decoding (RFC 8017 section 7.1.2) of a raw RSA result, for tokens that offer
``CKM_RSA_PKCS_OAEP`` with SHA-1 only (SoftHSM 2.6) but raw RSA (``CKM_RSA_X_509``).

The private exponent still never leaves the token; only the padding is removed here. Every
check runs on every input and the verdicts are combined at the end, so the code takes one
path whatever is wrong (the leading octet, the label hash or the separator: Manger's attack
needs to tell the first apart). Python gives no constant-time guarantee; docs/hsm.md says so.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes

__all__ = ["oaep_decode"]


def _mgf1(seed: bytes, length: int, algorithm: hashes.HashAlgorithm) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        h = hashes.Hash(algorithm)
        h.update(seed + counter.to_bytes(4, "big"))
        out += h.finalize()
        counter += 1
    return out[:length]


def _xor(a: bytes, b: bytes) -> bytes:
    # Octet by octet: the integer XOR this replaces took time by the values' magnitudes, so
    # by how many leading octets of the masked seed and data block (the decrypted block) are
    # zero.
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def oaep_decode(em: bytes, k: int, algorithm: hashes.HashAlgorithm) -> bytes:
    """The message inside the encoded block ``em`` (``k`` octets, the modulus size), with
    an empty label and MGF1 over ``algorithm``. Raises `ValueError` on any mismatch."""
    h_len = algorithm.digest_size
    if k < 2 * h_len + 2:
        raise ValueError("decryption failed")
    em = em.rjust(k, b"\x00")[-k:]
    y, masked_seed, masked_db = em[0], em[1 : 1 + h_len], em[1 + h_len :]
    seed = _xor(masked_seed, _mgf1(masked_db, h_len, algorithm))
    db = _xor(masked_db, _mgf1(seed, k - h_len - 1, algorithm))
    empty = hashes.Hash(algorithm)
    label_ok = hmac.compare_digest(db[:h_len], empty.finalize())
    # Find the 0x01 separator after the zero padding without stopping early.
    found, index, bad = 0, 0, 0
    for i, octet in enumerate(db[h_len:]):
        is_one = int(octet == 1)
        is_zero = int(octet == 0)
        first = is_one & (1 - found)
        index |= i * first
        bad |= (1 - found) & (1 - is_one) & (1 - is_zero)
        found |= is_one
    if y != 0 or not label_ok or not found or bad:
        raise ValueError("decryption failed")
    return db[h_len + index + 1 :]
