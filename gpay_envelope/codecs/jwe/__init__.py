"""The JWE codec: compact JWE (RFC 7516) with a nested compact JWS (RFC 7515).

`JWECodec` seals and opens (`_codec`); JWK, JWK Set and PEM keys are read, written and made by
`_keyio`; the algorithm tables are `_algs`; every use of joserfc beyond its public API is in
`_joserfc`, and the steps done with `cryptography` directly (RSA-OAEP(-256) + AES-GCM, RSASSA)
in `_direct`.
"""

from __future__ import annotations

from ._algs import PROFILES, Profile
from ._codec import JWECodec, implicit_rejection_ok
from ._keyio import (
    JWKMaterial,
    generate_key,
    key_from_jwk,
    key_from_pem,
    key_to_jwk,
    keys_from_jwks,
)

__all__ = [
    "PROFILES",
    "JWECodec",
    "JWKMaterial",
    "Profile",
    "generate_key",
    "implicit_rejection_ok",
    "key_from_jwk",
    "key_from_pem",
    "key_to_jwk",
    "keys_from_jwks",
]
