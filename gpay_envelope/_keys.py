"""Key, KeyStatus and KeySet: immutable, validated at construction, secret-free reprs."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from ._formats import handler
from ._keyload import LoadFailure, attempt, codec_call, loaded_set, settle
from ._policy import MIN_RSA_BITS
from .errors import KeyNotFound, KeySetError

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Key", "KeyMaterial", "KeySet", "KeyStatus", "utcnow"]

_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+").fullmatch
_KEEP: Any = object()  # "argument not given", for with_validity
_USES = (None, "enc", "sig")


class KeyStatus(enum.Enum):
    """Whether a key may be used. DISABLED keys stay in the set but neither seal nor open."""

    ENABLED = "enabled"
    DISABLED = "disabled"


class KeyMaterial(Protocol):
    """What a codec keeps behind a `Key`: the parsed key objects, never shown or pickled."""

    @property
    def has_secret(self) -> bool:
        """True when the private half is present."""

    @property
    def kty(self) -> str:
        """Key type, e.g. ``"RSA"`` or ``"EC"``."""

    @property
    def size(self) -> int:
        """Key size in bits (the modulus for RSA, the curve size for EC)."""

    @property
    def expires(self) -> datetime | None:
        """Expiry the key itself carries (OpenPGP), or None."""

    def public(self) -> KeyMaterial:
        """The same key without its private half."""

    def check_binding(self, kid: str, use: str | None, algorithms: frozenset[str]) -> None:
        """Raise `KeySetError` when this key may not be bound to ``algorithms`` and ``use``
        (each codec knows which algorithms fit its keys)."""


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise KeySetError(f"{name} must be a timezone-aware datetime")
    return value


def _check_labels(kid: object, codec: object, status: object, use: object) -> None:
    if not isinstance(kid, str) or not 0 < len(kid) <= 256 or not _PRINTABLE_ASCII(kid):
        # ASCII keeps every kid inside the JOSE header size caps once JSON-escaped.
        raise KeySetError("a key id must be 1 to 256 printable ASCII characters")
    if not isinstance(codec, str) or not codec:
        raise KeySetError(f"key {kid!r}: codec must be a non-empty string")
    if not isinstance(status, KeyStatus):
        raise KeySetError("status must be a KeyStatus")
    if use not in _USES:
        raise KeySetError(f"key {kid!r}: use must be 'enc', 'sig' or None")


def _check_algorithms(
    kid: str, material: KeyMaterial, use: str | None, algorithms: Iterable[str]
) -> frozenset[str]:
    if isinstance(algorithms, str):
        raise KeySetError(f"key {kid!r}: algorithms must be a collection of names")
    algs = frozenset(algorithms)
    if not algs:
        raise KeySetError(f"key {kid!r} is bound to no algorithm")
    material.check_binding(kid, use, algs)
    if material.kty == "RSA" and material.size < MIN_RSA_BITS:
        raise KeySetError(
            f"key {kid!r} is RSA-{material.size}; at least RSA-{MIN_RSA_BITS} is required"
        )
    return algs


def _window(
    kid: str, material: KeyMaterial, not_before: datetime | None, not_after: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The validity window: the one given, cut by the key's own expiry (OpenPGP)."""
    nb = _aware("not_before", not_before)
    na = _aware("not_after", not_after)
    if material.expires is not None and (na is None or material.expires < na):
        na = material.expires
    if nb is not None and na is not None and na <= nb:
        raise KeySetError(f"key {kid!r}: not_after is not later than not_before")
    return nb, na


def utcnow() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(timezone.utc)


class Key:
    """One key: a kid, the codec it belongs to, a status, a validity window and the algorithms
    it may be used with. Immutable; every change returns a new `Key`.

    Keys are made by the loaders (`KeySet.from_jwks`, `Key.from_jwk`, `Key.from_pem`,
    `KeySet.from_pgp`, `generate_key`), not by hand. ``repr`` shows no key material, and a key
    holding a private half refuses to be pickled.
    """

    __slots__ = (
        "_algorithms",
        "_codec",
        "_kid",
        "_material",
        "_not_after",
        "_not_before",
        "_secret",
        "_status",
        "_use",
    )

    _kid: str
    _codec: str
    _status: KeyStatus
    _not_before: datetime | None
    _not_after: datetime | None
    _algorithms: frozenset[str]
    _use: str | None
    _material: KeyMaterial
    _secret: bool

    def __init__(
        self,
        *,
        kid: str,
        codec: str,
        material: KeyMaterial,
        algorithms: Iterable[str],
        use: str | None = None,
        status: KeyStatus = KeyStatus.ENABLED,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> None:
        _check_labels(kid, codec, status, use)
        algs = _check_algorithms(kid, material, use, algorithms)
        nb, na = _window(kid, material, not_before, not_after)
        setter = object.__setattr__
        setter(self, "_kid", kid)
        setter(self, "_codec", codec)
        setter(self, "_status", status)
        setter(self, "_not_before", nb)
        setter(self, "_not_after", na)
        setter(self, "_algorithms", algs)
        setter(self, "_use", use)
        setter(self, "_material", material)
        # Read once: open() asks every candidate key, and the material's answer never changes.
        setter(self, "_secret", bool(material.has_secret))

    def _replace(self, **changes: Any) -> Key:
        fields: dict[str, Any] = {
            "kid": self._kid,
            "codec": self._codec,
            "material": self._material,
            "algorithms": self._algorithms,
            "use": self._use,
            "status": self._status,
            "not_before": self._not_before,
            "not_after": self._not_after,
        }
        fields.update(changes)
        return Key(**fields)

    # -- read-only attributes -------------------------------------------------------------
    @property
    def kid(self) -> str:
        """The key id: the JWK ``kid``, or the OpenPGP fingerprint of the primary key."""
        return self._kid

    @property
    def codec(self) -> str:
        """The codec this key belongs to: ``"jwe"`` or ``"pgp"``."""
        return self._codec

    @property
    def status(self) -> KeyStatus:
        """ENABLED or DISABLED."""
        return self._status

    @property
    def not_before(self) -> datetime | None:
        """Start of the validity window, or None."""
        return self._not_before

    @property
    def not_after(self) -> datetime | None:
        """End of the validity window (for OpenPGP, the key's own expiry if earlier), or None."""
        return self._not_after

    @property
    def algorithms(self) -> frozenset[str]:
        """The algorithms this key may be used with (JOSE names, or ``"openpgp"``)."""
        return self._algorithms

    @property
    def use(self) -> str | None:
        """``"enc"``, ``"sig"`` or None (both)."""
        return self._use

    @property
    def has_secret(self) -> bool:
        """True when the key holds its private half."""
        return self._secret

    @property
    def kty(self) -> str:
        """Key type: ``"RSA"`` or ``"EC"``."""
        return self._material.kty

    @property
    def size(self) -> int:
        """Key size in bits."""
        return self._material.size

    @property
    def material(self) -> KeyMaterial:
        """The codec's parsed key objects. For codecs only; never log or pickle it."""
        return self._material

    # -- derived --------------------------------------------------------------------------
    def is_valid_at(self, when: datetime) -> bool:
        """True when ``when`` lies inside the validity window."""
        if self._not_before is not None and when < self._not_before:
            return False
        return self._not_after is None or when < self._not_after

    def usable_at(self, when: datetime) -> bool:
        """ENABLED and inside the validity window."""
        return self._status is KeyStatus.ENABLED and self.is_valid_at(when)

    def can(self, purpose: str) -> bool:
        """Whether the key's ``use`` allows ``purpose`` (``"enc"`` or ``"sig"``)."""
        return self._use is None or self._use == purpose

    # -- changes --------------------------------------------------------------------------
    def public(self) -> Key:
        """The same key without its private half."""
        if not self.has_secret:
            return self
        return self._replace(material=self._material.public())

    def with_status(self, status: KeyStatus) -> Key:
        """A copy with another status."""
        return self._replace(status=status)

    def with_validity(
        self, *, not_before: datetime | None = _KEEP, not_after: datetime | None = _KEEP
    ) -> Key:
        """A copy with another validity window. A bound not given is kept; pass None to clear
        it. OpenPGP keys keep their own expiry as an upper bound."""
        changes: dict[str, Any] = {}
        if not_before is not _KEEP:
            changes["not_before"] = not_before
        if not_after is not _KEEP:
            changes["not_after"] = not_after
        return self._replace(**changes)

    def with_algorithms(self, algorithms: Iterable[str]) -> Key:
        """A copy bound to other algorithms."""
        return self._replace(algorithms=algorithms)

    # -- loaders and export (implemented by the codec that owns the format) -----------------
    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any] | str | bytes, **kwargs: Any) -> Key:
        """Load one JWK (a dict or its JSON). See `KeySet.from_jwks` for the keyword options.

        On failure no frame of the traceback holds the JWK.
        """
        outcome: Key | LoadFailure = attempt(codec_call, "from_jwk", jwk, **kwargs)
        del jwk, kwargs
        return settle(outcome)

    @classmethod
    def from_pem(cls, pem: bytes, *, kid: str, **kwargs: Any) -> Key:
        """Load an RSA or EC key from PEM (private or public) as a JWE-codec key.

        On failure no frame of the traceback holds the PEM or its ``password``.
        """
        outcome: Key | LoadFailure = attempt(codec_call, "from_pem", pem, kid=kid, **kwargs)
        del pem, kwargs
        return settle(outcome)

    def to_jwk(self, *, include_private: bool = False) -> dict[str, Any]:
        """Export as a JWK dict; public only unless ``include_private`` is true."""
        jwk: dict[str, Any] = handler("to_jwk")(self, include_private=include_private)
        return jwk

    def to_pgp(self, *, include_private: bool = False) -> bytes:
        """Export a PGP-codec key, armored; public only unless ``include_private`` is true."""
        armored: bytes = handler("to_pgp")(self, include_private=include_private)
        return armored

    # -- safety ---------------------------------------------------------------------------
    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Key is immutable; use the with_* methods")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("Key is immutable")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        if self.has_secret:
            raise TypeError("refusing to pickle a key that holds secret material")
        raise TypeError("keys are not pickled; export them with to_jwk() or to_pgp()")

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self

    def __repr__(self) -> str:
        if not hasattr(self, "_secret"):
            # A traceback that records locals may show a key whose __init__ refused it.
            return "<Key (not built)>"
        expiry = self._not_after.isoformat() if self._not_after else None
        return (
            f"Key(kid={self._kid!r}, codec={self._codec!r}, kty={self.kty!r}, size={self.size}, "
            f"use={self._use!r}, algorithms={sorted(self._algorithms)!r}, "
            f"status={self._status.name}, secret={self.has_secret}, not_after={expiry!r})"
        )


def _index(keys: tuple[Key, ...]) -> dict[str, Key]:
    """Kid to key, after checking the keys make a set: some keys, all of one codec, no kid
    twice."""
    if not keys:
        raise KeySetError("a key set needs at least one key")
    for k in keys:
        if not isinstance(k, Key):
            raise TypeError("a KeySet holds Key objects")
    codecs = {k.codec for k in keys}
    if len(codecs) > 1:
        raise KeySetError(f"a key set holds keys of one codec, not {sorted(codecs)}")
    by_kid: dict[str, Key] = {}
    for k in keys:
        if k.kid in by_kid:
            raise KeySetError(f"duplicate key id {k.kid!r}")
        by_kid[k.kid] = k
    return by_kid


class KeySet:
    """Several keys of one codec with exactly one ENABLED primary. Immutable: every change
    returns a new, re-validated set, so rotation is a data change, never a code change.

    Raises:
        KeySetError: empty set, keys of several codecs, duplicate kid, missing or disabled
            primary.
    """

    __slots__ = (
        "_by_kid",
        "_codec",
        "_enabled",
        "_has_secret",
        "_keys",
        "_primary",
        "_secret_enabled",
        "_windowless",
    )

    _keys: tuple[Key, ...]
    _primary: str
    _by_kid: dict[str, Key]
    _codec: str
    _enabled: tuple[Key, ...]
    _secret_enabled: tuple[Key, ...]
    _has_secret: bool
    _windowless: bool

    def __init__(self, keys: Iterable[Key], *, primary: str) -> None:
        ks = tuple(keys)
        by_kid = _index(ks)
        first = by_kid.get(primary)
        if first is None:
            raise KeySetError(f"the primary {primary!r} is not in the set")
        if first.status is not KeyStatus.ENABLED:
            raise KeySetError(f"the primary {primary!r} must be ENABLED")
        ordered = (first, *(k for k in ks if k is not first))
        object.__setattr__(self, "_keys", ks)
        object.__setattr__(self, "_primary", primary)
        object.__setattr__(self, "_by_kid", by_kid)
        # The set is immutable, so the order open() walks is computed once, not per message.
        enabled = tuple(k for k in ordered if k.status is KeyStatus.ENABLED)
        object.__setattr__(self, "_enabled", enabled)
        object.__setattr__(self, "_secret_enabled", tuple(k for k in enabled if k.has_secret))
        windowless = all(k.not_before is None and k.not_after is None for k in enabled)
        object.__setattr__(self, "_windowless", windowless)
        # Asked on every seal and open (the front door's key set checks): answered once.
        object.__setattr__(self, "_has_secret", any(k.has_secret for k in ks))
        object.__setattr__(self, "_codec", ks[0].codec)

    # -- reading --------------------------------------------------------------------------
    @property
    def primary(self) -> Key:
        """The primary key: the one seal uses (JWE), or the first signer (PGP)."""
        return self.get(self._primary)

    @property
    def codec(self) -> str:
        """The codec all keys of this set belong to."""
        return self._codec

    @property
    def kids(self) -> tuple[str, ...]:
        """Key ids, in set order."""
        return tuple(k.kid for k in self._keys)

    @property
    def has_secret(self) -> bool:
        """True when any key holds a private half."""
        return self._has_secret

    def get(self, kid: str) -> Key:
        """The key with this kid. Raises `KeyNotFound`."""
        key = self._by_kid.get(kid)
        if key is None:
            raise KeyNotFound(f"no key {kid!r} in the set")
        return key

    def enabled(self) -> tuple[Key, ...]:
        """ENABLED keys, primary first, then in set order."""
        return self._enabled

    def enabled_at(self, when: datetime) -> tuple[Key, ...]:
        """ENABLED keys inside their validity window at ``when``, primary first, then in set
        order."""
        if self._windowless:
            return self._enabled
        return tuple(k for k in self._enabled if k.is_valid_at(when))

    def secret_enabled(self) -> tuple[Key, ...]:
        """ENABLED keys holding a private half, primary first, then in set order."""
        return self._secret_enabled

    def primary_first(self) -> tuple[Key, ...]:
        """All keys, primary first, then in set order."""
        p = self.primary
        return (p, *(k for k in self._keys if k is not p))

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, kid: object) -> bool:
        return isinstance(kid, str) and kid in self._by_kid

    # -- changes --------------------------------------------------------------------------
    def with_key(self, key: Key, *, primary: bool = False) -> KeySet:
        """Add a key (rotation stage 1: add). ``primary=True`` also promotes it."""
        return KeySet((*self._keys, key), primary=key.kid if primary else self._primary)

    def with_primary(self, kid: str) -> KeySet:
        """Make ``kid`` the primary (rotation stage 2: promote). It must be ENABLED."""
        self.get(kid)
        return KeySet(self._keys, primary=kid)

    def with_status(self, kid: str, status: KeyStatus) -> KeySet:
        """Enable or disable a key (rotation stage 3: disable). The primary cannot be disabled."""
        old = self.get(kid)
        if kid == self._primary and status is not KeyStatus.ENABLED:
            raise KeySetError(f"cannot disable the primary {kid!r}; promote another key first")
        keys = tuple(old.with_status(status) if k is old else k for k in self._keys)
        return KeySet(keys, primary=self._primary)

    def without(self, kid: str) -> KeySet:
        """Remove a key (rotation stage 4: remove). The primary cannot be removed."""
        self.get(kid)
        if kid == self._primary:
            raise KeySetError(f"cannot remove the primary {kid!r}; promote another key first")
        return KeySet((k for k in self._keys if k.kid != kid), primary=self._primary)

    def replace(self, key: Key) -> KeySet:
        """Swap in a changed version of a key with the same kid (new window, algorithms...)."""
        old = self.get(key.kid)
        return KeySet((key if k is old else k for k in self._keys), primary=self._primary)

    def public(self) -> KeySet:
        """The same set with every private half removed: what you hand to your peer."""
        return KeySet((k.public() for k in self._keys), primary=self._primary)

    # -- loaders and export (implemented by the codec that owns the format) -----------------
    @classmethod
    def from_jwks(
        cls,
        jwks: Mapping[str, Any] | str | bytes,
        *,
        primary: str | None = None,
        **kwargs: Any,
    ) -> KeySet:
        """Load a JWK Set (``{"keys": [...]}``, a dict or its JSON) as a JWE-codec key set.

        Args:
            jwks: the JWK Set.
            primary: kid of the primary; defaults to the first key.
            **kwargs: passed to each key: ``algorithms`` (override the binding),
                ``legacy`` (bind RSA keys with no ``alg`` and no ``use: sig`` to RSA1_5 only),
                ``not_before`` / ``not_after``.

        Each key is bound to the algorithms it may be used with: its JWK ``alg`` if present;
        otherwise RSA-OAEP-256 and RSA-OAEP for encryption and RS256/PS256 (RSA) or ES256
        (P-256) for signatures. RSA1_5 is never implied. A JWK's non-standard ``nbf`` and
        ``exp`` members (seconds since the epoch) set its validity window.

        On failure (of any key, or of the set) no frame of the traceback holds the JWK Set or
        a key loaded from it.
        """
        outcome = attempt(loaded_set, cls, "from_jwks", primary, jwks, **kwargs)
        del jwks, kwargs
        return settle(outcome)

    @classmethod
    def from_pem(
        cls, pems: Mapping[str, bytes], *, primary: str | None = None, **kwargs: Any
    ) -> KeySet:
        """Load several PEM keys, given as ``{kid: pem_bytes}``, as a JWE-codec key set.

        On failure no frame of the traceback holds a PEM, the ``password`` or a loaded key.
        """
        outcome = attempt(loaded_set, cls, "from_pems", primary, pems, **kwargs)
        del pems, kwargs
        return settle(outcome)

    @classmethod
    def from_pgp(
        cls,
        data: bytes | str | Sequence[bytes | str],
        *,
        primary: str | None = None,
        passphrase: str | Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> KeySet:
        """Load one or several OpenPGP keys (armored or binary) as a PGP-codec key set.

        ``passphrase`` unlocks protected secret keys once, at load time: one string for all,
        or ``{fingerprint: passphrase}``. ``primary`` is a fingerprint; defaults to the first
        key.

        On failure no frame of the traceback holds the passphrase, the key data or a loaded key.
        """
        outcome = attempt(
            loaded_set, cls, "from_pgp", primary, data, passphrase=passphrase, **kwargs
        )
        del data, passphrase, kwargs
        return settle(outcome)

    def to_jwks(self, *, include_private: bool = False) -> dict[str, Any]:
        """Export as a JWK Set dict: public halves only unless ``include_private`` is true."""
        return {"keys": [k.to_jwk(include_private=include_private) for k in self._keys]}

    # -- safety ---------------------------------------------------------------------------
    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("KeySet is immutable; use the with_* methods")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("KeySet is immutable")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        if self.has_secret:
            raise TypeError("refusing to pickle a key set that holds secret material")
        raise TypeError("key sets are not pickled; export them with to_jwks() or to_pgp()")

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self

    def __repr__(self) -> str:
        if not hasattr(self, "_secret_enabled"):
            return "<KeySet (not built)>"
        return f"KeySet(codec={self.codec!r}, primary={self._primary!r}, keys={list(self._keys)!r})"
