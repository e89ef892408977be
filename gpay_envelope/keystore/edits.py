"""The rotation steps as manifest edits: `init_manifest`, `add_key`, `promote_key`,
`set_key_status`, `remove_key`.

Each step loads the manifest, applies the change to the loaded `KeySet` (so every `KeySet`
rule is checked first), and only then writes the new manifest with `save_manifest`: a
temporary file renamed over the old one, refused when somebody else changed the file
meanwhile. The whole step holds the manifest's edit lock (`locking.edit_lock`), so two steps
run at once happen one after the other and neither is lost. A step that would break the set
changes nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from .._keys import Key, KeySet, KeyStatus, utcnow
from ..errors import KeyNotFound, KeySetError
from .files import MAX_MANIFEST, detach_errors, naming_source, read_capped, read_key_file, why
from .locking import edit_lock
from .manifest import Manifest, ManifestEntry, PassphraseRef, save_manifest
from .tokens import token_entry

__all__ = [
    "add_key",
    "init_manifest",
    "promote_key",
    "remove_key",
    "resolve_kid",
    "set_key_status",
]

_LOG = logging.getLogger(__name__)


def resolve_kid(keyset: KeySet, text: str) -> str:
    """The kid ``text`` names: an exact kid, or for OpenPGP a unique fingerprint suffix of at
    least 8 hex digits (spaces and case ignored), so ``3247F36D28BED86D`` names a key.

    Raises:
        KeyNotFound: no key, or several, match.
    """
    return _match(keyset.kids, keyset.codec, text)


def _match(kids: Sequence[str], codec: str, text: str) -> str:
    if text in kids:
        return text
    if codec == "pgp":
        wanted = text.replace(" ", "").upper()
        if len(wanted) >= 8 and all(c in "0123456789ABCDEF" for c in wanted):
            hits = [k for k in kids if k.endswith(wanted)]
            if len(hits) == 1:
                return hits[0]
    raise KeyNotFound(f"no single key {text!r} in the set; keys: {', '.join(kids)}")


def _named(ks: KeySet, revoked: frozenset[str], text: str) -> tuple[str, bool]:
    """The kid ``text`` names among the set's keys and the revoked ones, and whether it is
    revoked."""
    kid = _match((*ks.kids, *sorted(revoked - set(ks.kids))), ks.codec, text)
    return kid, kid in revoked


def _not_revoked(ks: KeySet, revoked: frozenset[str], text: str, why: str) -> str:
    """The kid ``text`` names; `KeySetError` (saying ``why`` not) when it is revoked."""
    kid, is_revoked = _named(ks, revoked, text)
    if is_revoked:
        raise KeySetError(f"key {kid} is revoked: {why}")
    return kid


def _relative(file: str | os.PathLike[str], base: Path) -> str:
    # abspath, not resolve: a symlink (a mounted secret, say) stays the path recorded.
    f = os.path.abspath(file)
    try:
        rel = os.path.relpath(f, os.path.abspath(base))
    except ValueError:  # another drive (Windows)
        return f
    return Path(rel).as_posix()


#: A step: (manifest, its set, the kids of its revoked keys, the manifest's folder) -> the
#: new manifest and the set it loads as.
_Change = Callable[[Manifest, KeySet, frozenset[str], Path], tuple[Manifest, KeySet]]


def _edit(path: str | os.PathLike[str], change: _Change) -> KeySet:
    p = Path(path)
    with edit_lock(p) as waited:
        if waited:
            _LOG.warning(
                "keyset manifest %s: another edit finished first; this step applies on top of it",
                p,
            )
        try:
            raw = read_capped(p, MAX_MANIFEST)
        except OSError as exc:
            raise KeySetError(f"cannot read manifest {p}: {why(exc)}") from None
        manifest = Manifest.from_json(raw, name=str(p))
        # Revoked keys are left out, so that the steps that replace and remove them still work.
        keyset, kids, revoked = manifest.load_report(p.parent)
        # Every entry gets its kid written, so later edits and reviews need no key loading.
        manifest = replace(
            manifest,
            keys=tuple(replace(e, kid=k) for e, k in zip(manifest.keys, kids, strict=True)),
        )
        gone = frozenset(r.kid for r in revoked)
        new_manifest, new_keyset = change(manifest, keyset, gone, p.parent)
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
    try:
        secret = passphrase.resolve(base) if passphrase is not None else None
        keys = read_key_file(key_file, codec=codec, passphrase=secret, kid=kid, use=use)
    except KeySetError as exc:
        if passphrase is None:
            raise
        raise naming_source(exc, str(key_file), passphrase.source) from None
    if kid is not None:
        keys = [k for k in keys if k.kid == kid]
        if not keys:
            raise KeyNotFound(f"{key_file} holds no key {kid!r}")
    if len(keys) != 1:
        raise KeySetError(f"{key_file} holds {len(keys)} keys; choose one with a kid")
    return keys[0]


def _refuse_expired(key: Key, key_file: str | os.PathLike[str], now: datetime | None) -> None:
    """`KeySetError` when ``key`` has expired by ``now`` (None: no check)."""
    if now is None or key.not_after is None or key.not_after > now:
        return
    raise KeySetError(
        f"{key_file}: key {key.kid} expired on {key.not_after:%Y-%m-%d}; a manifest should "
        "not take it (--force, or refuse_expired_at=None, keeps it for opening old envelopes)"
    )


@detach_errors
def init_manifest(
    path: str | os.PathLike[str],
    key_file: str | os.PathLike[str],
    *,
    kid: str | None = None,
    environment: str | None = None,
    passphrase: PassphraseRef | None = None,
    use: str | None = None,
    force: bool = False,
    refuse_expired_at: datetime | None = None,
) -> KeySet:
    """Create a manifest with one key, its primary. Refuses to overwrite unless ``force``.

    ``passphrase`` is stored at the top level, for every key added later without its own.
    With ``refuse_expired_at``, a key expired by then is refused (`KeySetError`).
    """
    p = Path(path)
    base = p.parent
    key = _load_one(key_file, codec=None, kid=kid, passphrase=passphrase, base=base, use=use)
    _refuse_expired(key, key_file, refuse_expired_at)
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
    with edit_lock(p):
        if p.exists() and not force:
            raise KeySetError(f"{p} exists; refusing to overwrite it (use --force to replace)")
        save_manifest(manifest, p, expect=None)
    return keyset


@detach_errors
def add_key(
    path: str | os.PathLike[str],
    key_file: str | os.PathLike[str],
    *,
    kid: str | None = None,
    status: KeyStatus = KeyStatus.ENABLED,
    passphrase: PassphraseRef | None = None,
    use: str | None = None,
    pkcs11: str | None = None,
    pin: PassphraseRef | None = None,
    refuse_expired_at: datetime | None = None,
) -> KeySet:
    """Rotation stage "add": the new key opens (or verifies) at once; sealing (or signing)
    still uses the primary.

    A token key (docs/hsm.md): ``key_file`` is its public half, ``pkcs11`` the URI of its
    private half and ``pin`` where its PIN comes from. With ``refuse_expired_at``, a key
    expired by then is refused (`KeySetError`)."""

    def change(
        m: Manifest, ks: KeySet, revoked: frozenset[str], base: Path
    ) -> tuple[Manifest, KeySet]:
        entry = ManifestEntry(
            file=_relative(key_file, base),
            kid=kid,
            status=status,
            passphrase=passphrase,
            use=use,
            pkcs11=pkcs11,
            pin=pin,
        )
        if pkcs11 is not None:
            key = token_entry(entry, base, read_capped)
        else:
            ref = passphrase or m.passphrase
            key = _load_one(key_file, codec=m.codec, kid=kid, passphrase=ref, base=base, use=use)
        _refuse_expired(key, key_file, refuse_expired_at)
        new = ks.with_key(key.with_status(status))
        entry = replace(entry, kid=key.kid)
        return replace(m, keys=(*m.keys, entry)), new

    return _edit(path, change)


@detach_errors
def promote_key(path: str | os.PathLike[str], kid: str, *, now: datetime | None = None) -> KeySet:
    """Rotation stage "promote": ``kid`` becomes the primary. It must be ENABLED, valid now
    and, in a set of your own keys, hold its private half."""
    when = now or utcnow()

    def change(
        m: Manifest, ks: KeySet, revoked: frozenset[str], base: Path
    ) -> tuple[Manifest, KeySet]:
        full = _not_revoked(ks, revoked, kid, "it cannot be the primary")
        key = ks.get(full)
        if not key.is_valid_at(when):
            raise KeySetError(f"key {full} is expired or not yet valid; it cannot be the primary")
        if ks.has_secret and not key.has_secret:
            raise KeySetError(f"key {full} has no private half; it cannot seal for you")
        return replace(m, primary=full), ks.with_primary(full)

    return _edit(path, change)


@detach_errors
def set_key_status(path: str | os.PathLike[str], kid: str, status: KeyStatus) -> KeySet:
    """Rotation stage "disable" (or undo it): the primary cannot be disabled."""

    def change(
        m: Manifest, ks: KeySet, revoked: frozenset[str], base: Path
    ) -> tuple[Manifest, KeySet]:
        full = _not_revoked(ks, revoked, kid, "it is out of the set already; remove it")
        new = ks.with_status(full, status)
        entries = tuple(replace(e, status=status) if e.kid == full else e for e in m.keys)
        return replace(m, keys=entries), new

    return _edit(path, change)


@detach_errors
def remove_key(path: str | os.PathLike[str], kid: str, *, force: bool = False) -> KeySet:
    """Rotation stage "remove". An ENABLED key is only removed with ``force``: disable it
    first, so that a mistake can still be undone by enabling it again. A revoked key needs no
    ``force`` (it is out of the set already), unless the manifest still names it its primary:
    promote another key first."""

    def change(
        m: Manifest, ks: KeySet, revoked: frozenset[str], base: Path
    ) -> tuple[Manifest, KeySet]:
        full, is_revoked = _named(ks, revoked, kid)
        if is_revoked:
            if full == m.primary:
                raise KeySetError(f"key {full} is the primary; promote another key first")
            return replace(m, keys=tuple(e for e in m.keys if e.kid != full)), ks
        if ks.get(full).status is KeyStatus.ENABLED and full != ks.primary.kid and not force:
            raise KeySetError(
                f"key {full} is still ENABLED; disable it first, or remove it with force (--force)"
            )
        new = ks.without(full)
        return replace(m, keys=tuple(e for e in m.keys if e.kid != full)), new

    return _edit(path, change)
