"""Numbers of the OpenPGP registries this subset uses (RFC 4880 section 9), and `Malformed`.

Errors: every problem with the bytes raises `Malformed`, an internal exception that the codec
turns into the library's one opaque error. Its text is for the test suite, never shown.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives import hashes

from .... import _policy


class Malformed(Exception):
    """The bytes break the subset's grammar or a bound. Internal: never leaves the codec."""


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
TAG_PADDING: Final = 21

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
#: The digests this package can compute at all, and their hashlib and display names.
CRYPTO_HASHES: Final[dict[int, hashes.HashAlgorithm]] = {
    HASH_SHA1: hashes.SHA1(),  # noqa: S303 - only for old key self-signatures, see docs/pgp.md
    HASH_SHA256: hashes.SHA256(),
    HASH_SHA384: hashes.SHA384(),
    HASH_SHA512: hashes.SHA512(),
    HASH_SHA224: hashes.SHA224(),
}
HASHLIB_NAMES: Final = {alg: h.name for alg, h in CRYPTO_HASHES.items()}
HASH_NAMES: Final = {HASH_MD5: "MD5"} | {alg: h.name.upper() for alg, h in CRYPTO_HASHES.items()}

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
SUB_PREFERRED_AEAD: Final = 39
#: What a key's self-signature asks peers to send: ciphers, hashes, compression, AEAD
#: ciphersuites (RFC 9580 5.2.3.15) and features.
PREFERENCE_SUBPACKETS: Final = frozenset(
    {SUB_PREFERRED_SYMMETRIC, SUB_PREFERRED_HASH, SUB_PREFERRED_COMPRESSION, SUB_FEATURES,
     SUB_PREFERRED_AEAD}
)
#: Feature flags (first octet of the features subpacket): SEIPD v1 (the MDC), the LibrePGP
#: OCB-encrypted data packet (GnuPG 2.3 and later), LibrePGP v5 keys, SEIPD v2 (RFC 9580).
FEATURE_SEIPD_V1: Final = 0x01
FEATURE_LIBREPGP_OCB: Final = 0x02
FEATURE_LIBREPGP_V5_KEYS: Final = 0x04
FEATURE_SEIPD_V2: Final = 0x08

#: Subpackets whose meaning we apply or which are informational only; a *critical* subpacket
#: outside this set makes the signature invalid (RFC 4880 section 5.2.3.1). Notation data (20)
#: and regular expressions (6) are left out on purpose: we do not evaluate them. Intended
#: recipient fingerprints (35) are applied, critical or not, by the pgp codec's verification.
UNDERSTOOD_SUBPACKETS: Final = frozenset(
    {2, 3, 4, 5, 7, 9, 11, 12, 16, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 39}
)

# Key flags are Google's rules as much as wire format: defined once, in _policy.
FLAG_CERTIFY: Final = _policy.FLAG_CERTIFY
FLAG_SIGN: Final = _policy.FLAG_SIGN
FLAG_ENCRYPT: Final = _policy.FLAG_ENCRYPT
