"""Key files on disk: telling the formats apart, reading them under a size cap, and writing
files atomically.

A key file is armored or binary OpenPGP, a JWK, a JWK Set or a PEM key; `read_key_file` loads
any of them. `atomic_write` is the one way this package (and the command line) replaces a file
that a running service may be reading.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from .._keys import Key
from ..errors import KeySetError

__all__ = ["atomic_write", "is_manifest", "read_key_file"]

#: Size caps: a manifest is small JSON; a key file holds at most a few dozen keys.
MAX_MANIFEST: Final = 1 << 20
MAX_KEY_FILE: Final = 4 << 20

Reader = Callable[[Path], bytes]


def read_capped(path: Path, limit: int = MAX_KEY_FILE) -> bytes:
    """The bytes of ``path``; `KeySetError` when it holds more than ``limit`` bytes."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise KeySetError(f"{path}: over {limit} bytes, refused")
    return data


def why(exc: OSError) -> str:
    """The reason of an OS error, without the path (the caller names the file)."""
    return exc.strerror or type(exc).__name__


# -- telling the formats apart --------------------------------------------------------------
def json_or_none(data: bytes) -> object:
    """``data`` parsed as a JSON object, or None when it is not one."""
    if not data.lstrip()[:1] == b"{":
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def manifest_shaped(value: object) -> bool:
    """True when a parsed JSON value looks like a keyset manifest (not a JWK Set)."""
    if not isinstance(value, Mapping):
        return False
    keys = value.get("keys")
    return (
        "codec" in value
        and isinstance(keys, list)
        and bool(keys)
        and isinstance(keys[0], Mapping)
        and "file" in keys[0]
    )


def is_manifest(path: str | os.PathLike[str]) -> bool:
    """True when the file at ``path`` is a keyset manifest (rather than a key file)."""
    return manifest_shaped(json_or_none(read_capped(Path(path), MAX_MANIFEST)))


def _pem_kid(name: str) -> str:
    return Path(name).name.split(".", 1)[0] or "pem-key"


# -- reading key files ----------------------------------------------------------------------
def _pgp_keys(data: bytes, name: str, passphrase: str | None) -> list[Key]:
    from ..codecs.pgp import keys_from_pgp

    try:
        return keys_from_pgp(data, passphrase=passphrase)
    except KeySetError as exc:
        if passphrase is None and "passphrase-protected" in str(exc):
            raise KeySetError(
                f"{name} is passphrase-protected; name its passphrase (an environment "
                "variable or a file)"
            ) from None
        raise


def _json_keys(data: bytes, name: str) -> list[Key]:
    from .._keyio import key_from_jwk, keys_from_jwks

    value = json_or_none(data)
    if value is None:
        raise KeySetError(f"{name}: not valid JSON")
    if manifest_shaped(value):
        raise KeySetError(f"{name} is a keyset manifest, not a key file")
    if isinstance(value, Mapping) and "keys" in value:
        return keys_from_jwks(value)
    if isinstance(value, Mapping) and "kty" in value:
        return [key_from_jwk(value)]
    raise KeySetError(f"{name}: JSON that is neither a JWK nor a JWK Set")


def parse_key_bytes(
    data: bytes,
    *,
    name: str,
    codec: str | None,
    passphrase: str | None,
    kid: str | None,
    use: str | None,
) -> list[Key]:
    """The keys of one key file's bytes, whatever its format (``name`` is for messages)."""
    head = data.lstrip()[:32]
    keys: list[Key]
    if (data[:1] and data[0] & 0x80) or head.startswith(b"-----BEGIN PGP"):
        keys = _pgp_keys(data, name, passphrase)
    elif head.startswith(b"-----BEGIN"):
        from .._keyio import key_from_pem

        password = passphrase.encode("utf-8") if passphrase is not None else None
        keys = [key_from_pem(data, kid=kid or _pem_kid(name), use=use, password=password)]
    elif head.startswith(b"{"):
        keys = _json_keys(data, name)
    else:
        raise KeySetError(f"{name}: not a key file (OpenPGP, JWK, JWK Set or PEM)")
    if not keys:
        raise KeySetError(f"{name}: no keys found")
    if codec is not None and keys[0].codec != codec:
        raise KeySetError(f"{name} holds {keys[0].codec!r} keys, not {codec!r} keys")
    return keys


def read_key_file(
    path: str | os.PathLike[str],
    *,
    codec: str | None = None,
    passphrase: str | None = None,
    kid: str | None = None,
    use: str | None = None,
) -> list[Key]:
    """Load the keys of one key file: OpenPGP (armored or binary), JWK, JWK Set or PEM.

    Args:
        path: the file.
        codec: refuse keys of another codec (``"pgp"`` or ``"jwe"``).
        passphrase: unlocks a protected OpenPGP secret key or an encrypted PEM.
        kid: the kid of a PEM key (default: the file name up to its first dot).
        use: the use of a PEM key (``"enc"`` or ``"sig"``).

    Raises:
        KeySetError: unreadable, malformed or weak keys, or a manifest instead of a key file.
    """
    p = Path(path)
    try:
        data = read_capped(p)
    except OSError as exc:
        raise KeySetError(f"cannot read key file {p}: {why(exc)}") from None
    return parse_key_bytes(data, name=str(p), codec=codec, passphrase=passphrase, kid=kid, use=use)


# -- writing --------------------------------------------------------------------------------
def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    mode: int,
    before_rename: Callable[[], None] | None = None,
) -> None:
    """Replace ``path`` by a file holding ``data`` with exactly ``mode``, atomically.

    The data goes to a temporary file in the same folder, is flushed to disk, and the file is
    renamed over ``path``: a reader (a `KeySetWatcher`, say) sees the old file or the new one,
    never a mix. ``before_rename`` runs once the data is on disk; when it raises, ``path`` is
    left as it was. The temporary file is removed on any failure.
    """
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)  # exactly this mode, whatever the umask
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not all systems allow it
        dfd = os.open(p.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
