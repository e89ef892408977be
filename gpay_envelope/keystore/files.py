"""Key files on disk: telling the formats apart, reading them under a size cap, the OpenPGP
keys in them that are revoked, and writing files atomically.

A key file is armored or binary OpenPGP, a JWK, a JWK Set or a PEM key; `read_key_file` loads
any of them. An OpenPGP key whose file carries its revocation is never loaded: the loaders of
key *sets* leave it out and say which (`Revocation`), `read_key_file` refuses the file
(`KeyRevoked`). `atomic_write` is the one way this package (and the command line) replaces a
file that a running service may be reading.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import os
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Final, NamedTuple, ParamSpec, TypeVar

from .._keys import Key, KeySet, KeyStatus
from ..errors import KeyRevoked, KeySetError

__all__ = ["LoadReport", "Revocation", "atomic_write", "is_manifest", "read_key_file"]

#: Size caps: a manifest is small JSON; a key file holds at most a few dozen keys.
MAX_MANIFEST: Final = 1 << 20
MAX_KEY_FILE: Final = 4 << 20

Reader = Callable[[Path], bytes]
_P = ParamSpec("_P")
_T = TypeVar("_T")
#: The end of the validity of a revoked primary that must stay as a placeholder (see `retire`).
_LONG_AGO: Final = datetime(1970, 1, 2, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class Revocation:
    """An OpenPGP key left out of a set because its key file carries its revocation."""

    kid: str
    #: The key file, as the manifest names it (or the path of a plain key file).
    file: str
    #: It was the manifest's primary (another ENABLED key stands in; see `without_revoked`).
    primary: bool = False


class LoadReport(NamedTuple):
    """A key set as loaded: the set, the kid each manifest entry (or each key of a plain key
    file) stands for, revoked ones included, and the revoked keys left out of the set."""

    keyset: KeySet
    kids: tuple[str, ...]
    revoked: tuple[Revocation, ...] = ()


class ParsedFile(NamedTuple):
    """The keys of one key file, and the fingerprints of the revoked keys left out of them."""

    keys: list[Key]
    revoked: tuple[str, ...] = ()


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


# -- errors that carry no secret -----------------------------------------------------------
def detached(exc: Exception) -> Exception:
    """A copy of ``exc`` with no traceback, cause or context, so that none of the frames it
    went through, and the passphrases and key bytes in their locals, can be reached from it.

    Library errors and OS errors keep their type, message and attributes; a builtin error
    keeps its type and message; a text decoding error (whose arguments hold the bytes) and
    anything else become a `KeySetError` that names only its type.
    """
    if isinstance(exc, KeySetError):
        new = type(exc).__new__(type(exc), *exc.args)
        new.__dict__.update(vars(exc))
        return new
    if isinstance(exc, OSError):
        return copy.copy(exc)
    if isinstance(exc, UnicodeError) or type(exc).__module__ != "builtins":
        return KeySetError(f"{type(exc).__name__} while loading keys")
    return type(exc)(str(exc))


def naming_source(exc: KeySetError, name: str, source: str) -> KeySetError:
    """``exc``, raised loading key file ``name`` with a passphrase from ``source`` (a flag,
    an environment variable, a file), as a detached copy that names both."""
    text = str(exc)
    new = detached(exc)
    new.args = (f"{text if name in text else f'{name}: {text}'} (passphrase from {source})",)
    return new  # type: ignore[return-value]


def detach_errors(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """Make ``fn`` raise `detached` errors: what escapes it never leads back to the frames
    below it, nor to its own arguments (a passphrase, say). For every entry point that reads
    a passphrase or key bytes."""

    @functools.wraps(fn)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            failure = detached(exc)
        # Raised afresh outside the except block (no __context__), from this frame, with the
        # arguments dropped from it first.
        del args, kwargs
        raise failure

    return guarded


# -- telling the formats apart --------------------------------------------------------------
def json_or_none(data: bytes) -> object:
    """``data`` parsed as a JSON object, or None when it is not one."""
    if not data.lstrip()[:1] == b"{":
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def json_error(name: str, data: bytes | str) -> KeySetError:
    """The error for a file that is not JSON: where the parser stopped (line and column),
    never the text around it (a key file holds secrets)."""
    try:
        json.loads(data)
    except json.JSONDecodeError as exc:
        return KeySetError(
            f"{name}: not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
        )
    except ValueError:
        return KeySetError(f"{name}: not valid JSON (not UTF-8 text)")
    return KeySetError(f"{name}: not a JSON object")


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
def pgp_revocations(data: bytes) -> tuple[str, ...]:
    """The fingerprints of the revoked keys in OpenPGP ``data`` (none for other formats)."""
    if not _is_pgp(data):
        return ()
    from ..codecs.pgp import split_revoked

    return split_revoked(data)[1]


def _pgp_keys(data: bytes, name: str, passphrase: str | None) -> ParsedFile:
    from ..codecs.pgp import keys_from_pgp

    try:
        return ParsedFile(keys_from_pgp(data, passphrase=passphrase))
    except KeySetError as exc:
        if passphrase is None and "passphrase-protected" in str(exc):
            raise KeySetError(
                f"{name} is passphrase-protected; name its passphrase (an environment "
                "variable or a file)"
            ) from None
        failure = exc
    # The loader refuses a revoked key and, with it, the whole file: load the other keys.
    from ..codecs.pgp import split_revoked

    kept, revoked = split_revoked(data)
    if not revoked:
        raise failure
    del failure
    keys = keys_from_pgp(kept, passphrase=passphrase) if kept else []
    # A revocation on one copy of a key revokes every copy.
    return ParsedFile([k for k in keys if k.kid not in revoked], revoked)


def _json_keys(data: bytes, name: str) -> list[Key]:
    from ..codecs.jwe import key_from_jwk, keys_from_jwks

    value = json_or_none(data)
    if value is None:
        raise json_error(name, data)
    if manifest_shaped(value):
        raise KeySetError(f"{name} is a keyset manifest, not a key file")
    if isinstance(value, Mapping) and "keys" in value:
        return keys_from_jwks(value)
    if isinstance(value, Mapping) and "kty" in value:
        return [key_from_jwk(value)]
    raise KeySetError(f"{name}: JSON that is neither a JWK nor a JWK Set")


def _is_pgp(data: bytes) -> bool:
    return bool(data[:1] and data[0] & 0x80) or data.lstrip()[:32].startswith(b"-----BEGIN PGP")


def parse_key_bytes(
    data: bytes,
    *,
    name: str,
    codec: str | None,
    passphrase: str | None,
    kid: str | None,
    use: str | None,
) -> ParsedFile:
    """The keys of one key file's bytes, whatever its format (``name`` is for messages), and
    the revoked OpenPGP keys left out of them. A file of revoked keys only has no ``keys``."""
    head = data.lstrip()[:32]
    if _is_pgp(data):
        parsed = _pgp_keys(data, name, passphrase)
    elif head.startswith(b"-----BEGIN"):
        from ..codecs.jwe import key_from_pem

        password = passphrase.encode("utf-8") if passphrase is not None else None
        parsed = ParsedFile(
            [key_from_pem(data, kid=kid or _pem_kid(name), use=use, password=password)]
        )
    elif head.startswith(b"{"):
        parsed = ParsedFile(_json_keys(data, name))
    else:
        raise KeySetError(f"{name}: not a key file (OpenPGP, JWK, JWK Set or PEM)")
    keys = parsed.keys
    if not keys and not parsed.revoked:
        raise KeySetError(f"{name}: no keys found")
    if codec is not None and keys and keys[0].codec != codec:
        raise KeySetError(f"{name} holds {keys[0].codec!r} keys, not {codec!r} keys")
    return parsed


def refuse_revoked(name: str, revoked: Collection[str]) -> None:
    """Raise `KeyRevoked` naming the revoked keys of the file ``name``, if there are any."""
    if revoked:
        raise KeyRevoked(
            f"{name}: key {', '.join(revoked)} is revoked; remove it", kids=tuple(revoked)
        )


def key_file_set(parsed: ParsedFile, name: str) -> LoadReport:
    """A plain key file as a set: its first key that is not revoked is the primary."""
    if not parsed.keys:
        raise KeyRevoked(f"{name}: every key is revoked; nothing is left", kids=parsed.revoked)
    keyset = KeySet(parsed.keys, primary=parsed.keys[0].kid)
    revoked = tuple(Revocation(kid, name) for kid in parsed.revoked)
    return LoadReport(keyset, (*keyset.kids, *parsed.revoked), revoked)


def without_revoked(keys: Sequence[Key], primary: str, revoked: Collection[str]) -> KeySet:
    """The set of ``keys`` without the ``revoked`` ones, ``primary`` its primary.

    When the primary is revoked, the first ENABLED key left stands in for it: in an OpenPGP
    set (the only kind with revocations) the primary only puts its key first, since seal signs
    with and encrypts to every ENABLED key. `KeyRevoked` when no ENABLED key is left.
    """
    kept = [k for k in keys if k.kid not in revoked]
    if primary in revoked:
        stand_in = next((k.kid for k in kept if k.status is KeyStatus.ENABLED), None)
        if stand_in is None:
            raise KeyRevoked(
                f"the primary {primary} is revoked and no other ENABLED key is left; "
                "add and promote a new key",
                kids=tuple(revoked),
            )
        primary = stand_in
    return KeySet(kept, primary=primary)


def retire(keyset: KeySet, revoked: Collection[str]) -> KeySet:
    """``keyset`` without the ``revoked`` keys, for a set already in service.

    When no ENABLED key would be left, the revoked primary stays as an expired placeholder
    (a `KeySet` needs an ENABLED primary): expired, it seals nothing and verifies nothing.
    """
    if not any(kid in keyset for kid in revoked):
        return keyset
    try:
        return without_revoked(list(keyset), keyset.primary.kid, revoked)
    except KeyRevoked:
        gone = keyset.primary.with_validity(not_before=None, not_after=_LONG_AGO)
        rest = (k for k in keyset if k.kid not in revoked)
        return KeySet([gone, *rest], primary=gone.kid)


@detach_errors
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
        KeyRevoked: an OpenPGP key in the file is revoked (`load_keyset` leaves it out).
        KeySetError: unreadable, malformed or weak keys, or a manifest instead of a key file.
            No error holds the passphrase or the key bytes, in its frames either.
    """
    p = Path(path)
    parsed = parse_key_file(p, codec=codec, passphrase=passphrase, kid=kid, use=use)
    refuse_revoked(str(p), parsed.revoked)
    return parsed.keys


def parse_key_file(
    path: Path, *, codec: str | None, passphrase: str | None, kid: str | None, use: str | None
) -> ParsedFile:
    """`parse_key_bytes` of the file at ``path`` (named by its path in messages)."""
    try:
        data = read_capped(path)
    except OSError as exc:
        raise KeySetError(f"cannot read key file {path}: {why(exc)}") from None
    return parse_key_bytes(
        data, name=str(path), codec=codec, passphrase=passphrase, kid=kid, use=use
    )


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
