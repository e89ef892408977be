"""The one home of rotation policy: which keys seal, which keys open, in what order, how many.

Rotation is a change of `KeySet` data; the rules that turn a key set into the keys one seal or
one open uses are these, and no codec has rules of its own:

- Seal: a codec that carries one recipient and one signature (JWE compact) uses the primary of
  each set, which must be usable now. A codec that fans out (PGP, as Google requires) uses
  every ENABLED key inside its validity window, primary first.
- Open, decryption: every ENABLED key holding a private half, primary first, whatever its
  validity window: the window says what *peers* may do with the public half and what we seal
  with, while a message a peer sealed to us must open until we DISABLE the key (a late
  message to a just-expired key, or an early one to a key added ahead of its window).
- Open, verification: ENABLED sender keys inside their validity window at ``now``.
- Order and bound (`attempts`): an envelope carries slots (JWE: one recipient and one
  signature; PGP: one PKESK per recipient, one issuer per signature), each naming a key or
  naming none. Keys that a slot names are tried first and alone; only when no slot names any
  of our keys are the unnamed slots tried against our keys, primary first. Either way one
  `TrialBudget` caps the operations, so an attacker buys at most ``max_trials`` of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from ._keys import Key, KeySet
from .errors import SealError

__all__ = [
    "TrialBudget",
    "attempts",
    "identity_keys",
    "sealing_keys",
    "sender_keys",
]

H = TypeVar("H")
K = TypeVar("K")


class TrialBudget:
    """How many private-key or signature operations one envelope may still cost."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = max(0, limit)

    def spend(self) -> bool:
        """Take one operation from the budget; False when none is left."""
        if self.left <= 0:
            return False
        self.left -= 1
        return True

    def __repr__(self) -> str:
        return f"TrialBudget(left={self.left})"


def attempts(
    hints: Sequence[H | None],
    keys: Sequence[K],
    *,
    names: Callable[[H, K], bool],
    budget: TrialBudget,
) -> Iterator[tuple[int, K]]:
    """The (slot index, key) pairs to try for one envelope, in order, within ``budget``.

    Args:
        hints: one entry per slot of the envelope: what the slot says about its key (a kid,
            a key id, issuer fingerprints), or None when it names no key.
        keys: our candidate keys for this operation, primary first, already filtered by the
            codec for purpose and algorithm.
        names: whether a slot's hint names a key.
        budget: spent once per pair yielded.
    """
    named = [
        (i, key)
        for key in keys
        for i, hint in enumerate(hints)
        if hint is not None and names(hint, key)
    ]
    if named:
        pairs: Iterator[tuple[int, K]] | list[tuple[int, K]] = named
    else:
        unnamed = [i for i, hint in enumerate(hints) if hint is None]
        pairs = ((i, key) for key in keys for i in unnamed)
    for pair in pairs:
        if not budget.spend():
            return
        yield pair


def sealing_keys(
    keys: KeySet,
    when: datetime,
    *,
    fan_out: bool,
    role: str,
    purpose: str,
    secret: bool = False,
) -> tuple[Key, ...]:
    """The keys one seal uses from ``keys``.

    Args:
        keys: the recipients' or the signer's key set.
        when: the time their validity is checked against.
        fan_out: every usable key (PGP) rather than the primary alone (JWE).
        role: ``"recipients'"`` or ``"signer's"``, for error messages.
        purpose: ``"enc"`` or ``"sig"``: a key whose ``use`` forbids it is refused.
        secret: the keys must hold their private half (signing).

    Raises:
        SealError: no key of the set can serve (the primary alone, when not fanning out).
    """
    if not fan_out:
        key = keys.primary
        if not key.usable_at(when):
            raise SealError(f"the {role} primary {key.kid!r} is expired or not yet valid")
        if not key.can(purpose):
            raise SealError(f"the {role} primary {key.kid!r} has use {key.use!r}, not {purpose!r}")
        if secret and not key.has_secret:
            raise SealError(f"the {role} primary {key.kid!r} has no private key")
        return (key,)
    chosen = tuple(
        k
        for k in keys.enabled()
        if k.usable_at(when) and k.can(purpose) and (k.has_secret or not secret)
    )
    if not chosen:
        what = "signer key with a private half" if secret else "recipient key"
        raise SealError(f"no ENABLED, unexpired {what}")
    return chosen


def identity_keys(keys: KeySet) -> tuple[Key, ...]:
    """Our keys that may decrypt: ENABLED with a private half, primary first (module doc)."""
    return keys.secret_enabled()


def sender_keys(keys: KeySet | None, when: datetime) -> tuple[Key, ...]:
    """Peer keys whose signatures count at ``when``: ENABLED and inside their window."""
    if keys is None:
        return ()
    return keys.enabled_at(when)

