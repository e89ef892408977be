"""What the keystore tests share: OpenPGP keys made once per session (key generation is the
slow part) and a folder holding their secret key files."""

from __future__ import annotations

import functools
from pathlib import Path

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import generate_pgp_key, key_to_pgp

#: The passphrase of `protected`'s key.
PASSPHRASE = "s3cret"


@functools.cache
def pgp_pair() -> tuple[ge.Key, ge.Key]:
    """Two fresh RSA-2048 OpenPGP keys (secret halves included)."""
    return (
        generate_pgp_key(uid="A <a@example.com>", size=2048),
        generate_pgp_key(uid="B <b@example.com>", size=2048),
    )


@functools.cache
def protected() -> tuple[ge.Key, bytes]:
    """A passphrase-protected key (`PASSPHRASE`) and its armored secret export."""
    key = generate_pgp_key(uid="P <p@example.com>", size=2048, passphrase=PASSPHRASE)
    return key, key_to_pgp(key, include_private=True)


def write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Write ``data`` to ``path`` with ``mode``."""
    path.write_bytes(data)
    path.chmod(mode)
    return path


def key_folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    """keys/a.asc, keys/b.asc (`pgp_pair`, secret) and the manifest path
    keys/partner.keyset.json (not written)."""
    folder = tmp_path / "keys"
    folder.mkdir()
    a, b = pgp_pair()
    fa = write(folder / "a.asc", key_to_pgp(a, include_private=True))
    fb = write(folder / "b.asc", key_to_pgp(b, include_private=True))
    return fa, fb, folder / "partner.keyset.json"
