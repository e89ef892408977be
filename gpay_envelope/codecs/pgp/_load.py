"""Loading, exporting and generating OpenPGP keys for the pgp codec."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

from ... import _policy
from ..._keyops import RSAPrivateOps
from ..._keys import Key, KeyStatus
from ...errors import KeyRevoked, KeySetError
from . import wire as op
from ._keys import MAX_KEY_PACKETS, parse_keys
from ._material import PGPMaterial

__all__ = [
    "OPENPGP",
    "generate_pgp_key",
    "key_to_pgp",
    "keys_from_pgp",
    "material_of",
    "split_revoked",
]

#: The algorithm name every PGP-codec key is bound to.
OPENPGP: Final = "openpgp"
_KEY_INPUT_MAX: Final = 1 << 20


def _binary_inputs(data: bytes | str | Sequence[bytes | str]) -> Iterator[bytes]:
    items: Sequence[bytes | str]
    if isinstance(data, str):
        items = [data]
    elif isinstance(data, (bytes, bytearray, memoryview)):
        items = [bytes(data)]
    else:
        items = data
    for item in items:
        if isinstance(item, str):
            raw = item.encode("utf-8")
        elif isinstance(item, (bytes, bytearray, memoryview)):
            raw = bytes(item)
        else:
            raise TypeError(f"OpenPGP key data must be bytes or str, not {type(item).__name__}")
        if len(raw) > _KEY_INPUT_MAX:
            raise KeySetError(f"OpenPGP key data over {_KEY_INPUT_MAX} bytes is refused")
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # a byte-order mark that text editors put in front of armor
        if raw[:1] and raw[0] & 0x80:
            yield raw
            continue
        try:
            blocks = op.dearmor(raw, max_blocks=64, strict=False)
        except op.Malformed:
            raise KeySetError("the ASCII-armored OpenPGP key data is malformed") from None
        if not blocks:
            raise KeySetError("no OpenPGP key found (neither binary nor ASCII-armored)")
        for kind, blob in blocks:
            if kind not in ("PUBLIC KEY BLOCK", "PRIVATE KEY BLOCK", "SECRET KEY BLOCK"):
                raise KeySetError(f"expected an OpenPGP key block, got 'PGP {kind}'")
            yield blob


def _passphrase_for(passphrase: str | Mapping[str, str] | None, fpr: str) -> str | None:
    if passphrase is None or isinstance(passphrase, str):
        return passphrase
    for name, value in passphrase.items():
        if name.replace(" ", "").upper() == fpr:
            return value
    return None


def keys_from_pgp(
    data: bytes | str | Sequence[bytes | str],
    *,
    passphrase: str | Mapping[str, str] | None = None,
    status: KeyStatus = KeyStatus.ENABLED,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> list[Key]:
    """Load OpenPGP keys (armored or binary, public or secret, one or several) as pgp keys.

    Args:
        data: key data, or a sequence of them; armored input may hold several blocks. A
            revocation certificate (gpg's: a key block holding only the revocation signature,
            armored or binary) anywhere in ``data`` revokes the key it verifies for.
        passphrase: unlocks protected secret keys once, here; a string for all keys or
            ``{fingerprint: passphrase}``.
        status: status of every loaded key.
        not_before / not_after: an extra validity window; the key's own expiry still bounds it.

    Returns:
        One `Key` per primary key: kid = the primary's fingerprint (40 upper-case hex digits),
        algorithms ``{"openpgp"}``, ``use`` None.

    Raises:
        KeySetError: malformed data, a key that is not RSA, RSA below 2048 bits, revoked
            ("key <FINGERPRINT> is revoked", wherever the revocation stands), with no valid
            self-signature, with nothing that may sign or encrypt, present twice, a revocation
            certificate that revokes no key given with it, or a protected secret key without
            the right passphrase. Expired keys load (their expiry is the key's
            ``not_after``), so they are never used to seal or to verify. The error has no
            ``__context__`` and its frames hold no passphrase.
    """
    failure: str | None = None
    try:
        keys = _load_keys(data, passphrase, status, not_before, not_after)
    except KeySetError as exc:
        failure = str(exc)
    # The error is raised afresh, after the except block and with the passphrase dropped from
    # this frame: no __context__ (pgpy's exception, whose frames hold the passphrase and key
    # material) and no frame holding secrets travels with it.
    passphrase = None
    if failure is not None:
        raise KeySetError(failure)
    return keys


def _load_keys(
    data: bytes | str | Sequence[bytes | str],
    passphrase: str | Mapping[str, str] | None,
    status: KeyStatus,
    not_before: datetime | None,
    not_after: datetime | None,
) -> list[Key]:
    from ._pgpy import secret_keys

    keys: list[Key] = []
    seen: set[str] = set()
    # All pieces at once: a revocation certificate (a block holding only the revocation
    # signature, as gpg writes it) applies to its key anywhere in the same input.
    for parsed in parse_keys(list(_binary_inputs(data))):
        kid = parsed.primary.hex
        if kid in seen:
            # Two copies of one key would be judged separately (a revocation in one copy
            # does not reach the other): refused, merge them with gpg first.
            raise KeySetError(f"key {kid} appears more than once in the key data")
        seen.add(kid)
        secrets: Mapping[bytes, RSAPrivateOps] = {}
        if parsed.secret_blob is not None:
            secrets = secret_keys(parsed, _passphrase_for(passphrase, kid))
        keys.append(
            Key(
                kid=kid,
                codec="pgp",
                material=PGPMaterial(parsed, secrets),
                algorithms=(OPENPGP,),
                status=status,
                not_before=not_before,
                not_after=not_after,
            )
        )
    return keys


def split_revoked(data: bytes) -> tuple[list[bytes], tuple[str, ...]]:
    """The transferable keys of OpenPGP ``data`` that are not revoked, each as its own binary
    blob, and the fingerprints of the revoked ones.

    For a key store that must let a revocation take effect (leave the revoked key out, load
    the rest) where `keys_from_pgp` refuses the whole input. Only public parts are read, so
    no passphrase is needed. Data that does not parse gives ``([], ())``: `keys_from_pgp` then
    says what is wrong with it.
    """
    try:
        pieces = list(_binary_inputs(data))
        packets = [p for b in pieces for p in op.read_packets(b, max_packets=MAX_KEY_PACKETS)]
    except (op.Malformed, KeySetError):
        return [], ()
    keys: list[list[bytes]] = []
    for tag, body in packets:
        if tag in (op.TAG_PUBLIC_KEY, op.TAG_SECRET_KEY) or not keys:
            keys.append([])
        keys[-1].append(op.packet(tag, body))
    kept: list[bytes] = []
    revoked: list[str] = []
    for blob in (b"".join(k) for k in keys):
        try:
            parse_keys(blob)
        except KeyRevoked as exc:
            revoked.extend(exc.kids)
            continue
        except KeySetError:
            pass  # kept: loading it says what is wrong
        kept.append(blob)
    return kept, tuple(dict.fromkeys(revoked))


def material_of(key: Key) -> PGPMaterial:
    material = key.material
    if not isinstance(material, PGPMaterial):
        raise KeySetError(f"key {key.kid!r} is not an OpenPGP key")
    return material


def key_to_pgp(key: Key, *, include_private: bool = False) -> bytes:
    """Export a pgp-codec key as ASCII armor: the public key unless ``include_private``.

    The private export is the secret key as it was loaded (still protected if it was).
    """
    blob = material_of(key).export(include_private=include_private)
    return op.armor("PRIVATE KEY BLOCK" if include_private else "PUBLIC KEY BLOCK", blob)


def generate_pgp_key(
    *,
    uid: str,
    size: int = _policy.DEFAULT_RSA_BITS,
    expires: timedelta = _policy.DEFAULT_LIFETIME,
    passphrase: str | None = None,
) -> Key:
    """Generate an OpenPGP key the way Google asks for one.

    An RSA primary key (certify and sign) and one RSA encryption subkey, both expiring after
    ``expires`` (at most two years), preferring SHA384, AES256 and ZIP. With ``passphrase``
    the secret key is protected (AES256, iterated and salted S2K); the returned `Key` holds it
    unlocked, and `key_to_pgp(..., include_private=True)` exports it protected.

    Raises:
        KeySetError: ``size`` below 2048 or above 8192, or a lifetime outside (0, 2 years].
    """
    from ._keys import build_secret_key
    from ._pgpy import protect

    if not _policy.MIN_RSA_BITS <= size <= _policy.MAX_RSA_BITS:
        raise KeySetError(
            f"RSA-{size}: the size must be from {_policy.MIN_RSA_BITS} to {_policy.MAX_RSA_BITS}"
        )
    if not timedelta(0) < expires <= _policy.MAX_LIFETIME:
        raise KeySetError("an OpenPGP key must expire within two years (Google's rules)")
    if not uid or not uid.isprintable():
        raise KeySetError("uid must be a printable string such as 'Name <email>'")
    blob = build_secret_key(
        uid=uid,
        primary=rsa.generate_private_key(public_exponent=65537, key_size=size),
        subkey=rsa.generate_private_key(public_exponent=65537, key_size=size),
        created=int(time.time()),
        expires_after=int(expires.total_seconds()),
    )
    if passphrase is not None:
        blob = protect(blob, passphrase)
    (key,) = keys_from_pgp(blob, passphrase=passphrase)
    return key
