"""KeySetWatcher: the current `KeySet` of a manifest or key file, reloaded when it changes;
`watched_keys`: a `KeyHolder` fed by watchers.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from .._keys import KeySet
from ..errors import KeySetError
from .files import (
    MAX_KEY_FILE,
    MAX_MANIFEST,
    LoadReport,
    Revocation,
    detach_errors,
    is_manifest,
    key_file_set,
    parse_key_bytes,
    pgp_revocations,
    read_capped,
    retire,
    why,
)
from .holder import KeyHolder, Keys
from .manifest import Manifest, log_revocations

__all__ = ["KeySetWatcher", "watched_keys"]

_LOG = logging.getLogger(__name__)

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
    """A file the manifest names could not be read; says which files to watch for a retry,
    and which revoked keys the files that could be read hold."""

    def __init__(
        self,
        message: str,
        paths: tuple[Path, ...] = (),
        stat: _StatSig = (),
        revoked: tuple[Revocation, ...] = (),
    ) -> None:
        super().__init__(message)
        self.paths = paths
        self.stat = stat
        self.revoked = revoked


class _Snapshot:
    """The bytes of a manifest and of every file it names (or of one key file), read once.

    Not a dataclass: ``dataclasses.asdict`` must find no key bytes or passphrase in a record.
    """

    __slots__ = ("blobs", "digest", "manifest", "path", "paths", "stat")

    def __init__(
        self,
        path: Path,
        manifest: Manifest | None,
        blobs: Mapping[Path, bytes],
        paths: tuple[Path, ...],
        stat: _StatSig,
        digest: bytes,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.blobs = blobs
        self.paths = paths
        self.stat = stat
        self.digest = digest

    def __repr__(self) -> str:
        return f"<_Snapshot {self.path} files={len(self.blobs)}>"

    @classmethod
    def take(cls, path: Path, *, manifest: bool) -> _Snapshot:
        """Read ``path`` (a manifest and its files, or a plain key file)."""
        first_stat = _stat_all([path])
        raw = read_capped(path, MAX_MANIFEST if manifest else MAX_KEY_FILE)
        parsed = Manifest.from_json(raw, name=str(path)) if manifest else None
        files = parsed.paths(path.parent) if parsed is not None else []
        stat_sig = first_stat + _stat_all(files)
        blobs: dict[Path, bytes] = {path: raw}
        unreadable: str | None = None
        h = hashlib.sha256()
        for p in (path, *files):
            if p not in blobs:
                try:
                    blobs[p] = read_capped(p)
                except OSError as exc:
                    unreadable = unreadable or f"cannot read {p.name}: {why(exc)}"
                    continue
            name = str(p).encode("utf-8", "surrogateescape")
            h.update(len(name).to_bytes(8, "big") + name)
            h.update(len(blobs[p]).to_bytes(8, "big") + blobs[p])
        snap = cls(path, parsed, blobs, (path, *files), stat_sig, h.digest())
        if unreadable is not None:
            raise _Unreadable(unreadable, snap.paths, stat_sig, tuple(snap.revocations()))
        return snap

    def build(self) -> LoadReport:
        """The `KeySet` of the snapshot's bytes (nothing is read from disk again)."""
        if self.manifest is None:
            parsed = parse_key_bytes(
                self.blobs[self.path],
                name=self.path.name,
                codec=None,
                passphrase=None,
                kid=None,
                use=None,
            )
            return key_file_set(parsed, self.path.name)

        def read(p: Path) -> bytes:
            try:
                return self.blobs[p]
            except KeyError:
                raise FileNotFoundError(2, "not in the snapshot", str(p)) from None

        return self.manifest.load_report(self.path.parent, read=read)

    def revocations(self) -> list[Revocation]:
        """The revoked OpenPGP keys in the snapshot's key files, whether the rest loads or not."""
        if self.manifest is None:
            return [
                Revocation(kid, self.path.name) for kid in pgp_revocations(self.blobs[self.path])
            ]
        base, primary = self.path.parent, self.manifest.primary
        return [
            Revocation(kid, entry.file, primary=kid == primary)
            for entry in self.manifest.keys
            for kid in pgp_revocations(self.blobs.get(base / entry.file, b""))
        ]


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
    stays in service, the reason is logged once (WARNING, logger ``gpay_envelope.keystore.watch``)
    and kept in `last_error`, and the next change is tried again.

    Use it in one of two ways:

    - call `current` per request: at most every ``poll_interval`` seconds it runs the check
      inline (one thread at a time; the others keep the old set meanwhile);
    - or `start` a background thread (or use the watcher as a context manager) that checks
      every ``poll_interval`` seconds; `current` then only returns the reference.

    The first load happens in the constructor and raises `KeySetError` when it fails: a
    service should not start without keys. Passphrases from environment variables are read
    at each reload; a change of the variable alone is not noticed.

    A revoked OpenPGP key is the exception to "keep the old set": it leaves the set at once
    (the rest of the new files, or else of the old set, stays in service), is logged as an
    ERROR and listed in `revoked`, and is never taken back for the watcher's life. When it was
    the primary the first other ENABLED key stands in; when none is left, the revoked primary
    stays only as an expired placeholder that seals and verifies nothing (docs/rotation.md).

    `on_reload` registers a callback that gets every new set; `watched_keys` uses it to keep
    a `KeyHolder` up to date.
    """

    @detach_errors
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
            raise KeySetError(f"cannot read {self._path}: {why(exc)}") from None
        report = snap.build()
        log_revocations(self._log, self._path, report.revoked, report.keyset)
        self._state = _State(report.keyset, snap.digest, snap.stat)
        # Every revocation seen stays in force for the watcher's life: OpenPGP revocations are
        # final, so an older copy of a key file (a restored backup) cannot bring a key back.
        self._revoked = {r.kid: r for r in report.revoked}
        self._named = frozenset(report.kids)
        self._watch: tuple[Path, ...] = snap.paths
        self._failed: _StatSig | None = None
        self._last_error: str | None = None
        self._reloads = 0
        self._last_check = clock()
        self._listeners: tuple[Callable[[KeySet], object], ...] = ()

    @property
    def path(self) -> Path:
        """The manifest (or key file) being watched."""
        return self._path

    @property
    def last_error(self) -> str | None:
        """Why the latest change was not loaded, or None when the current set is up to date."""
        return self._last_error

    @property
    def revoked(self) -> tuple[Revocation, ...]:
        """The revoked keys the watched files still name, left out of the current set; pass
        them to `check_keyset` (``revoked=``) to have them reported."""
        return tuple(r for kid, r in self._revoked.items() if kid in self._named)

    @property
    def reloads(self) -> int:
        """How many times a new set was swapped in."""
        return self._reloads

    @detach_errors
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

    def on_reload(
        self, callback: Callable[[KeySet], object], *, call_now: bool = False
    ) -> Callable[[KeySet], object]:
        """Call ``callback(new_set)`` after every swap; returns ``callback``.

        Callbacks run in the thread that loaded the set, right after the swap and before the
        next check can start, so they see the sets in order; they must not call `check`. One
        that raises is logged (ERROR) and the others still run; the swap stands. With
        ``call_now``, ``callback`` also gets the current set at once, with no reload slipping
        in between.
        """
        with self._lock:
            self._listeners = (*self._listeners, callback)
            if call_now:
                self._notify(callback, self._state.keyset)
        return callback

    def _notify(self, callback: Callable[[KeySet], object], keyset: KeySet) -> None:
        try:
            callback(keyset)
        except Exception:
            self._log.exception("keyset %s: a reload callback failed", self._path)

    @detach_errors
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
        snap: _Snapshot | None = None
        try:
            snap = _Snapshot.take(self._path, manifest=self._manifest)
            self._watch, failed_stat = snap.paths, snap.stat
            if snap.digest == state.digest:
                self._state = replace(state, stat=snap.stat)
                self._failed, self._last_error = None, None
                return False
            report = snap.build()
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
            # A revocation among the new files takes effect even though the rest did not load.
            if isinstance(exc, _Unreadable):
                return self._retire(exc.revoked)
            return snap is not None and self._retire(snap.revocations())
        new = [r for r in report.revoked if r.kid not in self._revoked]
        self._revoked.update((r.kid, r) for r in new)
        keyset = retire(report.keyset, self._revoked)
        log_revocations(self._log, self._path, new, keyset)
        self._named = frozenset(report.kids)
        self._failed, self._last_error = None, None
        self._swap(_State(keyset, snap.digest, snap.stat))
        self._log.info(
            "keyset %s reloaded: primary %s, %d keys", self._path, keyset.primary.kid, len(keyset)
        )
        return True

    def _retire(self, found: Sequence[Revocation]) -> bool:
        """Take the newly revoked keys out of the set in service; True when it changed."""
        state = self._state
        primary = state.keyset.primary.kid
        new = [replace(r, primary=r.kid == primary) for r in found if r.kid not in self._revoked]
        self._revoked.update((r.kid, r) for r in new)
        keyset = retire(state.keyset, self._revoked)
        if keyset is state.keyset:
            return False
        log_revocations(self._log, self._path, new, keyset)
        # The files' digest and stat stay the old ones: their next change is loaded again.
        self._swap(replace(state, keyset=keyset))
        return True

    def _swap(self, state: _State) -> None:
        self._state = state
        self._reloads += 1
        for callback in self._listeners:
            self._notify(callback, state.keyset)

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
        return f"{exc.filename or ''}: {why(exc)}".lstrip(": ")
    return str(exc) or type(exc).__name__


def watched_keys(
    *,
    identities: KeySetWatcher,
    senders: KeySetWatcher,
    signer: KeySetWatcher | None = None,
    recipients: KeySetWatcher | None = None,
) -> KeyHolder:
    """An adapters `KeyHolder` whose `Keys` follow the watchers: each set a watcher swaps in
    replaces its role(s) in the bundle, in one `KeyHolder.update`.

    ``signer`` defaults to ``identities`` and ``recipients`` to ``senders``, which is the PGP
    layout (one manifest of your keys, one of Google's); JWE names all four. Start the
    watchers (or call their `KeySetWatcher.check`): the adapters read the holder, never the
    watchers. A new set the bundle refuses (a `Keys` rule: one codec, private keys in
    identities and signer) is logged and the holder keeps the bundle it has.
    """

    roles = {
        "identities": identities,
        "senders": senders,
        "signer": signer or identities,
        "recipients": recipients or senders,
    }
    holder = KeyHolder(Keys(**{role: w.current() for role, w in roles.items()}))
    for watcher in dict.fromkeys(roles.values()):
        served = tuple(role for role, w in roles.items() if w is watcher)
        # call_now: a set swapped in since the bundle above was built is not missed.
        watcher.on_reload(functools.partial(_swap, holder, served), call_now=True)
    return holder


def _swap(holder: KeyHolder, roles: tuple[str, ...], keyset: KeySet) -> None:
    holder.update(lambda keys: dataclasses.replace(keys, **dict.fromkeys(roles, keyset)))
