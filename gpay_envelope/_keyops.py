"""The one narrow interface every private-key operation goes through.

Both codecs decrypt (RSA PKCS#1 v1.5, OAEP) and sign (PKCS#1 v1.5, PSS) only by calling these
methods on the object their key material holds. A `cryptography` RSA private key satisfies
the interface as it is, so keys in memory cost nothing extra; a key held outside the process
(an HSM token) is another object with the same four members, and no codec code changes.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

__all__ = ["RSAPrivateOps"]


class RSAPrivateOps(Protocol):
    """An RSA private key seen only through the operations the codecs need.

    ``decrypt`` raises `ValueError` when the ciphertext does not decrypt (a backend with
    implicit rejection returns a synthetic message for a bad PKCS#1 v1.5 padding instead);
    the codecs treat both alike, so neither shows which happened.
    """

    @property
    def key_size(self) -> int:
        """The modulus size in bits."""
        ...

    def public_key(self) -> rsa.RSAPublicKey:
        """The public half, as a `cryptography` object."""
        ...

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        """RSA decryption of ``ciphertext`` with ``padding`` (PKCS1v15 or OAEP)."""
        ...

    def sign(
        self,
        data: bytes,
        padding: AsymmetricPadding,
        algorithm: hashes.HashAlgorithm | Prehashed,
    ) -> bytes:
        """An RSA signature over ``data`` (or over a digest, with `Prehashed`)."""
        ...
