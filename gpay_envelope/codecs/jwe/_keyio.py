"""Import and export of JWE-codec keys: JWK, JWK Set, PEM; generation. Public-only by default.

Each loader does its work in a private function run through `_keyload.attempt`, so a failure
is raised afresh, after the loader dropped its secret arguments: no frame of the traceback
holds the JWK, the PEM, its password or a parsed private key (see `gpay_envelope._keyload`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey

from ..._b64 import b64url_decode
from ..._keyload import LoadFailure, attempt, settle
from ..._keyops import RSAPrivateOps
from ..._keys import Key, KeyStatus
from ..._policy import DEFAULT_RSA_BITS, MIN_RSA_BITS
from ...errors import KeySetError
from ._algs import JWE_KEY_ALGS, JWS_ALGS

__all__ = [
    "JWKMaterial",
    "generate_key",
    "key_from_jwk",
    "key_from_pem",
    "key_to_jwk",
    "keys_from_jwks",
]

_DEFAULT_ENC = ("RSA-OAEP-256", "RSA-OAEP")
_DEFAULT_RSA_SIG = ("RS256", "PS256")
_MAX_JWKS_KEYS = 64

_NATIVE_TYPES = (
    rsa.RSAPrivateKey,
    rsa.RSAPublicKey,
    ec.EllipticCurvePrivateKey,
    ec.EllipticCurvePublicKey,
)
Native = (
    rsa.RSAPrivateKey | rsa.RSAPublicKey | ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey
)


class JWKMaterial:
    """An RSA or EC key for the JWE codec: the `cryptography` object and joserfc's view of it.

    Built once when the key is loaded, so no operation re-parses or re-validates the key.
    """

    __slots__ = ("held", "jose", "native", "rsa_private", "rsa_public")

    def __init__(self, native: Native, *, held: RSAPrivateOps | None = None) -> None:
        # ``held``: a private half kept outside the process (a token key), with ``native``
        # its public half; joserfc reaches it through `_HeldRSAKey.get_op_key`.
        self.native = native
        self.held = held
        # The RSA halves the direct paths (`_direct`) use, worked out once: asking with an ABC
        # ``isinstance`` on every operation costs more than the rest of the key lookup.
        self.rsa_private: RSAPrivateOps | None = held
        self.rsa_public: rsa.RSAPublicKey | None = None
        if isinstance(native, rsa.RSAPrivateKey):
            self.rsa_private = native
            self.rsa_public = native.public_key()
        elif isinstance(native, rsa.RSAPublicKey):
            self.rsa_public = native
        self.jose: RSAKey | ECKey
        if held is not None:
            if not isinstance(native, rsa.RSAPublicKey):
                raise KeySetError("a key held outside the process is given by its public half")
            self.jose = _HeldRSAKey(native, held)
        elif isinstance(native, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
            self.jose = _LocalRSAKey(native)
        else:
            if not isinstance(native.curve, ec.SECP256R1):
                raise KeySetError(f"EC curve {native.curve.name} is not supported; use P-256")
            self.jose = ECKey(native, native)

    @property
    def has_secret(self) -> bool:
        return self.held is not None or isinstance(
            self.native, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)
        )

    @property
    def kty(self) -> str:
        return "RSA" if isinstance(self.jose, RSAKey) else "EC"

    @property
    def size(self) -> int:
        return self.native.key_size

    @property
    def expires(self) -> datetime | None:
        return None

    @property
    def private_ops(self) -> RSAPrivateOps | None:
        """The RSA private half, seen through the one private-key interface (None for a
        public or an EC key). joserfc reaches the same object through ``get_op_key``."""
        return self.rsa_private

    def check_binding(self, kid: str, use: str | None, algorithms: frozenset[str]) -> None:
        check_binding(kid, self.kty, use, algorithms)

    def public(self) -> JWKMaterial:
        if self.held is not None:
            return JWKMaterial(self.native)
        if isinstance(self.native, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            return JWKMaterial(self.native.public_key())
        return self

    def __repr__(self) -> str:
        return f"<JWKMaterial {self.kty}-{self.size} secret={self.has_secret}>"

    # Never duplicated: a copy (``dataclasses.asdict`` deep-copies what it finds) would be
    # one more place the private numbers live, and joserfc's key caches its JWK members.
    def __copy__(self) -> JWKMaterial:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> JWKMaterial:
        return self

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        if self.has_secret:
            raise TypeError("refusing to pickle key material that holds secret material")
        raise TypeError("key material is not pickled; export the key with to_jwk()")


class _LocalRSAKey(RSAKey):
    """joserfc's RSA key for a key held in the process, with which half it holds worked out
    once: joserfc asks with an ABC ``isinstance`` on every private-key operation."""

    def __init__(self, native: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> None:
        super().__init__(native, native)
        self._private = native if isinstance(native, rsa.RSAPrivateKey) else None

    @property
    def is_private(self) -> bool:
        return self._private is not None

    @property
    def private_key(self) -> rsa.RSAPrivateKey | None:
        return self._private


class _HeldRSAKey(RSAKey):
    """joserfc's RSA key for a private half held outside the process: the public numbers
    for everything joserfc reads, the held object for the private operations."""

    def __init__(self, public: rsa.RSAPublicKey, held: RSAPrivateOps) -> None:
        super().__init__(public, public)
        self._held = held
        self._public_jwk = RSAKey(public, public).dict_value

    @property
    def is_private(self) -> bool:
        # joserfc allows the private operations (sign, decrypt) only on a private key.
        return True

    @property
    def dict_value(self) -> Any:
        # Only public members exist here: the private numbers never leave the token.
        return self._public_jwk

    def get_op_key(self, operation: Any) -> Any:
        self.check_key_op(operation)
        if self.operation_registry[operation].private:
            return self._held
        return self.public_key


def _default_algorithms(kty: str, use: str | None, legacy: bool) -> tuple[str, ...]:
    if kty == "EC":
        return ("ES256",)
    if use == "sig":
        return _DEFAULT_RSA_SIG
    if legacy:
        # RSA1_5 only: a key that also unwraps OAEP, or signs, lets a PKCS#1 v1.5 padding
        # oracle reach those uses too (docs/security.md). Binding several is explicit.
        return ("RSA1_5",)
    if use == "enc":
        return _DEFAULT_ENC
    return (*_DEFAULT_ENC, *_DEFAULT_RSA_SIG)


@dataclass(frozen=True)
class Binding:
    """A loader's options for the key it makes: algorithms (or the defaults, ``legacy`` or
    not), status and validity window. No key material."""

    algorithms: Iterable[str] | None
    legacy: bool
    status: KeyStatus
    not_before: datetime | None
    not_after: datetime | None


def _bind(
    kid: str, material: JWKMaterial, *, use: str | None, alg: str | None, binding: Binding
) -> Key:
    algorithms = binding.algorithms
    if algorithms is not None:
        if isinstance(algorithms, str):
            raise KeySetError(f"key {kid!r}: algorithms must be a collection of names")
        algs = tuple(algorithms)
    elif alg is not None:
        algs = (alg,)
    else:
        algs = _default_algorithms(material.kty, use, binding.legacy)
    use = check_binding(kid, material.kty, use, algs)
    return Key(
        kid=kid,
        codec="jwe",
        material=material,
        algorithms=algs,
        use=use,
        status=binding.status,
        not_before=binding.not_before,
        not_after=binding.not_after,
    )


def check_binding(kid: str, kty: str, use: str | None, algs: Iterable[str]) -> str | None:
    """Check that a JWE-codec key may be bound to ``algs``; return its (inferred) use."""
    algs = tuple(algs)
    for a in algs:
        _check_key_type(kid, kty, a)
    if use is None and algs:
        use = _inferred_use(algs)
    if use == "enc" and any(a in JWS_ALGS for a in algs):
        raise KeySetError(f"key {kid!r} has use 'enc' but is bound to a signature algorithm")
    if use == "sig" and any(a in JWE_KEY_ALGS for a in algs):
        raise KeySetError(f"key {kid!r} has use 'sig' but is bound to an encryption algorithm")
    return use


def _check_key_type(kid: str, kty: str, alg: str) -> None:
    if alg not in JWE_KEY_ALGS and alg not in JWS_ALGS:
        raise KeySetError(f"key {kid!r}: algorithm {alg!r} is not supported")
    if (alg in JWE_KEY_ALGS or alg.startswith(("RS", "PS"))) and kty != "RSA":
        raise KeySetError(f"key {kid!r}: algorithm {alg!r} needs an RSA key")
    if alg == "ES256" and kty != "EC":
        raise KeySetError(f"key {kid!r}: ES256 needs a P-256 key")


def _inferred_use(algs: tuple[str, ...]) -> str | None:
    """"enc" or "sig" when every algorithm is of one kind, else None (both)."""
    if all(a in JWE_KEY_ALGS for a in algs):
        return "enc"
    if all(a in JWS_ALGS for a in algs):
        return "sig"
    return None


def _epoch(kid: str, name: str, value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise KeySetError(f"key {kid!r}: {name} must be seconds since the epoch")
    try:
        return datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, ValueError, OSError):
        raise KeySetError(f"key {kid!r}: {name} is not a usable time") from None


def key_from_jwk(
    jwk: Mapping[str, Any] | str | bytes,
    *,
    algorithms: Iterable[str] | None = None,
    legacy: bool = False,
    status: KeyStatus = KeyStatus.ENABLED,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Key:
    """Load one JWK. See `KeySet.from_jwks` for the algorithm binding rules.

    Raises:
        KeySetError: anything wrong with the JWK or its binding; no ``__context__``, and no
            frame of the traceback holds the JWK or its private key.
    """
    binding = Binding(algorithms, legacy, status, not_before, not_after)
    outcome: Key | LoadFailure = attempt(_key_from_jwk, jwk, binding)
    del jwk
    return settle(outcome)


def _key_from_jwk(jwk: Mapping[str, Any] | str | bytes, binding: Binding) -> Key:
    data = _json_object(jwk, "JWK")
    kty = data.get("kty")
    if kty not in ("RSA", "EC"):
        raise KeySetError(f"unsupported JWK kty {kty!r}; RSA and EC (P-256) are supported")
    if kty == "RSA":
        # Refuse weak keys before joserfc sees them: it would warn (a SecurityWarning that -W
        # error turns into an exception) instead of refusing.
        n = data.get("n")
        try:
            if not isinstance(n, str):
                raise ValueError
            bits = int.from_bytes(b64url_decode(n.encode()), "big").bit_length()
        except (UnicodeEncodeError, ValueError):
            raise KeySetError("the JWK could not be parsed") from None
        if bits < MIN_RSA_BITS:
            raise KeySetError(f"the JWK is RSA-{bits}; at least RSA-{MIN_RSA_BITS} is required")
    try:
        jose = RSAKey.import_key(dict(data)) if kty == "RSA" else ECKey.import_key(dict(data))
    except (JoseError, ValueError, TypeError, KeyError):
        raise KeySetError("the JWK could not be parsed") from None
    native = jose.private_key if jose.is_private else jose.public_key
    material = JWKMaterial(native)
    kid = data.get("kid")
    if kid is None:
        kid = jose.thumbprint()
    if not isinstance(kid, str):
        raise KeySetError("a JWK kid must be a string")
    use = data.get("use")
    alg = data.get("alg")
    if use not in (None, "enc", "sig") or (alg is not None and not isinstance(alg, str)):
        raise KeySetError(f"key {kid!r}: unsupported use {use!r} or alg")
    # The JWK's own window fills in what the caller did not set.
    binding = dataclasses.replace(
        binding,
        not_before=binding.not_before or _epoch(kid, "nbf", data.get("nbf")),
        not_after=binding.not_after or _epoch(kid, "exp", data.get("exp")),
    )
    return _bind(kid, material, use=use, alg=alg, binding=binding)


def keys_from_jwks(jwks: Mapping[str, Any] | str | bytes, **kwargs: Any) -> list[Key]:
    """Load every key of a JWK Set (``kwargs`` as for `key_from_jwk`).

    On failure no frame of the traceback holds the JWK Set or a key loaded from it.
    """
    outcome: list[Key] | LoadFailure = attempt(_keys_from_jwks, jwks, **kwargs)
    del jwks, kwargs
    return settle(outcome)


def _keys_from_jwks(jwks: Mapping[str, Any] | str | bytes, **kwargs: Any) -> list[Key]:
    data = _json_object(jwks, "JWK Set")
    keys = data.get("keys")
    if not isinstance(keys, list):
        raise KeySetError("a JWK Set needs a 'keys' list")
    if len(keys) > _MAX_JWKS_KEYS:
        raise KeySetError(f"a JWK Set of more than {_MAX_JWKS_KEYS} keys is refused")
    return [key_from_jwk(k, **kwargs) for k in keys]


def key_from_pem(
    pem: bytes,
    *,
    kid: str,
    use: str | None = None,
    password: bytes | None = None,
    algorithms: Iterable[str] | None = None,
    legacy: bool = False,
    status: KeyStatus = KeyStatus.ENABLED,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Key:
    """Load an RSA or P-256 key from PEM, private (PKCS#8 or traditional) or public.

    Raises:
        KeySetError: the PEM does not load (wrong or missing ``password`` included), or the key
            or its binding is refused; no ``__context__``, and no frame of the traceback holds
            the PEM, the password or the private key.
        TypeError: ``pem`` is not bytes.
    """
    binding = Binding(algorithms, legacy, status, not_before, not_after)
    outcome: Key | LoadFailure = attempt(_key_from_pem, pem, kid, use, password, binding)
    del pem, password
    return settle(outcome)


def _key_from_pem(
    pem: bytes, kid: str, use: str | None, password: bytes | None, binding: Binding
) -> Key:
    if not isinstance(pem, bytes):
        raise TypeError("pem must be bytes")
    if b"PRIVATE KEY" in pem and password is not None and b"ENCRYPTED" not in pem:
        # Said as it is: cryptography's error for this case would read like a damaged PEM.
        raise KeySetError(f"key {kid!r}: the PEM is not encrypted, but a password was given")
    native: Any
    try:
        if b"PRIVATE KEY" in pem:
            native = serialization.load_pem_private_key(pem, password=password)
        else:
            native = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise KeySetError(f"key {kid!r}: the PEM could not be loaded") from None
    if not isinstance(native, _NATIVE_TYPES):
        raise KeySetError(f"key {kid!r}: only RSA and EC (P-256) keys are supported")
    return _bind(kid, JWKMaterial(native), use=use, alg=None, binding=binding)


def key_to_jwk(key: Key, *, include_private: bool = False) -> dict[str, Any]:
    """Export a JWE-codec key as a JWK dict; the public half unless ``include_private``."""
    material = key.material
    if not isinstance(material, JWKMaterial):
        raise KeySetError(f"key {key.kid!r} is not a JWK key")
    if include_private and material.held is not None:
        raise KeySetError(f"key {key.kid!r} is held in a token; its private half stays there")
    out: dict[str, Any] = dict(material.jose.as_dict(private=include_private and key.has_secret))
    out["kid"] = key.kid
    if key.use is not None:
        out["use"] = key.use
    if len(key.algorithms) == 1:
        (out["alg"],) = key.algorithms
    if key.not_before is not None:
        out["nbf"] = int(key.not_before.timestamp())
    if key.not_after is not None:
        out["exp"] = int(key.not_after.timestamp())
    return out


def generate_key(
    *,
    kid: str,
    use: str | None = "enc",
    size: int = DEFAULT_RSA_BITS,
    legacy: bool = False,
    algorithms: Iterable[str] | None = None,
    not_after: datetime | None = None,
) -> Key:
    """Generate a fresh RSA key for the JWE codec.

    Args:
        kid: its key id.
        use: ``"enc"``, ``"sig"`` or None.
        size: modulus size in bits (at least `MIN_RSA_BITS`, Google's rules; 3072 by default).
        legacy: bind the key to RSA1_5 only (Google's legacy JWE text); a key that must also
            take RSA-OAEP-256 says so with ``algorithms=["RSA1_5", "RSA-OAEP-256"]``.
        algorithms: explicit algorithm binding instead of the defaults.
        not_after: end of the validity window (keys should expire within a year).

    On failure no frame of the traceback holds the key just generated.
    """
    binding = Binding(algorithms, legacy, KeyStatus.ENABLED, None, not_after)
    outcome: Key | LoadFailure = attempt(_generate_key, kid, use, size, binding)
    return settle(outcome)


def _generate_key(kid: str, use: str | None, size: int, binding: Binding) -> Key:
    if size < MIN_RSA_BITS:
        raise KeySetError(f"RSA-{size} is too small; at least RSA-{MIN_RSA_BITS} is required")
    native = rsa.generate_private_key(public_exponent=65537, key_size=size)
    return _bind(kid, JWKMaterial(native), use=use, alg=None, binding=binding)


def _json_object(value: Mapping[str, Any] | str | bytes, what: str) -> Mapping[str, Any]:
    if isinstance(value, (str, bytes)):
        try:
            value = json.loads(value)
        except ValueError:
            raise KeySetError(f"the {what} is not valid JSON") from None
    if not isinstance(value, Mapping):
        raise KeySetError(f"the {what} must be a JSON object")
    return value
