"""Key lifecycle on disk: keyset manifests, checks against Google's key rules, and a holder
that picks up a changed manifest without a restart.

A manifest is a small JSON file naming the key files of one `KeySet`, its primary and which
keys are disabled, so a rotation is an edit of data (``gpay-envelope keys rotate ...``), never
of code::

    {
      "version": 1,
      "codec": "pgp",
      "environment": "production",
      "primary": "7E49EC9B97285312BCC2F6B6655A26BF05F179FF",
      "passphrase": {"env": "GPAY_PGP_PASSPHRASE"},
      "keys": [
        {"file": "partner-2026.secret.asc", "kid": "7E49EC9B97285312BCC2F6B6655A26BF05F179FF"},
        {"file": "partner-2025.secret.asc", "kid": "0A1B...", "status": "disabled"}
      ]
    }

- ``file`` is relative to the manifest's folder (or absolute). It may be armored or binary
  OpenPGP, a JWK, a JWK Set or a PEM key; ``kid`` selects one key of a file that holds several
  and is checked against the file when given (the tools always write it).
- ``status`` is ``"enabled"`` (the default) or ``"disabled"``; ``primary`` is a kid.
- Passphrases are never written in a manifest: ``{"env": NAME}`` names an environment variable
  and ``{"file": PATH}`` a file holding it (one trailing newline is dropped). The top-level
  ``passphrase`` applies to every entry without its own. PEM entries may say ``"use"``.
- ``environment`` (``"sandbox"`` / ``"production"``) and ``note`` are for people; Google's
  sandbox and production exchanges never share keys.

`load_manifest` turns a manifest into a validated `KeySet`; `add_key`, `promote_key`,
`set_key_status` and `remove_key` edit one atomically (the result is validated first, then
written to a temporary file and renamed over the old one); `KeySetWatcher` gives a long-running
service the current set and swaps in a changed one only once it loaded completely.
`check_keyset` reports what breaks Google's key rules.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final, Literal

from ._keys import Key, KeySet, KeyStatus, utcnow
from .errors import KeyNotFound, KeySetError

__all__ = [
    "MANIFEST_VERSION",
    "MAX_LIFETIME",
    "ONE_YEAR",
    "Finding",
    "KeyInfo",
    "KeySetWatcher",
    "Manifest",
    "ManifestEntry",
    "PartInfo",
    "PassphraseRef",
    "add_key",
    "check_key",
    "check_keyset",
    "describe_key",
    "init_manifest",
    "is_manifest",
    "load_keyset",
    "load_manifest",
    "promote_key",
    "read_key_file",
    "read_manifest",
    "remove_key",
    "resolve_kid",
    "save_manifest",
    "set_key_status",
]

MANIFEST_VERSION: Final = 1
#: Google's rules: keys "expire in one year" (a leap day of slack) ...
ONE_YEAR: Final = timedelta(days=366)
#: ... with a "maximum lifetime of two years".
MAX_LIFETIME: Final = timedelta(days=731)

_LOG = logging.getLogger(__name__)
_CODECS: Final = ("pgp", "jwe")
_MAX_MANIFEST: Final = 1 << 20
_MAX_KEY_FILE: Final = 4 << 20
_MAX_ENTRIES: Final = 64
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch
_TOP_MEMBERS: Final = frozenset(
    {"version", "codec", "environment", "primary", "passphrase", "keys", "note"}
)
_ENTRY_MEMBERS: Final = frozenset({"file", "kid", "status", "passphrase", "use", "note"})
_FLAG_CERTIFY: Final = 0x01

Reader = Callable[[Path], bytes]


def _read_file(path: Path, limit: int = _MAX_KEY_FILE) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise KeySetError(f"{path}: over {limit} bytes, refused")
    return data


# -- the manifest model ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PassphraseRef:
    """Where a passphrase comes from: an environment variable or a file, never the manifest."""

    env: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.env is None) == (self.file is None):
            raise KeySetError("a passphrase reference names exactly one of 'env' or 'file'")
        if self.env is not None and not _ENV_NAME(self.env):
            raise KeySetError(f"{self.env!r} is not an environment variable name")
        if self.file is not None and (not isinstance(self.file, str) or not self.file):
            raise KeySetError("a passphrase file must be a non-empty path")

    @classmethod
    def from_json(cls, value: object, where: str) -> PassphraseRef:
        """Parse ``{"env": NAME}`` or ``{"file": PATH}``; an inline passphrase is refused."""
        if isinstance(value, str):
            raise KeySetError(
                f"{where}: passphrases are never stored in a manifest; use "
                '{"env": "VARIABLE"} or {"file": "path"}'
            )
        if not isinstance(value, Mapping) or set(value) - {"env", "file"}:
            raise KeySetError(f'{where}: passphrase must be {{"env": NAME}} or {{"file": PATH}}')
        env, file = value.get("env"), value.get("file")
        if (env is not None and not isinstance(env, str)) or (
            file is not None and not isinstance(file, str)
        ):
            raise KeySetError(f"{where}: passphrase env and file must be strings")
        return cls(env=env, file=file)

    def to_json(self) -> dict[str, str]:
        """The JSON form."""
        return {"env": self.env} if self.env is not None else {"file": str(self.file)}

    def path(self, base: Path) -> Path | None:
        """The passphrase file, resolved against ``base``, or None for an environment variable."""
        return None if self.file is None else base / self.file

    def resolve(self, base: Path, read: Reader = _read_file) -> str:
        """The passphrase. Raises `KeySetError` when the variable is unset or the file empty."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise KeySetError(f"environment variable {self.env} (a passphrase) is not set")
            return value
        path = self.path(base)
        assert path is not None
        try:
            text = read(path).decode("utf-8")
        except UnicodeDecodeError:
            raise KeySetError(f"passphrase file {self.file} is not UTF-8") from None
        text = text[:-1] if text.endswith("\n") else text
        text = text[:-1] if text.endswith("\r") else text
        if not text:
            raise KeySetError(f"passphrase file {self.file} is empty")
        return text


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One key of a manifest: its file, kid, status, passphrase reference and (PEM) use."""

    file: str
    kid: str | None = None
    status: KeyStatus = KeyStatus.ENABLED
    passphrase: PassphraseRef | None = None
    use: str | None = None
    note: str | None = None

    @classmethod
    def from_json(cls, value: object, where: str) -> ManifestEntry:
        """Parse one entry of ``keys``."""
        if not isinstance(value, Mapping):
            raise KeySetError(f"{where}: each key entry must be an object")
        unknown = set(value) - _ENTRY_MEMBERS
        if unknown:
            raise KeySetError(f"{where}: unknown member(s) {sorted(unknown)}")
        file, kid, status = value.get("file"), value.get("kid"), value.get("status", "enabled")
        if not isinstance(file, str) or not file:
            raise KeySetError(f"{where}: 'file' must be a non-empty string")
        if kid is not None and not isinstance(kid, str):
            raise KeySetError(f"{where}: 'kid' must be a string")
        try:
            key_status = KeyStatus(status)
        except ValueError:
            raise KeySetError(f"{where}: status must be 'enabled' or 'disabled'") from None
        use = value.get("use")
        if use not in (None, "enc", "sig"):
            raise KeySetError(f"{where}: use must be 'enc' or 'sig'")
        note = value.get("note")
        if note is not None and not isinstance(note, str):
            raise KeySetError(f"{where}: 'note' must be a string")
        ref = value.get("passphrase")
        return cls(
            file=file,
            kid=kid,
            status=key_status,
            passphrase=None if ref is None else PassphraseRef.from_json(ref, where),
            use=use,
            note=note,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form (defaults left out)."""
        out: dict[str, Any] = {"file": self.file}
        if self.kid is not None:
            out["kid"] = self.kid
        out["status"] = self.status.value
        if self.passphrase is not None:
            out["passphrase"] = self.passphrase.to_json()
        if self.use is not None:
            out["use"] = self.use
        if self.note is not None:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class Manifest:
    """A parsed manifest. Immutable; `load` turns it into a validated `KeySet`."""

    codec: str
    primary: str
    keys: tuple[ManifestEntry, ...]
    environment: str | None = None
    passphrase: PassphraseRef | None = None
    note: str | None = None

    @classmethod
    def from_json(
        cls, data: bytes | str | Mapping[str, Any], *, name: str = "manifest"
    ) -> Manifest:
        """Parse a manifest (JSON text or a dict). Raises `KeySetError` on anything off."""
        if isinstance(data, (bytes, str)):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise KeySetError(f"{name}: not valid JSON ({exc})") from None
        if not isinstance(data, Mapping):
            raise KeySetError(f"{name}: a manifest is a JSON object")
        unknown = set(data) - _TOP_MEMBERS
        if unknown:
            raise KeySetError(f"{name}: unknown member(s) {sorted(unknown)}")
        version = data.get("version", MANIFEST_VERSION)
        if version != MANIFEST_VERSION:
            raise KeySetError(f"{name}: manifest version {version!r} is not supported")
        codec, primary, keys = data.get("codec"), data.get("primary"), data.get("keys")
        if codec not in _CODECS:
            raise KeySetError(f"{name}: codec must be one of {list(_CODECS)}")
        if not isinstance(primary, str) or not primary:
            raise KeySetError(f"{name}: 'primary' must name a key id")
        if not isinstance(keys, list) or not keys:
            raise KeySetError(f"{name}: 'keys' must be a non-empty list")
        if len(keys) > _MAX_ENTRIES:
            raise KeySetError(f"{name}: more than {_MAX_ENTRIES} keys")
        env, note = data.get("environment"), data.get("note")
        for label, value in (("environment", env), ("note", note)):
            if value is not None and not isinstance(value, str):
                raise KeySetError(f"{name}: {label!r} must be a string")
        ref = data.get("passphrase")
        return cls(
            codec=str(codec),
            primary=primary,
            keys=tuple(
                ManifestEntry.from_json(k, f"{name}: keys[{i}]") for i, k in enumerate(keys)
            ),
            environment=env,
            passphrase=None if ref is None else PassphraseRef.from_json(ref, name),
            note=note,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        out: dict[str, Any] = {"version": MANIFEST_VERSION, "codec": self.codec}
        if self.environment is not None:
            out["environment"] = self.environment
        if self.note is not None:
            out["note"] = self.note
        out["primary"] = self.primary
        if self.passphrase is not None:
            out["passphrase"] = self.passphrase.to_json()
        out["keys"] = [k.to_json() for k in self.keys]
        return out

    def dumps(self) -> bytes:
        """The file content: indented JSON with a trailing newline."""
        return (json.dumps(self.to_json(), indent=2) + "\n").encode("utf-8")

    def paths(self, base: Path) -> list[Path]:
        """Every file the manifest reads: key files, then passphrase files."""
        out = [base / e.file for e in self.keys]
        for ref in (self.passphrase, *(e.passphrase for e in self.keys)):
            p = ref.path(base) if ref is not None else None
            if p is not None and p not in out:
                out.append(p)
        return out

    def load(self, base: Path, *, read: Reader = _read_file) -> KeySet:
        """Load every key (files relative to ``base``) into a validated `KeySet`."""
        return self.load_indexed(base, read=read)[0]

    def load_indexed(
        self, base: Path, *, read: Reader = _read_file
    ) -> tuple[KeySet, tuple[str, ...]]:
        """Like `load`, and also the kid each entry resolved to."""
        keys: list[Key] = []
        for entry in self.keys:
            ref = entry.passphrase or self.passphrase
            passphrase = ref.resolve(base, read) if ref is not None else None
            path = base / entry.file
            try:
                data = read(path)
            except OSError as exc:
                raise KeySetError(f"cannot read key file {entry.file}: {_why(exc)}") from None
            found = _parse_key_bytes(
                data,
                name=entry.file,
                codec=self.codec,
                passphrase=passphrase,
                kid=entry.kid,
                use=entry.use,
            )
            if entry.kid is not None:
                found = [k for k in found if k.kid == entry.kid]
                if not found:
                    raise KeySetError(f"key file {entry.file} holds no key {entry.kid!r}")
            elif len(found) != 1:
                raise KeySetError(
                    f"key file {entry.file} holds {len(found)} keys; name one with 'kid'"
                )
            keys.append(found[0].with_status(entry.status))
        keyset = KeySet(keys, primary=self.primary)
        return keyset, tuple(k.kid for k in keys)


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


# -- reading key files ----------------------------------------------------------------------
def _json_or_none(data: bytes) -> object:
    if not data.lstrip()[:1] == b"{":
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _manifest_shaped(value: object) -> bool:
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
    return _manifest_shaped(_json_or_none(_read_file(Path(path), _MAX_MANIFEST)))


def _pem_kid(name: str) -> str:
    return Path(name).name.split(".", 1)[0] or "pem-key"


def _parse_key_bytes(
    data: bytes,
    *,
    name: str,
    codec: str | None,
    passphrase: str | None,
    kid: str | None,
    use: str | None,
) -> list[Key]:
    from .codecs.jwe import key_from_jwk, key_from_pem, keys_from_jwks

    head = data.lstrip()[:32]
    keys: list[Key]
    if (data[:1] and data[0] & 0x80) or head.startswith(b"-----BEGIN PGP"):
        from .codecs.pgp import keys_from_pgp

        try:
            keys = keys_from_pgp(data, passphrase=passphrase)
        except KeySetError as exc:
            if passphrase is None and "passphrase-protected" in str(exc):
                raise KeySetError(
                    f"{name} is passphrase-protected; name its passphrase (an environment "
                    "variable or a file)"
                ) from None
            raise
    elif head.startswith(b"-----BEGIN"):
        password = passphrase.encode("utf-8") if passphrase is not None else None
        keys = [key_from_pem(data, kid=kid or _pem_kid(name), use=use, password=password)]
    elif head.startswith(b"{"):
        value = _json_or_none(data)
        if value is None:
            raise KeySetError(f"{name}: not valid JSON")
        if _manifest_shaped(value):
            raise KeySetError(f"{name} is a keyset manifest, not a key file")
        if isinstance(value, Mapping) and "keys" in value:
            keys = keys_from_jwks(value)
        elif isinstance(value, Mapping) and "kty" in value:
            keys = [key_from_jwk(value)]
        else:
            raise KeySetError(f"{name}: JSON that is neither a JWK nor a JWK Set")
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
        data = _read_file(p)
    except OSError as exc:
        raise KeySetError(f"cannot read key file {p}: {_why(exc)}") from None
    return _parse_key_bytes(data, name=str(p), codec=codec, passphrase=passphrase, kid=kid, use=use)


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Parse the manifest at ``path`` (no key is loaded)."""
    p = Path(path)
    try:
        raw = _read_file(p, _MAX_MANIFEST)
    except OSError as exc:
        raise KeySetError(f"cannot read manifest {p}: {_why(exc)}") from None
    return Manifest.from_json(raw, name=str(p))


def load_manifest(path: str | os.PathLike[str]) -> KeySet:
    """Load the `KeySet` a manifest describes (key files relative to the manifest's folder).

    Raises:
        KeySetError: a malformed manifest, an unreadable or invalid key file, a passphrase
            that is missing or wrong, or a set that breaks the `KeySet` invariants.
    """
    p = Path(path)
    return read_manifest(p).load(p.parent)


def load_keyset(
    path: str | os.PathLike[str], *, passphrase: str | None = None, codec: str | None = None
) -> KeySet:
    """Load a manifest, or a plain key file as a set whose first key is the primary.

    ``passphrase`` applies to a plain key file only; manifests name their own.
    """
    p = Path(path)
    if is_manifest(p):
        keyset = load_manifest(p)
        if codec is not None and keyset.codec != codec:
            raise KeySetError(f"{p} holds {keyset.codec!r} keys, not {codec!r} keys")
        return keyset
    keys = read_key_file(p, codec=codec, passphrase=passphrase)
    return KeySet(keys, primary=keys[0].kid)


def resolve_kid(keyset: KeySet, text: str) -> str:
    """The kid ``text`` names: an exact kid, or for OpenPGP a unique fingerprint suffix of at
    least 8 hex digits (spaces and case ignored), so ``3247F36D28BED86D`` names a key.

    Raises:
        KeyNotFound: no key, or several, match.
    """
    if text in keyset:
        return text
    if keyset.codec == "pgp":
        wanted = text.replace(" ", "").upper()
        if len(wanted) >= 8 and all(c in "0123456789ABCDEF" for c in wanted):
            hits = [k for k in keyset.kids if k.endswith(wanted)]
            if len(hits) == 1:
                return hits[0]
    raise KeyNotFound(f"no single key {text!r} in the set; keys: {', '.join(keyset.kids)}")


# -- writing and editing --------------------------------------------------------------------
def save_manifest(
    manifest: Manifest, path: str | os.PathLike[str], *, expect: bytes | None = None
) -> None:
    """Write ``manifest`` atomically: a temporary file in the same folder, fsync, rename.

    Readers (and `KeySetWatcher`) see the old file or the new one, never a mix. With
    ``expect``, the write is refused when the file no longer holds exactly those bytes
    (somebody else changed it meanwhile). The mode of an existing file is kept (else 0644).
    """
    p = Path(path)
    mode = 0o644
    with contextlib.suppress(FileNotFoundError):
        mode = stat.S_IMODE(p.stat().st_mode)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(manifest.dumps())
            fh.flush()
            os.fsync(fh.fileno())
        if expect is not None:
            try:
                now = _read_file(p, _MAX_MANIFEST)
            except FileNotFoundError:
                now = None
            if now != expect:
                raise KeySetError(f"{p} changed while it was being edited; run the step again")
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


def _relative(file: str | os.PathLike[str], base: Path) -> str:
    # abspath, not resolve: a symlink (a mounted secret, say) stays the path recorded.
    f = os.path.abspath(file)
    try:
        rel = os.path.relpath(f, os.path.abspath(base))
    except ValueError:  # another drive (Windows)
        return f
    return Path(rel).as_posix()


def _edit(
    path: str | os.PathLike[str],
    change: Callable[[Manifest, KeySet, tuple[str, ...], Path], tuple[Manifest, KeySet]],
) -> KeySet:
    p = Path(path)
    try:
        raw = _read_file(p, _MAX_MANIFEST)
    except OSError as exc:
        raise KeySetError(f"cannot read manifest {p}: {_why(exc)}") from None
    manifest = Manifest.from_json(raw, name=str(p))
    keyset, kids = manifest.load_indexed(p.parent)
    # Every entry gets its kid written, so later edits and reviews need no key loading.
    manifest = replace(
        manifest, keys=tuple(replace(e, kid=k) for e, k in zip(manifest.keys, kids, strict=True))
    )
    new_manifest, new_keyset = change(manifest, keyset, kids, p.parent)
    save_manifest(new_manifest, p, expect=raw)
    _LOG.info("keyset manifest %s updated: primary %s", p, new_keyset.primary.kid)
    return new_keyset


def _load_one(
    key_file: str | os.PathLike[str],
    *,
    codec: str | None,
    kid: str | None,
    passphrase: PassphraseRef | None,
    base: Path,
    use: str | None = None,
) -> Key:
    secret = passphrase.resolve(base) if passphrase is not None else None
    keys = read_key_file(key_file, codec=codec, passphrase=secret, kid=kid, use=use)
    if kid is not None:
        keys = [k for k in keys if k.kid == kid]
        if not keys:
            raise KeyNotFound(f"{key_file} holds no key {kid!r}")
    if len(keys) != 1:
        raise KeySetError(f"{key_file} holds {len(keys)} keys; choose one with a kid")
    return keys[0]


def init_manifest(
    path: str | os.PathLike[str],
    key_file: str | os.PathLike[str],
    *,
    kid: str | None = None,
    environment: str | None = None,
    passphrase: PassphraseRef | None = None,
    use: str | None = None,
    force: bool = False,
) -> KeySet:
    """Create a manifest with one key, its primary. Refuses to overwrite unless ``force``.

    ``passphrase`` is stored at the top level, for every key added later without its own.
    """
    p = Path(path)
    if p.exists() and not force:
        raise KeySetError(f"{p} exists; refusing to overwrite it")
    base = p.parent
    key = _load_one(key_file, codec=None, kid=kid, passphrase=passphrase, base=base, use=use)
    entry = ManifestEntry(file=_relative(key_file, base), kid=key.kid, use=use)
    # The passphrase reference goes to the top level: later keys without their own use it.
    manifest = Manifest(
        codec=key.codec,
        primary=key.kid,
        keys=(entry,),
        environment=environment,
        passphrase=passphrase,
    )
    keyset = KeySet([key], primary=key.kid)
    save_manifest(manifest, p, expect=None)
    return keyset


def add_key(
    path: str | os.PathLike[str],
    key_file: str | os.PathLike[str],
    *,
    kid: str | None = None,
    status: KeyStatus = KeyStatus.ENABLED,
    passphrase: PassphraseRef | None = None,
    use: str | None = None,
) -> KeySet:
    """Rotation stage "add": the new key opens at once; sealing still uses the primary."""

    def change(
        m: Manifest, ks: KeySet, kids: tuple[str, ...], base: Path
    ) -> tuple[Manifest, KeySet]:
        ref = passphrase or m.passphrase
        key = _load_one(key_file, codec=m.codec, kid=kid, passphrase=ref, base=base, use=use)
        new = ks.with_key(key.with_status(status))
        entry = ManifestEntry(
            file=_relative(key_file, base),
            kid=key.kid,
            status=status,
            passphrase=passphrase,
            use=use,
        )
        return replace(m, keys=(*m.keys, entry)), new

    return _edit(path, change)


def promote_key(path: str | os.PathLike[str], kid: str, *, now: datetime | None = None) -> KeySet:
    """Rotation stage "promote": ``kid`` becomes the primary. It must be ENABLED, valid now
    and, in a set of your own keys, hold its private half."""
    when = now or utcnow()

    def change(
        m: Manifest, ks: KeySet, kids: tuple[str, ...], base: Path
    ) -> tuple[Manifest, KeySet]:
        full = resolve_kid(ks, kid)
        key = ks.get(full)
        if not key.is_valid_at(when):
            raise KeySetError(f"key {full} is expired or not yet valid; it cannot be the primary")
        if ks.has_secret and not key.has_secret:
            raise KeySetError(f"key {full} has no private half; it cannot seal for you")
        return replace(m, primary=full), ks.with_primary(full)

    return _edit(path, change)


def set_key_status(path: str | os.PathLike[str], kid: str, status: KeyStatus) -> KeySet:
    """Rotation stage "disable" (or undo it): the primary cannot be disabled."""

    def change(
        m: Manifest, ks: KeySet, kids: tuple[str, ...], base: Path
    ) -> tuple[Manifest, KeySet]:
        full = resolve_kid(ks, kid)
        new = ks.with_status(full, status)
        entries = tuple(replace(e, status=status) if e.kid == full else e for e in m.keys)
        return replace(m, keys=entries), new

    return _edit(path, change)


def remove_key(path: str | os.PathLike[str], kid: str, *, force: bool = False) -> KeySet:
    """Rotation stage "remove". An ENABLED key is only removed with ``force``: disable it
    first, so that a mistake can still be undone by enabling it again."""

    def change(
        m: Manifest, ks: KeySet, kids: tuple[str, ...], base: Path
    ) -> tuple[Manifest, KeySet]:
        full = resolve_kid(ks, kid)
        if ks.get(full).status is KeyStatus.ENABLED and full != ks.primary.kid and not force:
            raise KeySetError(
                f"key {full} is still ENABLED; disable it first, or remove it with force"
            )
        new = ks.without(full)
        return replace(m, keys=tuple(e for e in m.keys if e.kid != full)), new

    return _edit(path, change)


# -- the reloading holder -------------------------------------------------------------------
_StatSig = tuple[tuple[str, int, int, int, int] | tuple[str], ...]


def _stat_all(paths: Sequence[Path]) -> _StatSig:
    out: list[tuple[str, int, int, int, int] | tuple[str]] = []
    for p in paths:
        try:
            st = p.stat()
        except OSError:
            out.append((str(p),))
            continue
        out.append((str(p), st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
    return tuple(out)


class _Unreadable(KeySetError):
    """A file the manifest names could not be read; says which files to watch for a retry."""

    def __init__(self, message: str, paths: tuple[Path, ...], stat: _StatSig) -> None:
        super().__init__(message)
        self.paths = paths
        self.stat = stat


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """The bytes of a manifest and of every file it names (or of one key file), read once."""

    path: Path
    manifest: Manifest | None
    blobs: Mapping[Path, bytes] = field(repr=False)
    paths: tuple[Path, ...]
    stat: _StatSig
    digest: bytes

    @classmethod
    def take(cls, path: Path, *, manifest: bool) -> _Snapshot:
        """Read ``path`` (a manifest and its files, or a plain key file)."""
        first_stat = _stat_all([path])
        raw = _read_file(path, _MAX_MANIFEST if manifest else _MAX_KEY_FILE)
        parsed = Manifest.from_json(raw, name=str(path)) if manifest else None
        files = parsed.paths(path.parent) if parsed is not None else []
        stat_sig = first_stat + _stat_all(files)
        blobs: dict[Path, bytes] = {path: raw}
        h = hashlib.sha256()
        for p in (path, *files):
            if p not in blobs:
                try:
                    blobs[p] = _read_file(p)
                except OSError as exc:
                    raise _Unreadable(
                        f"cannot read {p.name}: {_why(exc)}", (path, *files), stat_sig
                    ) from None
            name = str(p).encode("utf-8", "surrogateescape")
            h.update(len(name).to_bytes(8, "big") + name)
            h.update(len(blobs[p]).to_bytes(8, "big") + blobs[p])
        return cls(path, parsed, blobs, (path, *files), stat_sig, h.digest())

    def build(self) -> KeySet:
        """The `KeySet` of the snapshot's bytes (nothing is read from disk again)."""
        if self.manifest is None:
            keys = _parse_key_bytes(
                self.blobs[self.path],
                name=self.path.name,
                codec=None,
                passphrase=None,
                kid=None,
                use=None,
            )
            return KeySet(keys, primary=keys[0].kid)

        def read(p: Path) -> bytes:
            try:
                return self.blobs[p]
            except KeyError:
                raise FileNotFoundError(2, "not in the snapshot", str(p)) from None

        return self.manifest.load(self.path.parent, read=read)


@dataclass(frozen=True, slots=True)
class _State:
    keyset: KeySet
    digest: bytes
    stat: _StatSig


class KeySetWatcher:
    """The current `KeySet` of a manifest, reloaded when the manifest or a file it names
    changes, so a long-running service follows a rotation without a restart.

    ``path`` may also be a plain key file (say, the JWK Set or armored keys Google sent you,
    replaced when Google rotates): its first key is the primary; it cannot name a passphrase.

    A change is noticed by a cheap ``stat`` of every file (mtime, size, inode); the files are
    then read once and hashed, and a new set is built only when the content differs. The swap
    is one reference assignment, after the new set loaded completely and passed every
    `KeySet` check: `current` never returns a half-loaded set. When the new content is bad
    (malformed JSON, a missing key file, a wrong passphrase, no valid primary...), the old set
    stays in service, the reason is logged once (WARNING, logger ``gpay_envelope.manifest``)
    and kept in `last_error`, and the next change is tried again.

    Use it in one of two ways:

    - call `current` per request: at most every ``poll_interval`` seconds it runs the check
      inline (one thread at a time; the others keep the old set meanwhile);
    - or `start` a background thread (or use the watcher as a context manager) that checks
      every ``poll_interval`` seconds; `current` then only returns the reference.

    The first load happens in the constructor and raises `KeySetError` when it fails: a
    service should not start without keys. Passphrases from environment variables are read
    at each reload; a change of the variable alone is not noticed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        poll_interval: float = 5.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if poll_interval < 0:
            raise ValueError("poll_interval must be >= 0")
        self._path = Path(path)
        self._interval = float(poll_interval)
        self._log = logger or _LOG
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            self._manifest = is_manifest(self._path)
            snap = _Snapshot.take(self._path, manifest=self._manifest)
        except OSError as exc:
            raise KeySetError(f"cannot read {self._path}: {_why(exc)}") from None
        self._state = _State(snap.build(), snap.digest, snap.stat)
        self._watch: tuple[Path, ...] = snap.paths
        self._failed: _StatSig | None = None
        self._last_error: str | None = None
        self._reloads = 0
        self._last_check = clock()

    @property
    def path(self) -> Path:
        """The manifest (or key file) being watched."""
        return self._path

    @property
    def last_error(self) -> str | None:
        """Why the latest change was not loaded, or None when the current set is up to date."""
        return self._last_error

    @property
    def reloads(self) -> int:
        """How many times a new set was swapped in."""
        return self._reloads

    def current(self) -> KeySet:
        """The current set (checking for a change first when ``poll_interval`` has passed and
        no background thread runs)."""
        if self._thread is None and self._clock() - self._last_check >= self._interval:
            if self._lock.acquire(blocking=False):
                try:
                    self._check_locked(force=False)
                finally:
                    self._lock.release()
        return self._state.keyset

    def check(self, *, force: bool = False) -> bool:
        """Look for a change now and load it; True when a new set was swapped in.

        ``force`` re-reads the files even when their ``stat`` did not change (for example on
        SIGHUP, or on file systems with coarse timestamps).
        """
        with self._lock:
            return self._check_locked(force=force)

    def _check_locked(self, *, force: bool) -> bool:
        self._last_check = self._clock()
        state = self._state
        now_stat = _stat_all(self._watch)
        if not force and (now_stat == state.stat or now_stat == self._failed):
            return False
        # On failure, remember the stat taken *before* the files were read: a file that
        # changes (or appears) right after a failed read is still noticed next time.
        failed_stat = now_stat
        try:
            snap = _Snapshot.take(self._path, manifest=self._manifest)
            self._watch, failed_stat = snap.paths, snap.stat
            if snap.digest == state.digest:
                self._state = replace(state, stat=snap.stat)
                self._failed, self._last_error = None, None
                return False
            keyset = snap.build()
        except (KeySetError, OSError, ValueError) as exc:
            if isinstance(exc, _Unreadable):
                self._watch, failed_stat = exc.paths, exc.stat
            self._failed = failed_stat
            reason = _reason(exc)
            if reason != self._last_error:
                self._log.warning(
                    "keyset %s not reloaded, keeping the previous set (primary %s): %s",
                    self._path,
                    state.keyset.primary.kid,
                    reason,
                )
            self._last_error = reason
            return False
        self._state = _State(keyset, snap.digest, snap.stat)
        self._failed, self._last_error = None, None
        self._reloads += 1
        self._log.info(
            "keyset %s reloaded: primary %s, %d keys", self._path, keyset.primary.kid, len(keyset)
        )
        return True

    # -- background thread ----------------------------------------------------------------
    def start(self) -> KeySetWatcher:
        """Check every ``poll_interval`` seconds in a daemon thread until `stop`."""
        if self._interval <= 0:
            raise ValueError("a background watcher needs poll_interval > 0")
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"KeySetWatcher({self._path.name})", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the background thread (waiting at most ``timeout`` seconds for it)."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:  # never let the watcher thread die; keep serving the old set
                self._log.exception("keyset %s: unexpected error while checking", self._path)

    def __enter__(self) -> KeySetWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        ks = self._state.keyset
        return (
            f"KeySetWatcher({str(self._path)!r}, primary={ks.primary.kid!r}, keys={len(ks)}, "
            f"reloads={self._reloads}, last_error={self._last_error!r})"
        )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {_why(exc)}".lstrip(": ")
    return str(exc) or type(exc).__name__


# -- describing and checking keys -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PartInfo:
    """An OpenPGP primary key or subkey."""

    role: Literal["primary", "subkey"]
    fingerprint: str
    size: int
    usages: tuple[str, ...]
    created: datetime
    expires: datetime | None
    revoked: bool

    @property
    def key_id(self) -> str:
        """The 16-hex-digit key id."""
        return self.fingerprint[-16:]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What an operator needs to know about one key (no key material)."""

    kid: str
    codec: str
    kty: str
    size: int
    usages: tuple[str, ...]
    algorithms: tuple[str, ...]
    status: KeyStatus
    primary: bool
    secret: bool
    created: datetime | None
    not_before: datetime | None
    expires: datetime | None
    user_ids: tuple[str, ...] = ()
    parts: tuple[PartInfo, ...] = ()
    thumbprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""

        def iso(d: datetime | None) -> str | None:
            return None if d is None else d.isoformat()

        out: dict[str, Any] = {
            "kid": self.kid,
            "codec": self.codec,
            "kty": self.kty,
            "size": self.size,
            "usages": list(self.usages),
            "algorithms": list(self.algorithms),
            "status": self.status.value,
            "primary": self.primary,
            "secret": self.secret,
            "created": iso(self.created),
            "not_before": iso(self.not_before),
            "expires": iso(self.expires),
        }
        if self.codec == "pgp":
            out["user_ids"] = list(self.user_ids)
            out["parts"] = [
                {
                    "role": p.role,
                    "fingerprint": p.fingerprint,
                    "size": p.size,
                    "usages": list(p.usages),
                    "created": iso(p.created),
                    "expires": iso(p.expires),
                    "revoked": p.revoked,
                }
                for p in self.parts
            ]
        if self.thumbprint is not None:
            out["thumbprint"] = self.thumbprint
        return out


def _from_epoch(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def describe_key(key: Key, *, primary: bool = False) -> KeyInfo:
    """Describe ``key`` for listings and checks: usages, sizes, dates; never key material.

    ``created`` is the OpenPGP creation time, or for a JWE key its ``nbf`` (which
    ``gpay-envelope keys generate`` sets to the generation time), or None.
    """
    algorithms = tuple(sorted(key.algorithms))
    if key.codec == "pgp":
        from .codecs.pgp import PGPMaterial

        material = key.material
        assert isinstance(material, PGPMaterial)
        parts = tuple(
            PartInfo(
                role="primary" if p.primary else "subkey",
                fingerprint=p.hex,
                size=p.size,
                usages=tuple(
                    name
                    for name, ok in (
                        ("certify", bool(p.flags & _FLAG_CERTIFY)),
                        ("sign", p.can_sign()),
                        ("encrypt", p.can_encrypt()),
                    )
                    if ok
                ),
                created=datetime.fromtimestamp(p.created, timezone.utc),
                expires=_from_epoch(p.expires),
                revoked=p.revoked,
            )
            for p in material.parts
        )
        usages = tuple(
            u for u in ("certify", "sign", "encrypt") if any(u in p.usages for p in parts)
        )
        return KeyInfo(
            kid=key.kid,
            codec=key.codec,
            kty=key.kty,
            size=key.size,
            usages=usages,
            algorithms=algorithms,
            status=key.status,
            primary=primary,
            secret=key.has_secret,
            created=parts[0].created,
            not_before=key.not_before,
            expires=key.not_after,
            user_ids=material.user_ids,
            parts=parts,
        )
    usages = {"enc": ("encrypt",), "sig": ("sign",)}.get(key.use or "", ("encrypt", "sign"))
    thumbprint = None
    jose = getattr(key.material, "jose", None)
    if jose is not None:
        thumbprint = str(jose.thumbprint())
    return KeyInfo(
        kid=key.kid,
        codec=key.codec,
        kty=key.kty,
        size=key.size,
        usages=usages,
        algorithms=algorithms,
        status=key.status,
        primary=primary,
        secret=key.has_secret,
        created=key.not_before,
        not_before=key.not_before,
        expires=key.not_after,
        thumbprint=thumbprint,
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of a check: ``error`` fails it, ``warning`` fails it only when strict."""

    level: Literal["error", "warning", "note"]
    kid: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"level": self.level, "kid": self.kid, "message": self.message}


def _date(d: datetime) -> str:
    return d.strftime("%Y-%m-%d")


def _lifetime(
    kid: str, what: str, created: datetime | None, expires: datetime, own: bool, now: datetime
) -> list[Finding]:
    strong: Literal["error", "warning"] = "error" if own else "warning"
    if created is None:
        if expires - now > MAX_LIFETIME:
            return [
                Finding(
                    strong,
                    kid,
                    f"{what}expires {_date(expires)}, more than two years from now: Google's "
                    "maximum lifetime is two years",
                )
            ]
        return []
    days = (expires - created).days
    if expires - created > MAX_LIFETIME:
        return [
            Finding(
                strong,
                kid,
                f"{what}lifetime is {days} days (created {_date(created)}, expires "
                f"{_date(expires)}): Google's maximum is two years",
            )
        ]
    if expires - created > ONE_YEAR:
        return [
            Finding(
                "warning",
                kid,
                f"{what}lifetime is {days} days: Google asks for keys that expire in one year "
                "(two at most)",
            )
        ]
    return []


def check_key(
    key: Key, *, primary: bool = False, now: datetime | None = None, warn_days: int = 30
) -> list[Finding]:
    """Check one key against Google's key rules (spec P5, P6, J6).

    Errors: expired or expiring within ``warn_days``; an own key (one holding its private
    half) without an expiry or with a lifetime over two years; an OpenPGP key without a usable
    encryption subkey or without a usable signing key. Warnings: a lifetime over one year; a
    peer's (public-only) key without an expiry or over two years (its owner must fix it); a
    JWE key bound to both uses; a DISABLED key that has expired (remove it). A DISABLED key is
    otherwise only noted: it neither seals nor opens.
    """
    when = now or utcnow()
    info = describe_key(key, primary=primary)
    kid, own = key.kid, key.has_secret
    out: list[Finding] = []
    expires = info.expires
    if key.status is KeyStatus.DISABLED:
        if expires is not None and expires <= when:
            out.append(Finding("warning", kid, f"disabled and expired {_date(expires)}: remove it"))
        else:
            out.append(Finding("note", kid, "disabled: it neither seals nor opens"))
        return out
    if expires is None:
        if own:
            out.append(
                Finding(
                    "error",
                    kid,
                    "never expires: Google requires keys that expire in one year (two years "
                    "at most); generate a new key",
                )
            )
        else:
            out.append(
                Finding(
                    "warning",
                    kid,
                    "never expires: Google's rules ask every key to expire (its sample keys "
                    "do not)",
                )
            )
    elif expires <= when:
        action = "promote a valid key, then disable it" if primary else "disable and remove it"
        out.append(Finding("error", kid, f"expired {_date(expires)}: {action}"))
    elif expires - when < timedelta(days=warn_days):
        days = (expires - when).days
        if not own:
            action = "rotate it (for a peer's key: get the peer's new key)"
        elif primary:
            action = "rotate now (generate, add, verify-rotation, send to Google, promote)"
        else:
            action = "finish the rotation: disable it once Google no longer uses it"
        out.append(Finding("error", kid, f"expires in {days} days ({_date(expires)}): {action}"))
    if expires is not None:
        out.extend(_lifetime(kid, "", info.created, expires, own, when))
    if info.not_before is not None and info.not_before > when:
        out.append(Finding("note", kid, f"not valid before {_date(info.not_before)}"))
    if key.codec == "pgp":
        out.extend(_check_pgp_parts(info, own=own, now=when, warn_days=warn_days))
    else:
        if key.use is None:
            out.append(
                Finding(
                    "warning",
                    kid,
                    "bound to both encryption and signatures: Google's JWE exchange uses one "
                    "key per use",
                )
            )
        if "RSA1_5" in key.algorithms:
            out.append(Finding("note", kid, "legacy: bound to RSA1_5 (Google's older JWE text)"))
    return out


def _check_pgp_parts(info: KeyInfo, *, own: bool, now: datetime, warn_days: int) -> list[Finding]:
    out: list[Finding] = []
    kid = info.kid
    primary, subkeys = info.parts[0], info.parts[1:]
    enc_subs = [p for p in subkeys if "encrypt" in p.usages]

    def valid(p: PartInfo) -> bool:
        return not p.revoked and p.created <= now and (p.expires is None or now < p.expires)

    if not enc_subs:
        if "encrypt" in primary.usages:
            msg = "encrypts with its primary key: Google requires a separate encryption subkey"
        else:
            msg = "has no encryption subkey: Google requires one (the primary is for identity)"
        out.append(Finding("error", kid, msg))
    else:
        live = [p for p in enc_subs if valid(p)]
        if not live:
            out.append(Finding("error", kid, "every encryption subkey is expired or revoked"))
        elif all(p.expires is not None for p in live):
            last = max(p.expires for p in live if p.expires is not None)
            if (info.expires is None or last < info.expires) and last - now < timedelta(
                days=warn_days
            ):
                days = (last - now).days
                out.append(
                    Finding(
                        "error",
                        kid,
                        f"its encryption subkey expires in {days} days ({_date(last)})",
                    )
                )
    if not any("sign" in p.usages and valid(p) for p in info.parts):
        out.append(Finding("error", kid, "has no usable signing key"))
    for p in info.parts:
        if p.expires is not None and p.role == "subkey" and not p.revoked:
            out.extend(_lifetime(kid, f"subkey {p.key_id}: ", p.created, p.expires, own, now))
    return out


def check_keyset(
    keyset: KeySet, *, now: datetime | None = None, warn_days: int = 30
) -> list[Finding]:
    """Check every key of ``keyset`` (`check_key`) and the set as a whole.

    The `KeySet` invariants (one ENABLED primary, unique kids, one codec, RSA >= 2048) hold
    for any set that exists; this adds: the primary must be usable now, a set should not mix
    own (secret) and public-only keys, and a JWE set mixing encryption and signing keys is
    flagged (its one primary serves only one of the two uses).
    """
    when = now or utcnow()
    out: list[Finding] = []
    primary = keyset.primary
    for key in keyset.primary_first():
        out.extend(check_key(key, primary=key is primary, now=when, warn_days=warn_days))
    if not primary.is_valid_at(when) and primary.not_before is not None:
        if primary.not_before > when:
            out.append(Finding("error", primary.kid, "the primary is not valid yet"))
    secrets = {k.has_secret for k in keyset}
    if len(secrets) > 1:
        out.append(
            Finding(
                "warning",
                None,
                "the set mixes your own keys (with a private half) and public-only keys",
            )
        )
    if keyset.codec == "jwe":
        uses = {k.use for k in keyset}
        if {"enc", "sig"} <= uses:
            out.append(
                Finding(
                    "warning",
                    None,
                    "the set holds encryption and signing keys; keep one manifest per use so "
                    "each has its own primary",
                )
            )
    return out
