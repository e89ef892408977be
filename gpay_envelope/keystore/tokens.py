"""Token keys in a manifest: the entry's public half, its private half in a PKCS#11 token.

The pkcs11 extra is imported only when a manifest names a token key (docs/hsm.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .._keys import Key
from ..errors import KeySetError
from .files import Reader, why

if TYPE_CHECKING:
    from .manifest import ManifestEntry

__all__ = ["token_entry"]


def token_entry(entry: ManifestEntry, base: Path, read: Reader) -> Key:
    """A token key: the public half from ``file``, the private half in the token (the
    pkcs11 extra, imported only for a manifest that has a token key)."""
    try:
        from ..pkcs11 import token_key
    except ImportError:
        raise KeySetError(
            f"key {entry.file} is a token key: install gpay-envelope[pkcs11]"
        ) from None
    try:
        data = read(base / entry.file)
    except OSError as exc:
        raise KeySetError(f"cannot read key file {entry.file}: {why(exc)}") from None
    pin_file = entry.pin.path(base) if entry.pin is not None else None
    key = token_key(
        entry.pkcs11 or "",
        public=data,
        kid=entry.kid,
        pin_env=entry.pin.env if entry.pin is not None else None,
        pin_file=None if pin_file is None else str(pin_file),
        status=entry.status,
    )
    if entry.kid is not None and key.kid != entry.kid:
        raise KeySetError(f"key file {entry.file} holds no key {entry.kid!r}")
    return key
