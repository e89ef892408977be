"""The in-process EME-OAEP decoding used with tokens that lack SHA-2 OAEP, against
`cryptography`'s OAEP encryption and raw RSA with the private numbers."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gpay_envelope.pkcs11._oaep import oaep_decode

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
K = 256


def _raw(ciphertext: bytes) -> bytes:
    n = KEY.public_key().public_numbers().n
    d = KEY.private_numbers().d
    return pow(int.from_bytes(ciphertext, "big"), d, n).to_bytes(K, "big")


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA1(), hashes.SHA512()])
@pytest.mark.parametrize("message", [b"", b"\x00", b"\x01" * 32, b"m" * 62])
def test_decodes_what_cryptography_encrypts(algorithm, message):
    pad = padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)
    ct = KEY.public_key().encrypt(message, pad)
    assert oaep_decode(_raw(ct), K, algorithm) == message


def test_every_corruption_is_the_same_value_error():
    algorithm = hashes.SHA256()
    pad = padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)
    em = bytearray(_raw(KEY.public_key().encrypt(b"k" * 32, pad)))
    for position in (0, 1, 40, 100, K - 1):
        bad = bytearray(em)
        bad[position] ^= 0x01
        with pytest.raises(ValueError, match=r"^decryption failed$"):
            oaep_decode(bytes(bad), K, algorithm)
    with pytest.raises(ValueError, match=r"^decryption failed$"):
        oaep_decode(bytes(em), K, hashes.SHA1())  # the label hash of another function
