"""Prove a new key works before it becomes the primary (the ``keys verify-rotation`` check).

`verify_rotation` runs the rotation's safety checks on one key of a key set: it has its private
half, it is ENABLED, it meets Google's key rules, a message sealed to its public half (as Google
will seal once it holds that half) opens with the whole set, a message signed by the set as it
will be once the key is primary verifies with the public half alone, and the current primary
still works. Throwaway keys stand in for Google, so nothing leaves the machine. The answer is a
`RotationReport`; the command line only formats it. docs/rotation.md is the operator's runbook.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .._api import open_detailed, seal
from .._keys import Key, KeySet, KeyStatus
from .._policy import MIN_RSA_BITS
from ..errors import EnvelopeError, KeySetError
from .check import check_key

__all__ = [
    "RotationReport",
    "RotationStep",
    "for_purpose",
    "rotation_candidates",
    "verify_rotation",
]

#: The payload of every probe message: recognisable, and no data of anybody's.
_PROBE = b'{"gpayEnvelopeProbe":"verify-rotation"}'


def _none_failed(steps: Iterable[RotationStep]) -> bool:
    return all(step.passed is not False for step in steps)


@dataclass(frozen=True)
class RotationStep:
    """One check of `verify_rotation`.

    ``name`` is one of "private half", "status", "Google's key rules", "public key file",
    "Google -> you", "you -> Google", "current primary". ``passed`` is None when the check does
    not apply to the key (a signing key does not decrypt; an encryption key does not sign).
    """

    name: str
    passed: bool | None
    detail: str


@dataclass(frozen=True)
class RotationReport:
    """What `verify_rotation` found about key ``kid``: its steps, in the order they ran."""

    kid: str
    codec: str
    steps: tuple[RotationStep, ...]

    @property
    def ok(self) -> bool:
        """True when no step failed (a step that does not apply is no failure)."""
        return _none_failed(self.steps)

    @property
    def failures(self) -> tuple[RotationStep, ...]:
        """The steps that failed, in order."""
        return tuple(step for step in self.steps if step.passed is False)


def for_purpose(keyset: KeySet, purpose: str, *, label: str = "keys") -> KeySet:
    """The keys of ``keyset`` that may be used for ``purpose`` ("enc" or "sig").

    OpenPGP keys serve both purposes, so an OpenPGP set is returned as it is. For JWE the
    primary stays when it qualifies, else the first ENABLED key that does becomes the primary.
    Raises `KeySetError` (naming ``label``) when no ENABLED key qualifies.
    """
    if keyset.codec != "jwe":
        return keyset
    keys = [k for k in keyset if k.can(purpose)]
    enabled = [k for k in keys if k.status is KeyStatus.ENABLED]
    if not enabled:
        raise KeySetError(f"{label}: no ENABLED key with use {purpose!r}")
    primary = keyset.primary.kid if keyset.primary.can(purpose) else enabled[0].kid
    return KeySet(keys, primary=primary)


def rotation_candidates(keyset: KeySet) -> list[str]:
    """The kids that may be the new key of a rotation: ENABLED, not the primary, holding a
    private half, and of the primary's kind (an encryption key replaces an encryption key)."""
    primary = keyset.primary
    return [
        k.kid
        for k in keyset.enabled()
        if k.kid != primary.kid and k.has_secret and k.can("enc") == primary.can("enc")
    ]


class _Probe:
    """Throwaway keys standing in for Google, made on first use (key generation is slow)."""

    def __init__(self, codec: str, bits: int) -> None:
        self._codec = codec
        self._bits = bits
        self._sets: tuple[KeySet, KeySet] | None = None

    def __repr__(self) -> str:
        return f"_Probe(codec={self._codec!r}, bits={self._bits})"

    def _make(self) -> tuple[KeySet, KeySet]:
        if self._sets is None:
            if self._codec == "pgp":
                from ..codecs.pgp import generate_pgp_key  # pgpy loads slowly: only when needed

                key = generate_pgp_key(
                    uid="gpay-envelope probe <probe@invalid>",
                    size=self._bits,
                    expires=timedelta(days=1),
                )
                both = KeySet([key], primary=key.kid)
                self._sets = (both, both)
            else:
                from ..codecs.jwe import generate_key

                enc = generate_key(kid="probe-enc", use="enc", size=self._bits)
                sig = generate_key(kid="probe-sig", use="sig", size=self._bits)
                self._sets = (KeySet([enc], primary=enc.kid), KeySet([sig], primary=sig.kid))
        return self._sets

    @property
    def enc(self) -> KeySet:
        """The probe's decryption keys (what the key set's messages are sealed to)."""
        return self._make()[0]

    @property
    def sig(self) -> KeySet:
        """The probe's signing keys (what signs the messages sealed to the key set)."""
        return self._make()[1]


def _inbound(ks: KeySet, key: Key, public: Key, probe: _Probe) -> tuple[bool, str]:
    """Seal to ``public`` alone, as Google will; open with the whole set."""
    env = seal(
        _PROBE,
        recipients=KeySet([public], primary=public.kid),
        signer=probe.sig,
        codec=ks.codec,
    )
    try:
        res = open_detailed(env, identities=ks, senders=probe.sig.public())
    except EnvelopeError as exc:
        return False, f"did not open: {exc}"
    if res.decrypted_with != key.kid or res.plaintext != _PROBE:
        return False, f"opened by {res.decrypted_with}, not by {key.kid}"
    return True, f"sealed to its public key, opened by {res.decrypted_with}"


def _outbound(ks: KeySet, key: Key, public: Key, probe: _Probe) -> tuple[bool, str]:
    """Seal with the set as it is once ``key`` is primary; verify with ``public`` alone."""
    signer = for_purpose(ks.with_primary(key.kid), "sig", label="signer")
    env = seal(_PROBE, recipients=probe.enc.public(), signer=signer, codec=ks.codec)
    try:
        res = open_detailed(env, identities=probe.enc, senders=KeySet([public], primary=public.kid))
    except EnvelopeError as exc:
        return False, f"signature not verified: {exc}"
    if key.kid not in res.verified_by:
        return False, f"verified by {res.verified_by}, not by {key.kid}"
    return True, f"signed as primary, verified with its public key ({' '.join(res.algorithms)})"


@dataclass
class _Steps:
    """The steps found so far."""

    items: list[RotationStep] = field(default_factory=list)

    def add(self, name: str, passed: bool | None, detail: str) -> None:
        self.items.append(RotationStep(name, passed, detail))

    @property
    def ok(self) -> bool:
        return _none_failed(self.items)


def _preconditions(
    steps: _Steps,
    key: Key,
    *,
    public: Key | None,
    public_label: str,
    now: datetime | None,
    warn_days: int,
) -> None:
    """What must hold before any message is sealed: the key itself, and the public file."""
    steps.add(
        "private half",
        key.has_secret,
        "present" if key.has_secret else "missing: the manifest must name your secret key file",
    )
    enabled = key.status is KeyStatus.ENABLED
    steps.add("status", enabled, key.status.value + ("" if enabled else ": enable it first"))
    errors = [
        f.message
        for f in check_key(key, primary=True, now=now, warn_days=warn_days)
        if f.level == "error"
    ]
    steps.add("Google's key rules", not errors, "; ".join(errors) or "met (keys check)")
    if public is not None:
        same = public.kid == key.kid
        steps.add(
            "public key file",
            same,
            f"{public_label} holds {public.kid}" if same else f"{public_label}: no key {key.kid}",
        )


def _round_trips(steps: _Steps, ks: KeySet, key: Key, public: Key, probe: _Probe) -> None:
    """A message each way the key is used for, then the current primary's own direction."""
    inbound, outbound = key.can("enc"), key.can("sig")
    if inbound:
        steps.add("Google -> you", *_inbound(ks, key, public, probe))
    else:
        steps.add("Google -> you", None, "a signing key does not decrypt")
    if outbound:
        steps.add("you -> Google", *_outbound(ks, key, public, probe))
    else:
        steps.add("you -> Google", None, "an encryption key does not sign")
    primary = ks.primary
    if primary.kid == key.kid:
        return
    if inbound and primary.can("enc"):
        good, detail = _inbound(ks, primary, primary.public(), probe)
        steps.add("current primary", good, detail.replace("its public", "the primary's public"))
    elif outbound and primary.can("sig"):
        good, detail = _outbound(ks, primary, primary.public(), probe)
        steps.add("current primary", good, "still verifies" if good else detail)


def verify_rotation(
    keyset: KeySet,
    kid: str,
    *,
    public: Key | None = None,
    public_label: str = "the public key file",
    now: datetime | None = None,
    warn_days: int = 30,
    probe_bits: int = MIN_RSA_BITS,
) -> RotationReport:
    """Check that key ``kid`` of ``keyset`` works, inbound and outbound, before it is promoted.

    ``public`` is the public key as it will be sent to Google (a key read from the public
    file); without it the key's own public half is used. ``public_label`` names that file in
    the report. ``now`` and ``warn_days`` are passed to the key rules (`check_key`): a key
    expiring within ``warn_days`` fails. ``probe_bits`` is the RSA size of the throwaway keys
    that stand in for Google (the smallest allowed size by default, for speed).

    When the key itself fails (no private half, not ENABLED, the rules, the wrong public file)
    no message is sealed and the report holds those steps only. Raises `KeyNotFound` when
    ``keyset`` has no key ``kid``.
    """
    key = keyset.get(kid)
    steps = _Steps()
    _preconditions(
        steps, key, public=public, public_label=public_label, now=now, warn_days=warn_days
    )
    if steps.ok:
        pub = public if public is not None else key.public()
        _round_trips(steps, keyset, key, pub, _Probe(keyset.codec, probe_bits))
    return RotationReport(kid=key.kid, codec=keyset.codec, steps=tuple(steps.items))
