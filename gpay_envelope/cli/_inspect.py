"""Reading the files ``keys list``, ``show`` and ``check`` are given: a manifest or a key file,
its keys, the file each key came from, and the findings about file modes."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .._keys import Key, KeySet
from ..errors import EnvelopeError, KeySetError
from ..keystore import Finding, KeyInfo, describe_key, is_manifest, read_key_file, read_manifest
from ..keystore.files import naming_source


@dataclass
class Source:
    """One file as the inspecting commands see it; ``error`` says why it did not load,
    ``extra`` holds the findings about file modes and ``notes`` those about the keys' kids."""

    path: Path
    keyset: KeySet | None = None
    manifest: bool = False
    environment: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    extra: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)

    @property
    def kind(self) -> str:
        """ "manifest" or "key file"."""
        return "manifest" if self.manifest else "key file"

    def infos(self) -> list[KeyInfo]:
        """What `describe_key` says about each key; only a manifest has a primary."""
        ks = self.keyset
        if ks is None:
            return []
        return [describe_key(k, primary=self.manifest and k is ks.primary) for k in ks]


def mode_findings(path: Path, *, secret: bool, kid: str | None, label: str) -> list[Finding]:
    """A warning when a secret file is readable, or a public one writable, by others."""
    if os.name != "posix":
        return []
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return []
    if secret and mode & 0o077:
        return [
            Finding(
                "warning",
                kid,
                f"{label} {path.name} is readable by others (mode {mode:04o}); chmod 600 it",
            )
        ]
    if not secret and mode & 0o022:
        return [
            Finding(
                "warning",
                kid,
                f"{label} {path.name} is writable by others (mode {mode:04o}); chmod 644 it",
            )
        ]
    return []


def thumbprint_kids(path: Path, keys: KeySet | list[Key]) -> list[Finding]:
    """A warning for each key of the JWK (Set) file ``path`` whose JWK names no ``kid``: it
    got its RFC 7638 thumbprint as its kid, which the peer may not compute alike."""
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return []
    entries = value.get("keys", [value]) if isinstance(value, dict) else []
    if not isinstance(entries, list) or all(isinstance(e, dict) and "kid" in e for e in entries):
        return []
    named = {e.get("kid") for e in entries if isinstance(e, dict)}
    return [
        Finding(
            "warning",
            k.kid,
            f"{path.name}: the JWK names no kid, so its kid is its RFC 7638 thumbprint; "
            "write that kid into the JWK so both sides name the key alike",
        )
        for k in keys
        if k.codec == "jwe" and k.kid not in named
    ]


def _load_manifest(src: Source) -> None:
    path = src.path
    src.manifest = True
    manifest = read_manifest(path)
    src.environment = manifest.environment
    src.extra += mode_findings(path, secret=False, kid=None, label="manifest")
    base = path.parent
    keyset, kids = manifest.load_indexed(base)
    for entry, kid in zip(manifest.keys, kids, strict=True):
        src.files[kid] = entry.file
        if keyset.get(kid).has_secret:
            src.extra += mode_findings(
                base / entry.file, secret=True, kid=kid, label="secret key file"
            )
        if keyset.codec == "jwe" and entry.pkcs11 is None:
            src.notes += thumbprint_kids(base / entry.file, [keyset.get(kid)])
        ref = entry.passphrase or manifest.passphrase
        ppath = ref.path(base) if ref is not None else None
        if ppath is not None:
            src.extra += mode_findings(ppath, secret=True, kid=kid, label="passphrase file")
    src.keyset = keyset


def _load_key_file(src: Source, passphrase: str | None, flag: str | None) -> None:
    path = src.path
    try:
        keys = read_key_file(path, passphrase=passphrase)
    except KeySetError as exc:
        if flag is None:
            raise
        raise naming_source(exc, str(path), flag) from None
    src.keyset = KeySet(keys, primary=keys[0].kid)
    for k in keys:
        src.files[k.kid] = path.name
    src.notes += thumbprint_kids(path, keys)
    if any(k.has_secret for k in keys):
        src.extra += mode_findings(path, secret=True, kid=None, label="secret key file")


def load_source(path: Path, passphrase: str | None, flag: str | None = None) -> Source:
    """Read ``path`` as a manifest or a key file; a failure is kept in ``error``, not raised.
    ``flag`` is the passphrase option given (for a key file's error)."""
    src = Source(path)
    try:
        if is_manifest(path):
            _load_manifest(src)
        else:
            _load_key_file(src, passphrase, flag)
    except EnvelopeError as exc:
        src.error = str(exc)
    except OSError as exc:
        src.error = f"cannot read {path}: {exc.strerror or exc}"
    return src
