"""The JWE codec's steps done with `cryptography` directly, for the algorithms it uses most.

Open: RSA-OAEP or RSA-OAEP-256 key unwrap and AES-GCM content decryption (`decrypt_gcm`), and
RSASSA signature checks (`verify_rsa`). Seal: the same pair (`encrypt_gcm`) and RSASSA
signatures (`sign_compact`). Everything else (RSA1_5, AES-CBC-HMAC, ES256) goes through
joserfc's models (`_joserfc`). These functions do the cryptography only: the header rules,
size caps and key routing stay where they are for every algorithm (`_codec`, `_joserfc`), and
private-key operations still go through the key's `RSAPrivateOps` (``JWKMaterial.rsa_private``:
the same object joserfc's ``get_op_key`` gives), so a token-held key works the same way.

Each check joserfc's models make on these algorithms is made here too: a 96-bit IV, a 128-bit
tag, a content key of the size ``enc`` needs (any other size fails like a wrong key), the
protected header as it came as the additional authenticated data, an RSA key of at least
2048 bits to seal to.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..._b64 import b64url_encode

__all__ = ["GCM_KEY_BYTES", "OAEP", "RSA_SIGNATURES", "decrypt_gcm", "encrypt_gcm",
           "sign_compact", "verify_rsa"]  # fmt: skip

OAEP: dict[str, padding.OAEP] = {
    "RSA-OAEP-256": padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
    ),
    # RFC 7518 section 4.3 defines RSA-OAEP with SHA-1 (for OAEP, not a collision use).
    "RSA-OAEP": padding.OAEP(
        mgf=padding.MGF1(hashes.SHA1()),  # noqa: S303
        algorithm=hashes.SHA1(),  # noqa: S303
        label=None,
    ),
}
GCM_KEY_BYTES = {"A128GCM": 16, "A192GCM": 24, "A256GCM": 32}
_IV_BYTES = 12
_TAG_BYTES = 16
# Below this many bytes of ciphertext, joining it to the tag costs less than setting up the
# streaming cipher.
_JOIN_MAX = 1 << 16
# What joserfc's RSA key-encryption models require of a key to seal to.
_MIN_SEAL_BITS = 2048


def _pss(h: hashes.HashAlgorithm) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)


#: JWS algorithm -> (padding, hash) for the RSASSA family (RFC 7518 sections 3.3 and 3.5).
RSA_SIGNATURES: dict[str, tuple[padding.AsymmetricPadding, hashes.HashAlgorithm]] = {
    "RS256": (padding.PKCS1v15(), hashes.SHA256()),
    "RS384": (padding.PKCS1v15(), hashes.SHA384()),
    "RS512": (padding.PKCS1v15(), hashes.SHA512()),
    "PS256": (_pss(hashes.SHA256()), hashes.SHA256()),
    "PS384": (_pss(hashes.SHA384()), hashes.SHA384()),
    "PS512": (_pss(hashes.SHA512()), hashes.SHA512()),
}


def decrypt_gcm(
    ops: Any, alg: str, enc: str, encrypted_key: bytes, iv: bytes, ciphertext: bytes, tag: bytes,
    aad: bytes,
) -> bytes:  # fmt: skip
    """The content of one compact JWE.

    ``ops`` is the recipient key's private half (`RSAPrivateOps`). Raises ValueError when the
    key does not decrypt, whatever the reason, so a wrong key, a bad padding and a bad tag
    look the same; errors the key itself raises (a token that is gone) pass through.
    """
    if len(iv) != _IV_BYTES or len(tag) != _TAG_BYTES:
        raise ValueError("bad IV or tag length")
    cek = ops.decrypt(encrypted_key, OAEP[alg])
    if len(cek) != GCM_KEY_BYTES[enc]:
        raise ValueError("the content key has the wrong size")
    try:
        if len(ciphertext) < _JOIN_MAX:
            return AESGCM(cek).decrypt(iv, ciphertext + tag, aad)
        # A large body is not joined to its tag (a copy of the whole ciphertext): the
        # streaming interface takes the tag apart and checks it at finalize.
        decryptor = Cipher(algorithms.AES(cek), modes.GCM(iv, tag)).decryptor()
        decryptor.authenticate_additional_data(aad)
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag:
        raise ValueError("the content does not authenticate") from None


def encrypt_gcm(public: rsa.RSAPublicKey, header: dict[str, Any], payload: bytes) -> bytes:
    """A compact JWE of ``payload`` (already compressed if ``header`` says ``zip``) for the
    RSA-OAEP(-256) / AES-GCM pair ``header`` names."""
    if public.key_size < _MIN_SEAL_BITS:
        raise ValueError(f"a key of at least {_MIN_SEAL_BITS} bits must be used")
    protected = _encoded_header(tuple(header.items()))
    cek = os.urandom(GCM_KEY_BYTES[header["enc"]])
    iv = os.urandom(_IV_BYTES)
    encrypted_key = public.encrypt(cek, OAEP[header["alg"]])
    sealed = AESGCM(cek).encrypt(iv, payload, protected)
    return b".".join(
        (
            protected,
            b64url_encode(encrypted_key, pad=False),
            b64url_encode(iv, pad=False),
            b64url_encode(sealed[:-_TAG_BYTES], pad=False),
            b64url_encode(sealed[-_TAG_BYTES:], pad=False),
        )
    )


def sign_compact(ops: Any, header: dict[str, Any], payload: bytes) -> bytes:
    """A compact JWS of ``payload`` by ``ops`` (`RSAPrivateOps`) with the RSASSA algorithm
    ``header`` names."""
    pad, h = RSA_SIGNATURES[header["alg"]]
    head = _encoded_header(tuple(header.items()))
    signing_input = head + b"." + b64url_encode(payload, pad=False)
    return signing_input + b"." + b64url_encode(ops.sign(signing_input, pad, h), pad=False)


def verify_rsa(public: rsa.RSAPublicKey, alg: str, signing_input: Any, signature: bytes) -> bool:
    """Whether ``signature`` is ``public``'s RSASSA signature ``alg`` over ``signing_input``."""
    pad, h = RSA_SIGNATURES[alg]
    try:
        public.verify(signature, signing_input, pad, h)
    except InvalidSignature:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _encoded_header(items: tuple[tuple[str, Any], ...]) -> bytes:
    # A sealer writes the same few headers (one per profile and key) over and over; encoding
    # one costs more than the AES-GCM of a 1 KiB payload. The spelling is joserfc's: ASCII
    # only, no spaces, keys in the order given.
    text = json.dumps(dict(items), ensure_ascii=True, separators=(",", ":"))
    return b64url_encode(text.encode("ascii"), pad=False)
