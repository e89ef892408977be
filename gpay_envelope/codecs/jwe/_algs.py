"""The JWE codec's algorithm tables: seal profiles, what open accepts, what keys may be bound to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CEK_BYTES",
    "JWE_HEADERS",
    "JWE_KEY_ALGS",
    "JWS_ALGS",
    "JWS_HEADERS",
    "JWS_OPEN_ALGS",
    "OPEN_ALGS",
    "OPEN_ENCS",
    "PROFILES",
    "SIGN_PREFERENCE",
    "Profile",
]


@dataclass(frozen=True)
class Profile:
    """A named set of algorithms for sealing."""

    name: str
    alg: str
    enc: str
    zip: bool
    needs_signer: bool


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("signed", "RSA-OAEP-256", "A256GCM", zip=False, needs_signer=True),
        Profile("legacy", "RSA1_5", "A256CBC-HS512", zip=True, needs_signer=False),
        Profile("legacy-a128", "RSA1_5", "A128CBC-HS256", zip=True, needs_signer=False),
    )
}

#: What open accepts at all; each key narrows it further to the algorithms it is bound to.
OPEN_ALGS = frozenset({"RSA-OAEP-256", "RSA-OAEP", "RSA1_5"})
OPEN_ENCS = frozenset(
    {"A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512"}
)
JWE_HEADERS = frozenset({"alg", "enc", "zip", "kid", "cty", "typ"})
JWS_OPEN_ALGS = ("RS256", "PS256", "ES256", "RS384", "RS512", "PS384", "PS512")
JWS_HEADERS = frozenset({"alg", "kid", "typ", "cty"})
#: Signature algorithm preference when a signing key is bound to several.
SIGN_PREFERENCE = ("RS256", "PS256", "ES256", "RS384", "PS384", "RS512", "PS512")


#: Key-management algorithms a JWE-codec key may be bound to.
JWE_KEY_ALGS: Final = frozenset({"RSA-OAEP-256", "RSA-OAEP", "RSA1_5"})
#: Signature algorithms a JWE-codec key may be bound to (for the nested JWS).
JWS_ALGS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256"})
#: Content-encryption key size per ``enc``, in bytes.
CEK_BYTES: Final = {
    "A128CBC-HS256": 32,
    "A192CBC-HS384": 48,
    "A256CBC-HS512": 64,
    "A128GCM": 16,
    "A192GCM": 24,
    "A256GCM": 32,
}
