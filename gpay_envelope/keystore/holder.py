"""The key bundle one exchange uses (`Keys`) and its run-time holder (`KeyHolder`).

A service reads its keys once per request from a `KeyHolder`; a rotation swaps the whole
bundle at once. `watched_keys` (in `watch`) keeps a holder fed from key files; the web
adapters read it. The adapters re-export both names, where they are documented.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from .._keys import KeySet
from ..errors import KeySetError

__all__ = ["KeyHolder", "KeyProvider", "Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    """One side's keys for one exchange, as a single immutable value.

    The same bundle serves a partner's server (open requests, seal responses) and its client
    (seal requests, open responses).

    Attributes:
        identities: your private decryption keys (`open`'s ``identities``).
        senders: the peer's public signature keys (`open`'s ``senders``).
        signer: your private signing keys (`seal`'s ``signer``).
        recipients: the peer's public encryption keys (`seal`'s ``recipients``).

    Raises:
        TypeError: a field is not a `KeySet`.
        KeySetError: the four sets are not all of one codec, or ``identities`` or ``signer``
            hold no private key.

    Change a field with ``dataclasses.replace(keys, identities=...)``; the result is checked
    again.
    """

    identities: KeySet
    senders: KeySet
    signer: KeySet
    recipients: KeySet

    def __post_init__(self) -> None:
        for name in ("identities", "senders", "signer", "recipients"):
            value = getattr(self, name)
            if not isinstance(value, KeySet):
                raise TypeError(f"{name} must be a KeySet, not {type(value).__name__}")
        codecs = {ks.codec for ks in (self.identities, self.senders, self.signer, self.recipients)}
        if len(codecs) != 1:
            raise KeySetError(f"the four key sets must be of one codec, not {sorted(codecs)}")
        for name in ("identities", "signer"):
            if not getattr(self, name).has_secret:
                raise KeySetError(f"{name} holds no private key")

    @property
    def codec(self) -> str:
        """The codec of all four sets."""
        return self.identities.codec


KeyProvider: TypeAlias = "Keys | Callable[[], Keys]"
"""Fixed `Keys`, or a zero-argument callable returning the current `Keys` (a `KeyHolder`).
The adapters call it once per request and use that one bundle for the whole exchange."""


class KeyHolder:
    """The current `Keys`, swappable at run time from any thread.

    ``set`` and ``update`` replace the whole bundle in one reference assignment, so a reader
    sees either the old or the new bundle, never a mix. Pass the holder itself as a key
    provider: calling it is ``get()``.
    """

    __slots__ = ("_keys", "_lock")

    def __init__(self, keys: Keys) -> None:
        if not isinstance(keys, Keys):
            raise TypeError(f"keys must be Keys, not {type(keys).__name__}")
        self._keys = keys
        self._lock = threading.Lock()

    def get(self) -> Keys:
        """The current bundle."""
        return self._keys

    __call__ = get

    def set(self, keys: Keys) -> None:
        """Replace the bundle."""
        if not isinstance(keys, Keys):
            raise TypeError(f"keys must be Keys, not {type(keys).__name__}")
        with self._lock:
            self._keys = keys

    def update(self, change: Callable[[Keys], Keys]) -> Keys:
        """Replace the bundle with ``change(current)``, atomically with respect to other
        ``set``/``update`` calls; returns the new bundle. If ``change`` raises (an invalid
        set), nothing changes."""
        with self._lock:
            new = change(self._keys)
            if not isinstance(new, Keys):
                raise TypeError(f"change must return Keys, not {type(new).__name__}")
            self._keys = new
            return new

    def __repr__(self) -> str:
        return f"KeyHolder({self._keys!r})"
