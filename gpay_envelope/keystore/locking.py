"""One manifest edit at a time: an exclusive lock held from reading the manifest to renaming
the new one over it.

Two operators, or two CI jobs, running a rotation step on one manifest at once would
otherwise both read the same old file and the second rename would drop the first edit. The
lock is an advisory ``flock`` on the manifest's folder: the manifest itself cannot be the
lock, since each edit renames a new file over it (a new inode), and a lock file next to it
would be one more file to leave behind. Edits of two manifests in one folder therefore take
turns too; an edit takes milliseconds. Where ``fcntl`` is missing (Windows) the edit relies
on the byte comparison that `save_manifest` makes before the rename.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import KeySetError

if sys.platform != "win32":
    import fcntl

__all__ = ["EDIT_LOCK_TIMEOUT", "edit_lock"]

#: Seconds an edit waits for another edit of the same manifest to finish.
EDIT_LOCK_TIMEOUT = 30.0

_POLL = 0.05


@contextlib.contextmanager
def edit_lock(manifest: Path, *, timeout: float = EDIT_LOCK_TIMEOUT) -> Iterator[bool]:
    """Hold the edit lock of ``manifest``; yields whether this edit had to wait for another.

    Raises:
        KeySetError: another edit held the lock for more than ``timeout`` seconds, or the
            folder cannot be opened.
    """
    if sys.platform == "win32":  # pragma: no cover - no flock there
        yield False
        return
    where = manifest.parent
    try:
        fd = os.open(where, os.O_RDONLY)
    except OSError as exc:
        raise KeySetError(
            f"cannot lock {manifest} for editing ({where}: {exc.strerror or exc})"
        ) from None
    try:
        waited = _acquire(fd, where, timeout)
        yield waited
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(fd: int, where: Path, timeout: float) -> bool:
    """Take the lock on ``fd``, polling until ``timeout``; whether it had to wait."""
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return waited
        except BlockingIOError:
            waited = True
            if time.monotonic() >= deadline:
                raise KeySetError(
                    f"another edit in {where} has held the manifest lock for over "
                    f"{timeout:g} s; try again once it is done"
                ) from None
            time.sleep(_POLL)
