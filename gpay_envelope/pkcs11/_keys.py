"""Token keys as `Key` objects of either codec: loaded from a public half, or generated."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import Attribute, KeyType

from .. import _policy
from .._keys import Key, KeyStatus
from ..errors import KeySetError, KeyUnavailable
from ._ops import TokenRSAKey, find_private_key
from ._token import Token
from ._uri import TokenURI, parse_uri

__all__ = ["generate_token_key", "open_token", "token_key"]

_tokens: dict[tuple[str, str | None], Token] = {}
_tokens_lock = threading.Lock()


def open_token(
    uri: str,
    *,
    module_path: str | None = None,
    pin_env: str | None = None,
    pin_file: str | None = None,
) -> Token:
    """The `Token` a URI names, shared by every key of the process that names it (one
    session pool, one login per token)."""
    parsed = parse_uri(uri)
    # One Token per physical token: PKCS#11 logs in per application and token.
    ident = (f"{parsed.token}|{parsed.serial}", module_path or parsed.module_path)
    with _tokens_lock:
        token = _tokens.get(ident)
        if token is None:
            token = Token(parsed, module_path=module_path, pin_env=pin_env, pin_file=pin_file)
            _tokens[ident] = token
    return token


def _held(token: Token, uri: TokenURI, public: rsa.RSAPublicKey) -> TokenRSAKey | None:
    """The token key with this public half, or None when the token has none."""
    try:
        token.call(lambda s: find_private_key(s, uri, public))
    except KeyUnavailable as exc:
        if "match the public key" in str(exc):
            return None
        raise
    return TokenRSAKey(token, public, uri)


def token_key(
    uri: str,
    *,
    public: bytes | str,
    kid: str | None = None,
    module_path: str | None = None,
    pin_env: str | None = None,
    pin_file: str | None = None,
    algorithms: Iterable[str] | None = None,
    legacy: bool = False,
    status: KeyStatus = KeyStatus.ENABLED,
) -> Key:
    """A `Key` whose private half is in the token ``uri`` names, its public half ``public``.

    ``public`` is a JWK or a JWK Set (the jwe codec; ``kid`` picks one key of a set) or an
    OpenPGP public key (the pgp codec); the token
    key is the private RSA key with the same modulus (and the URI's ``object`` / ``id``).
    For an OpenPGP key every part the token holds is used; a part it does not hold stays
    public. The key is looked up now, so a missing key fails here, not at the first envelope.

    Raises:
        KeySetError: a bad URI, no PIN, ``public`` is not a public key, or the token holds
            no private half of it.
        KeyUnavailable: the token cannot be reached or refused the PIN.
    """
    token = open_token(uri, module_path=module_path, pin_env=pin_env, pin_file=pin_file)
    where = parse_uri(uri)
    text = public.decode("utf-8", "replace") if isinstance(public, bytes) else public
    if text.lstrip().startswith("{"):
        return _jwe_key(token, where, text, kid, algorithms, legacy, status)
    return _pgp_key(token, where, public, status)


def _jwe_key(
    token: Token,
    where: TokenURI,
    jwk: str,
    kid: str | None,
    algorithms: Iterable[str] | None,
    legacy: bool,
    status: KeyStatus,
) -> Key:
    from ..codecs.jwe import JWKMaterial, key_from_jwk, keys_from_jwks

    if '"keys"' in jwk:  # a JWK Set, as `keys generate` writes it: the key named, or its one key
        found = keys_from_jwks(jwk, algorithms=algorithms, legacy=legacy, status=status)
        found = [k for k in found if kid is None or k.kid == kid]
        if len(found) != 1:
            raise KeySetError(f"the JWK Set holds {len(found)} keys that match; name one by kid")
        key = found[0]
    else:
        key = key_from_jwk(jwk, algorithms=algorithms, legacy=legacy, status=status)
    material = key.material
    assert isinstance(material, JWKMaterial)
    if key.has_secret or not isinstance(material.native, rsa.RSAPublicKey):
        raise KeySetError(f"key {key.kid!r}: a token key is given by its RSA public half only")
    held = _held(token, where, material.native)
    if held is None:
        raise KeySetError(f"key {key.kid!r}: {token.uri} holds no private half of it")
    return _rebind(key, JWKMaterial(material.native, held=held))


def _pgp_key(token: Token, where: TokenURI, data: bytes | str, status: KeyStatus) -> Key:
    from ..codecs.pgp import PGPMaterial, keys_from_pgp

    keys = keys_from_pgp(data, status=status)
    if len(keys) != 1 or keys[0].has_secret:
        raise KeySetError("a token key is given by one OpenPGP public key")
    (key,) = keys
    material = key.material
    assert isinstance(material, PGPMaterial)
    found = {}
    for part in material.parts:
        held = _held(token, where, part.public_key)
        if held is not None:
            found[part.keyid] = held
    if not found:
        raise KeySetError(f"key {key.kid}: {token.uri} holds no private half of it")
    return _rebind(key, material.with_secrets(found))


def _rebind(key: Key, material: Any) -> Key:
    return Key(
        kid=key.kid,
        codec=key.codec,
        material=material,
        algorithms=key.algorithms,
        use=key.use,
        status=key.status,
        not_before=key.not_before,
        not_after=key.not_after,
    )


def _generate_pair(token: Token, uri: str, size: int, key_id: bytes) -> rsa.RSAPublicKey:
    """A non-extractable RSA key pair made in the token; its public half."""
    label = parse_uri(uri).object or "gpay-envelope"
    common: dict[Any, Any] = {Attribute.TOKEN: True, Attribute.ID: key_id, Attribute.LABEL: label}
    private = {
        **common,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.DECRYPT: True,
        Attribute.SIGN: True,
        Attribute.UNWRAP: False,
    }
    public = {**common, Attribute.ENCRYPT: True, Attribute.VERIFY: True}

    def make(session: Any) -> tuple[bytes, bytes]:
        pub, _ = session.generate_keypair(
            KeyType.RSA,
            size,
            store=True,
            public_template=public,
            private_template=private,
        )
        return bytes(pub[Attribute.MODULUS]), bytes(pub[Attribute.PUBLIC_EXPONENT])

    n, e = token.call(make)
    return rsa.RSAPublicNumbers(int.from_bytes(e, "big"), int.from_bytes(n, "big")).public_key()


def generate_token_key(
    uri: str,
    *,
    codec: str,
    kid: str | None = None,
    uid: str | None = None,
    size: int = _policy.DEFAULT_RSA_BITS,
    use: str | None = "enc",
    legacy: bool = False,
    expires: timedelta = _policy.DEFAULT_LIFETIME,
    module_path: str | None = None,
    pin_env: str | None = None,
    pin_file: str | None = None,
) -> tuple[Key, bytes]:
    """Make a non-extractable RSA key in the token and return it with its public half.

    ``codec="jwe"``: one key pair, the public half a JWK (``kid`` required) valid from now for
    ``expires``. ``codec="pgp"``:
    two key pairs (primary: certify and sign; subkey: encrypt), the public half an armored
    OpenPGP public key whose self-signatures the token made (``uid`` required).

    Raises:
        KeySetError: a bad URI, size, lifetime, missing ``kid`` / ``uid``, or no PIN.
        KeyUnavailable: the token cannot be reached or refused the PIN.
    """
    if not _policy.MIN_RSA_BITS <= size <= _policy.MAX_RSA_BITS:
        raise KeySetError(
            f"RSA-{size}: the size must be from {_policy.MIN_RSA_BITS} to {_policy.MAX_RSA_BITS}"
        )
    if not timedelta(0) < expires <= _policy.MAX_LIFETIME:
        raise KeySetError("a key must expire within two years (Google's rules)")
    token = open_token(uri, module_path=module_path, pin_env=pin_env, pin_file=pin_file)
    if codec == "jwe":
        if not kid:
            raise KeySetError("a JWK needs a kid")
        return _generate_jwk(token, uri, kid, size, use, legacy, expires)
    if codec == "pgp":
        if not uid or not uid.isprintable():
            raise KeySetError("uid must be a printable string such as 'Name <email>'")
        return _generate_pgp(token, uri, uid, size, expires, module_path, pin_env, pin_file)
    raise KeySetError(f"codec must be 'jwe' or 'pgp', not {codec!r}")


def _generate_jwk(
    token: Token,
    uri: str,
    kid: str,
    size: int,
    use: str | None,
    legacy: bool,
    expires: timedelta,
) -> tuple[Key, bytes]:
    import json
    from datetime import datetime, timezone

    from ..codecs.jwe import JWKMaterial, key_to_jwk
    from ..codecs.jwe._keyio import Binding, _bind

    public = _generate_pair(token, uri, size, secrets.token_bytes(16))
    # A validity window like a file key's (`keys generate`): from now, for ``expires``.
    now = datetime.now(timezone.utc).replace(microsecond=0)
    binding = Binding(None, legacy, KeyStatus.ENABLED, now, now + expires)
    held = TokenRSAKey(token, public, parse_uri(uri))
    key = _bind(kid, JWKMaterial(public, held=held), use=use, alg=None, binding=binding)
    return key, json.dumps(key_to_jwk(key), indent=2).encode() + b"\n"


def _generate_pgp(
    token: Token,
    uri: str,
    uid: str,
    size: int,
    expires: timedelta,
    module_path: str | None,
    pin_env: str | None,
    pin_file: str | None,
) -> tuple[Key, bytes]:
    from ..codecs.pgp import build_public_key, key_to_pgp

    primary = _generate_pair(token, uri, size, secrets.token_bytes(16))
    subkey = _generate_pair(token, uri, size, secrets.token_bytes(16))
    blob = build_public_key(
        uid=uid,
        primary=TokenRSAKey(token, primary, parse_uri(uri)),
        subkey=subkey,
        created=int(time.time()),
        expires_after=int(expires.total_seconds()),
    )
    key = token_key(uri, public=blob, module_path=module_path, pin_env=pin_env, pin_file=pin_file)
    return key, key_to_pgp(key)
