"""Keyset manifests: the model, its JSON form, loading it into a `KeySet`, and the rotation
edits.

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
- A token key (docs/hsm.md) says ``"pkcs11": "pkcs11:token=...;object=..."``; its ``file``
  is the public half (JWK or OpenPGP public key) and ``"pin"`` is ``{"env": NAME}`` or
  ``{"file": PATH}`` like a passphrase: the PIN is never in a manifest.
- ``environment`` (``"sandbox"`` / ``"production"``) and ``note`` are for people; Google's
  sandbox and production exchanges never share keys.

`save_manifest` writes one atomically; the rotation steps that edit it are in `.edits`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .._keys import Key, KeySet, KeyStatus
from ..errors import KeyRevoked, KeySetError
from .files import (
    MAX_MANIFEST,
    LoadReport,
    Reader,
    Revocation,
    atomic_write,
    detach_errors,
    is_manifest,
    json_error,
    key_file_set,
    naming_source,
    parse_key_bytes,
    parse_key_file,
    read_capped,
    why,
    without_revoked,
)
from .passphrase import PassphraseRef
from .tokens import token_entry

__all__ = [
    "MANIFEST_VERSION",
    "Manifest",
    "ManifestEntry",
    "PassphraseRef",
    "load_keyset",
    "load_manifest",
    "read_manifest",
    "save_manifest",
]

MANIFEST_VERSION: Final = 1

_LOG = logging.getLogger(__name__)
_CODECS: Final = ("pgp", "jwe")
_MAX_ENTRIES: Final = 64
_TOP_MEMBERS: Final = frozenset(
    {"version", "codec", "environment", "primary", "passphrase", "keys", "note"}
)
_ENTRY_MEMBERS: Final = frozenset(
    {"file", "kid", "status", "passphrase", "use", "note", "pkcs11", "pin"}
)


# -- the manifest model ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One key of a manifest: its file, kid, status, passphrase reference and (PEM) use."""

    file: str
    kid: str | None = None
    status: KeyStatus = KeyStatus.ENABLED
    passphrase: PassphraseRef | None = None
    use: str | None = None
    note: str | None = None
    #: A token key: the ``pkcs11:`` URI of its private half (``file`` is its public half)
    #: and where its PIN comes from (never the PIN itself).
    pkcs11: str | None = None
    pin: PassphraseRef | None = None

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
        ref, uri, pin = value.get("passphrase"), value.get("pkcs11"), value.get("pin")
        if uri is not None and (not isinstance(uri, str) or not uri.startswith("pkcs11:")):
            raise KeySetError(f"{where}: 'pkcs11' must be a pkcs11: URI")
        if pin is not None and uri is None:
            raise KeySetError(f"{where}: 'pin' is for a token key ('pkcs11')")
        return cls(
            file=file,
            kid=kid,
            status=key_status,
            passphrase=None if ref is None else PassphraseRef.from_json(ref, where),
            use=use,
            note=note,
            pkcs11=uri,
            pin=None if pin is None else PassphraseRef.from_json(pin, f"{where}: pin"),
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
        if self.pkcs11 is not None:
            out["pkcs11"] = self.pkcs11
        if self.pin is not None:
            out["pin"] = self.pin.to_json()
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
            text = data
            try:
                data = json.loads(text)
            except ValueError:
                raise json_error(name, text) from None
        if not isinstance(data, Mapping):
            raise KeySetError(f"{name}: a manifest is a JSON object")
        _check_top(data, name)
        codec, primary, keys = data["codec"], data["primary"], data["keys"]
        env, note = data.get("environment"), data.get("note")
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
        refs = (*(e.passphrase for e in self.keys), *(e.pin for e in self.keys))
        for ref in (self.passphrase, *refs):
            p = ref.path(base) if ref is not None else None
            if p is not None and p not in out:
                out.append(p)
        return out

    @detach_errors
    def load(self, base: Path, *, read: Reader = read_capped) -> KeySet:
        """Load every key (files relative to ``base``) into a validated `KeySet`; a revoked
        OpenPGP key is left out and logged (ERROR). See `load_report`."""
        report = self.load_report(base, read=read)
        log_revocations(_LOG, base, report.revoked, report.keyset)
        return report.keyset

    @detach_errors
    def load_indexed(
        self, base: Path, *, read: Reader = read_capped
    ) -> tuple[KeySet, tuple[str, ...]]:
        """Like `load`, and also the kid each entry resolved to. Here a revoked key refuses
        the manifest (`KeyRevoked`): every entry must stand for a key of the set."""
        report = self.load_report(base, read=read)
        if report.revoked:
            raise KeyRevoked(
                "; ".join(f"key {r.kid} in {r.file} is revoked" for r in report.revoked)
                + ": remove it from the manifest",
                kids=tuple(r.kid for r in report.revoked),
            )
        return report.keyset, report.kids

    @detach_errors
    def load_report(self, base: Path, *, read: Reader = read_capped) -> LoadReport:
        """Load every key into a validated `KeySet`, leaving out the OpenPGP keys whose key
        file carries their revocation (`LoadReport.revoked`).

        When the primary is revoked, the first ENABLED key left stands in for it (see
        `without_revoked`); the manifest keeps naming the revoked one until you promote
        another. Raises `KeyRevoked` when no ENABLED key is left, and `KeySetError` for
        anything else the set or a key file gets wrong.
        """
        keys: list[Key] = []
        kids: list[str] = []
        revoked: dict[str, Revocation] = {}
        for entry in self.keys:
            kid, key = self._load_entry(entry, base, read)
            kids.append(kid)
            if key is None:
                revoked[kid] = Revocation(kid, entry.file, primary=kid == self.primary)
            else:
                keys.append(key)
        keyset = without_revoked(keys, self.primary, revoked)
        return LoadReport(keyset, tuple(kids), tuple(revoked.values()))

    def _load_entry(self, entry: ManifestEntry, base: Path, read: Reader) -> tuple[str, Key | None]:
        """The kid one entry stands for, and its key (None when it is revoked)."""
        if entry.pkcs11 is not None:
            key = token_entry(entry, base, read)
            return key.kid, key
        ref = entry.passphrase or self.passphrase
        try:
            data = read(base / entry.file)
        except OSError as exc:
            raise KeySetError(f"cannot read key file {entry.file}: {why(exc)}") from None
        try:
            found, gone = parse_key_bytes(
                data,
                name=entry.file,
                codec=self.codec,
                passphrase=ref.resolve(base, read) if ref is not None else None,
                kid=entry.kid,
                use=entry.use,
            )
        except KeySetError as exc:
            if ref is None:
                raise
            raise naming_source(exc, entry.file, f"{ref.source}, named by the manifest") from None
        if entry.kid is not None:
            if entry.kid in gone:
                return entry.kid, None
            found = [k for k in found if k.kid == entry.kid]
            if not found:
                raise KeySetError(f"key file {entry.file} holds no key {entry.kid!r}")
        elif len(found) + len(gone) != 1:
            raise KeySetError(
                f"key file {entry.file} holds {len(found) + len(gone)} keys; name one with 'kid'"
            )
        elif gone:
            return gone[0], None
        return found[0].kid, found[0].with_status(entry.status)


def _check_top(data: Mapping[str, Any], name: str) -> None:
    """Refuse a manifest whose top-level members are unknown or of the wrong kind."""
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
    for label in ("environment", "note"):
        value = data.get(label)
        if value is not None and not isinstance(value, str):
            raise KeySetError(f"{name}: {label!r} must be a string")


def log_revocations(
    log: logging.Logger, where: object, revoked: Iterable[Revocation], served: KeySet
) -> None:
    """Say loudly (ERROR) which revoked keys ``served``, the set now in service, left out."""
    for r in revoked:
        if served.primary.kid == r.kid:
            log.error(
                "keyset %s: key %s (%s), its primary, is revoked and no other ENABLED key is "
                "left: nothing seals or verifies with the set until a new key is added and "
                "promoted",
                where,
                r.kid,
                r.file,
            )
        elif r.primary:
            log.error(
                "keyset %s: the primary %s (%s) is revoked and left out; %s stands in until "
                "another key is promoted",
                where,
                r.kid,
                r.file,
                served.primary.kid,
            )
        else:
            log.error(
                "keyset %s: key %s (%s) is revoked and left out: it no longer opens, seals or "
                "verifies; remove it from the manifest",
                where,
                r.kid,
                r.file,
            )


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Parse the manifest at ``path`` (no key is loaded)."""
    p = Path(path)
    try:
        raw = read_capped(p, MAX_MANIFEST)
    except OSError as exc:
        raise KeySetError(f"cannot read manifest {p}: {why(exc)}") from None
    return Manifest.from_json(raw, name=str(p))


@detach_errors
def load_manifest(path: str | os.PathLike[str]) -> KeySet:
    """Load the `KeySet` a manifest describes (key files relative to the manifest's folder).

    A key whose key file carries its revocation is left out and logged (ERROR); when it is
    the primary, the first ENABLED key left stands in (`Manifest.load_report`).

    Raises:
        KeyRevoked: no ENABLED key is left once the revoked ones are out.
        KeySetError: a malformed manifest, an unreadable or invalid key file, a passphrase
            that is missing or wrong, or a set that breaks the `KeySet` invariants.
    """
    p = Path(path)
    report = read_manifest(p).load_report(p.parent)
    log_revocations(_LOG, p, report.revoked, report.keyset)
    return report.keyset


@detach_errors
def load_keyset(
    path: str | os.PathLike[str], *, passphrase: str | None = None, codec: str | None = None
) -> KeySet:
    """Load a manifest, or a plain key file as a set whose first key is the primary.

    ``passphrase`` applies to a plain key file only; manifests name their own. A revoked
    OpenPGP key is left out and logged (ERROR), as `load_manifest` does.
    """
    p = Path(path)
    if is_manifest(p):
        keyset = load_manifest(p)
        if codec is not None and keyset.codec != codec:
            raise KeySetError(f"{p} holds {keyset.codec!r} keys, not {codec!r} keys")
        return keyset
    parsed = parse_key_file(p, codec=codec, passphrase=passphrase, kid=None, use=None)
    report = key_file_set(parsed, str(p))
    log_revocations(_LOG, p, report.revoked, report.keyset)
    return report.keyset


# -- writing --------------------------------------------------------------------------------
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

    def unchanged() -> None:
        if expect is None:
            return
        try:
            now = read_capped(p, MAX_MANIFEST)
        except FileNotFoundError:
            now = None
        if now != expect:
            raise KeySetError(f"{p} changed while it was being edited; run the step again")

    atomic_write(p, manifest.dumps(), mode=mode, before_rename=unchanged)
