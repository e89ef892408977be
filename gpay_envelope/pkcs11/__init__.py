"""Keys whose private half stays in a PKCS#11 token (an HSM), for both codecs.

Needs the ``pkcs11`` extra (``pip install "gpay-envelope[pkcs11]"``, python-pkcs11); nothing
else in the package imports this one. A token key is a `Key` like any other: it joins a
`KeySet`, a keyset manifest and rotation; only its private operations run in the token.
See docs/hsm.md.
"""

from __future__ import annotations

from ..errors import KeyUnavailable
from ._keys import generate_token_key, open_token, token_key
from ._ops import TokenRSAKey
from ._token import DEFAULT_PIN_ENV, Token
from ._uri import TokenURI, parse_uri

__all__ = [
    "DEFAULT_PIN_ENV",
    "KeyUnavailable",
    "Token",
    "TokenRSAKey",
    "TokenURI",
    "generate_token_key",
    "open_token",
    "parse_uri",
    "token_key",
]
