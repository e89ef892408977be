"""Checks against Google's key rules: what an operator needs to know about a key, and what
breaks the rules (expiry, lifetime, OpenPGP subkeys, JWE key uses).

The rules themselves (one year, two at most; the OpenPGP key flags) come from
`gpay_envelope._policy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from .._keys import Key, KeySet, KeyStatus, utcnow
from .._policy import FLAG_CERTIFY, MAX_LIFETIME, ONE_YEAR
from .files import Revocation

if TYPE_CHECKING:
    from ..codecs.pgp import KeyPart

__all__ = [
    "Finding",
    "KeyInfo",
    "PartInfo",
    "check_key",
    "check_keyset",
    "describe_key",
]


@dataclass(frozen=True, slots=True)
class PartInfo:
    """An OpenPGP primary key or subkey."""

    role: Literal["primary", "subkey"]
    fingerprint: str
    size: int
    usages: tuple[str, ...]
    created: datetime
    expires: datetime | None
    revoked: bool

    @property
    def key_id(self) -> str:
        """The 16-hex-digit key id."""
        return self.fingerprint[-16:]


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What an operator needs to know about one key (no key material)."""

    kid: str
    codec: str
    kty: str
    size: int
    usages: tuple[str, ...]
    algorithms: tuple[str, ...]
    status: KeyStatus
    primary: bool
    secret: bool
    created: datetime | None
    not_before: datetime | None
    expires: datetime | None
    user_ids: tuple[str, ...] = ()
    parts: tuple[PartInfo, ...] = ()
    thumbprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times in ISO 8601)."""

        def iso(d: datetime | None) -> str | None:
            return None if d is None else d.isoformat()

        out: dict[str, Any] = {
            "kid": self.kid,
            "codec": self.codec,
            "kty": self.kty,
            "size": self.size,
            "usages": list(self.usages),
            "algorithms": list(self.algorithms),
            "status": self.status.value,
            "primary": self.primary,
            "secret": self.secret,
            "created": iso(self.created),
            "not_before": iso(self.not_before),
            "expires": iso(self.expires),
        }
        if self.codec == "pgp":
            out["user_ids"] = list(self.user_ids)
            out["parts"] = [
                {
                    "role": p.role,
                    "fingerprint": p.fingerprint,
                    "size": p.size,
                    "usages": list(p.usages),
                    "created": iso(p.created),
                    "expires": iso(p.expires),
                    "revoked": p.revoked,
                }
                for p in self.parts
            ]
        if self.thumbprint is not None:
            out["thumbprint"] = self.thumbprint
        return out


def _from_epoch(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc)


def _part_info(part: KeyPart) -> PartInfo:
    return PartInfo(
        role="primary" if part.primary else "subkey",
        fingerprint=part.hex,
        size=part.size,
        usages=tuple(
            name
            for name, ok in (
                ("certify", bool(part.flags & FLAG_CERTIFY)),
                ("sign", part.can_sign()),
                ("encrypt", part.can_encrypt()),
            )
            if ok
        ),
        created=datetime.fromtimestamp(part.created, timezone.utc),
        expires=_from_epoch(part.expires),
        revoked=part.revoked,
    )


def describe_key(key: Key, *, primary: bool = False) -> KeyInfo:
    """Describe ``key`` for listings and checks: usages, sizes, dates; never key material.

    ``created`` is the OpenPGP creation time, or for a JWE key its ``nbf`` (which
    ``gpay-envelope keys generate`` sets to the generation time), or None.
    """
    parts: tuple[PartInfo, ...] = ()
    user_ids: tuple[str, ...] = ()
    thumbprint = None
    if key.codec == "pgp":
        from ..codecs.pgp import PGPMaterial

        material = key.material
        assert isinstance(material, PGPMaterial)
        parts = tuple(_part_info(p) for p in material.parts)
        usages = tuple(
            u for u in ("certify", "sign", "encrypt") if any(u in p.usages for p in parts)
        )
        created: datetime | None = parts[0].created
        user_ids = material.user_ids
    else:
        usages = {"enc": ("encrypt",), "sig": ("sign",)}.get(key.use or "", ("encrypt", "sign"))
        created = key.not_before
        jose = getattr(key.material, "jose", None)
        if jose is not None:
            thumbprint = str(jose.thumbprint())
    return KeyInfo(
        kid=key.kid,
        codec=key.codec,
        kty=key.kty,
        size=key.size,
        usages=usages,
        algorithms=tuple(sorted(key.algorithms)),
        status=key.status,
        primary=primary,
        secret=key.has_secret,
        created=created,
        not_before=key.not_before,
        expires=key.not_after,
        user_ids=user_ids,
        parts=parts,
        thumbprint=thumbprint,
    )


@dataclass(frozen=True, slots=True)
class Finding:
    """One result of a check: ``error`` fails it, ``warning`` fails it only when strict."""

    level: Literal["error", "warning", "note"]
    kid: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"level": self.level, "kid": self.kid, "message": self.message}


def _revoked(r: Revocation, keyset: KeySet) -> str:
    why = f"revoked (its key file {r.file} carries the revocation)"
    if keyset.primary.kid == r.kid:
        return (
            f"{why}, and no other ENABLED key is left: nothing seals or verifies with this set; "
            "add and promote a new key, then remove it"
        )
    if r.primary:
        return (
            f"{why}; it was the primary, {keyset.primary.kid} stands in: promote the key to "
            "seal with, then remove it"
        )
    return f"{why}: left out of the set, it neither seals, opens nor verifies; remove it"


def _date(d: datetime) -> str:
    return d.strftime("%Y-%m-%d")


def _lifetime(
    kid: str, what: str, created: datetime | None, expires: datetime, own: bool, now: datetime
) -> list[Finding]:
    strong: Literal["error", "warning"] = "error" if own else "warning"
    if created is None:
        if expires - now > MAX_LIFETIME:
            return [
                Finding(
                    strong,
                    kid,
                    f"{what}expires {_date(expires)}, more than two years from now: Google's "
                    "maximum lifetime is two years",
                )
            ]
        return []
    days = (expires - created).days
    if expires - created > MAX_LIFETIME:
        return [
            Finding(
                strong,
                kid,
                f"{what}lifetime is {days} days (created {_date(created)}, expires "
                f"{_date(expires)}): Google's maximum is two years",
            )
        ]
    if expires - created > ONE_YEAR:
        return [
            Finding(
                "warning",
                kid,
                f"{what}lifetime is {days} days: Google asks for keys that expire in one year "
                "(two at most)",
            )
        ]
    return []


def check_key(
    key: Key, *, primary: bool = False, now: datetime | None = None, warn_days: int = 30
) -> list[Finding]:
    """Check one key against Google's key rules (spec P5, P6, J6).

    Errors: expired or expiring within ``warn_days``; an own key (one holding its private
    half) without an expiry or with a lifetime over two years; an OpenPGP key without a usable
    encryption subkey or without a usable signing key. Warnings: a lifetime over one year; a
    peer's (public-only) key without an expiry or over two years (its owner must fix it); a
    JWE key bound to both uses; a DISABLED key that has expired (remove it). A DISABLED key is
    otherwise only noted: it neither seals nor opens.
    """
    when = now or utcnow()
    info = describe_key(key, primary=primary)
    kid, own, expires = key.kid, key.has_secret, info.expires
    if key.status is KeyStatus.DISABLED:
        if expires is not None and expires <= when:
            return [Finding("warning", kid, f"disabled and expired {_date(expires)}: remove it")]
        return [Finding("note", kid, "disabled: it neither seals nor opens")]
    out = _expiry(info, own=own, now=when, warn_days=warn_days)
    if expires is not None:
        out.extend(_lifetime(kid, "", info.created, expires, own, when))
    if info.not_before is not None and info.not_before > when:
        out.append(Finding("note", kid, f"not valid before {_date(info.not_before)}"))
    if key.codec == "pgp":
        out.extend(_check_pgp_parts(info, own=own, now=when, warn_days=warn_days))
        out.extend(_check_pgp_advertised(key))
    else:
        out.extend(_check_jwe_key(key))
    return out


def _expiry(info: KeyInfo, *, own: bool, now: datetime, warn_days: int) -> list[Finding]:
    """The expiry findings of an ENABLED key."""
    kid, expires = info.kid, info.expires
    if expires is None:
        if own:
            message = (
                "never expires: Google requires keys that expire in one year (two years "
                "at most); generate a new key"
            )
            return [Finding("error", kid, message)]
        message = "never expires: Google's rules ask every key to expire (its sample keys do not)"
        return [Finding("warning", kid, message)]
    if expires <= now:
        action = "promote a valid key, then disable it" if info.primary else "disable and remove it"
        return [Finding("error", kid, f"expired {_date(expires)}: {action}")]
    if expires - now < timedelta(days=warn_days):
        days = (expires - now).days
        if not own:
            action = "rotate it (for a peer's key: get the peer's new key)"
        elif info.primary:
            action = "rotate now (generate, add, verify-rotation, send to Google, promote)"
        else:
            action = "finish the rotation: disable it once Google no longer uses it"
        return [Finding("error", kid, f"expires in {days} days ({_date(expires)}): {action}")]
    return []


def _check_jwe_key(key: Key) -> list[Finding]:
    out: list[Finding] = []
    if key.use is None:
        message = (
            "bound to both encryption and signatures: Google's JWE exchange uses one key per use"
        )
        out.append(Finding("warning", key.kid, message))
    if "RSA1_5" in key.algorithms:
        out.append(Finding("note", key.kid, "legacy: bound to RSA1_5 (Google's older JWE text)"))
    return out


def _check_pgp_advertised(key: Key) -> list[Finding]:
    from ..codecs.pgp import PGPMaterial, advertised_findings

    material = key.material
    assert isinstance(material, PGPMaterial)
    return [Finding(level, key.kid, message) for level, message in advertised_findings(material)]


def _usable(part: PartInfo, now: datetime) -> bool:
    return not part.revoked and part.created <= now and (part.expires is None or now < part.expires)


def _check_pgp_parts(info: KeyInfo, *, own: bool, now: datetime, warn_days: int) -> list[Finding]:
    kid = info.kid
    out = _check_encryption_subkeys(info, now=now, warn_days=warn_days)
    if not any("sign" in p.usages and _usable(p, now) for p in info.parts):
        out.append(Finding("error", kid, "has no usable signing key"))
    for p in info.parts:
        if p.expires is not None and p.role == "subkey" and not p.revoked:
            out.extend(_lifetime(kid, f"subkey {p.key_id}: ", p.created, p.expires, own, now))
    return out


def _check_encryption_subkeys(info: KeyInfo, *, now: datetime, warn_days: int) -> list[Finding]:
    kid = info.kid
    primary, subkeys = info.parts[0], info.parts[1:]
    enc_subs = [p for p in subkeys if "encrypt" in p.usages]
    if not enc_subs:
        if "encrypt" in primary.usages:
            msg = "encrypts with its primary key: Google requires a separate encryption subkey"
        else:
            msg = "has no encryption subkey: Google requires one (the primary is for identity)"
        return [Finding("error", kid, msg)]
    live = [p for p in enc_subs if _usable(p, now)]
    if not live:
        return [Finding("error", kid, "every encryption subkey is expired or revoked")]
    last = _last_expiry(live)
    if last is None or (info.expires is not None and last >= info.expires):
        return []  # a subkey lives as long as the key: the key's own expiry is the finding
    if last - now < timedelta(days=warn_days):
        days = (last - now).days
        return [
            Finding("error", kid, f"its encryption subkey expires in {days} days ({_date(last)})")
        ]
    return []


def _last_expiry(parts: list[PartInfo]) -> datetime | None:
    """When the last of ``parts`` expires; None when one of them never does."""
    ends = [p.expires for p in parts]
    return None if None in ends else max(e for e in ends if e is not None)


def check_keyset(
    keyset: KeySet,
    *,
    now: datetime | None = None,
    warn_days: int = 30,
    revoked: Iterable[Revocation] = (),
) -> list[Finding]:
    """Check every key of ``keyset`` (`check_key`) and the set as a whole.

    The `KeySet` invariants (one ENABLED primary, unique kids, one codec, RSA >= 2048) hold
    for any set that exists; this adds: the primary must be usable now, a set should not mix
    own (secret) and public-only keys, and a JWE set mixing encryption and signing keys is
    flagged (its one primary serves only one of the two uses). Each of the ``revoked`` keys
    the loaders left out of the set (`LoadReport.revoked`, `KeySetWatcher.revoked`) is an
    error: remove it from the manifest.
    """
    when = now or utcnow()
    gone = {r.kid: r for r in revoked}
    out: list[Finding] = []
    primary = keyset.primary
    for key in keyset.primary_first():
        if key.kid not in gone:  # a revoked primary kept as a placeholder: reported below
            out.extend(check_key(key, primary=key is primary, now=when, warn_days=warn_days))
    out.extend(Finding("error", r.kid, _revoked(r, keyset)) for r in gone.values())
    if primary.not_before is not None and primary.not_before > when:
        out.append(Finding("error", primary.kid, "the primary is not valid yet"))
    out.extend(_mixed(keyset))
    return out


def _mixed(keyset: KeySet) -> list[Finding]:
    """What the set mixes that it should not: own and public-only keys, JWE uses."""
    out: list[Finding] = []
    if len({k.has_secret for k in keyset}) > 1:
        message = "the set mixes your own keys (with a private half) and public-only keys"
        out.append(Finding("warning", None, message))
    if keyset.codec == "jwe" and {"enc", "sig"} <= {k.use for k in keyset}:
        message = (
            "the set holds encryption and signing keys; keep one manifest per use so each "
            "has its own primary"
        )
        out.append(Finding("warning", None, message))
    return out
