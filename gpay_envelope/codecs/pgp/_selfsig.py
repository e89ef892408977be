"""Self-signatures of a transferable key: checking one, choosing the one that speaks, reading
their times, and finding revocations wherever they stand in the key.

Revocations are honoured wherever they stand, as gpg does when it imports a key (it moves
misplaced signatures to where they belong): a key revocation (0x20) anywhere in the key, or
in a revocation certificate given with it, counts when it verifies by the primary; a subkey
revocation (0x28) is made over the primary and the subkey, so it is tried against every
subkey and counts for the one it verifies for. `_keys` applies the results.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

from ...errors import KeySetError
from . import wire as op

__all__ = [
    "MAX_REVOCATION_TRIES",
    "REVOCATIONS",
    "Primary",
    "current",
    "earliest",
    "fingerprint",
    "framed",
    "key_expiry",
    "made_within",
    "newest",
    "primary_state",
    "revocation_bodies",
    "self_verify",
    "sig_expiry",
    "signatures",
    "subkey_revocations",
    "uid_prefix",
]

#: Self-signatures may be SHA-1: forging a binding needs a second preimage, not a collision,
#: and many keys made by BouncyCastle-based tools still carry SHA-1 self-signatures. Message
#: signatures never accept SHA-1 (_codec.py). MD5 and RIPEMD-160 are never accepted.
_SELF_SIG_HASHES: Final = frozenset(
    {op.HASH_SHA1, op.HASH_SHA224, op.HASH_SHA256, op.HASH_SHA384, op.HASH_SHA512}
)
_CERTIFICATIONS: Final = frozenset(range(op.SIG_CERT_GENERIC, op.SIG_CERT_POSITIVE + 1))
REVOCATIONS: Final = frozenset(
    {op.SIG_KEY_REVOCATION, op.SIG_SUBKEY_REVOCATION, op.SIG_CERT_REVOCATION}
)
#: Most (subkey revocation, subkey) pairs tried for one key. Each try is a hash (an RSA
#: operation only when the digest's first two octets match); real keys need a few dozen.
#: A key over it is refused rather than judged with a revocation left unchecked.
MAX_REVOCATION_TRIES: Final = 4096


def framed(body: bytes) -> bytes:
    """A key packet body as it is hashed in signatures: 0x99, two-octet length, body."""
    return b"\x99" + struct.pack(">H", len(body)) + body


def fingerprint(public_body: bytes) -> bytes:
    """The v4 fingerprint of a public key packet body."""
    return hashlib.sha1(framed(public_body)).digest()  # noqa: S324 - v4 fingerprints are SHA-1


def uid_prefix(tag: int, body: bytes) -> bytes:
    """A user ID or attribute as it is hashed in certifications."""
    return (b"\xb4" if tag == op.TAG_USER_ID else b"\xd1") + struct.pack(">I", len(body)) + body


def self_verify(
    key: rsa.RSAPublicKey, issuer: bytes, sig: op.Signature, data: Sequence[bytes]
) -> bool:
    """Verify a self-signature made by the key with fingerprint ``issuer`` over ``data``."""
    if sig.critical_unknown or sig.created is None or sig.hashalg not in _SELF_SIG_HASHES:
        return False
    if sig.issuer_fprs and issuer not in sig.issuer_fprs:
        return False
    if not sig.issuer_fprs and sig.issuer_ids and issuer[-8:] not in sig.issuer_ids:
        return False
    h = op.signature_hasher(sig.hashalg)
    for part in data:
        h.update(part)
    digest = op.finish_digest(h, sig.sigtype, sig.pkalg, sig.hashalg, sig.hashed)
    return op.rsa_verify(key, sig, digest)


@dataclass(frozen=True, slots=True)
class Primary:
    """The primary key as the signer of its self-signatures."""

    key: rsa.RSAPublicKey
    fpr: bytes
    #: The framed public key packet: the start of everything a self-signature covers.
    framed: bytes
    created: int
    #: "key <FINGERPRINT>", for error messages.
    what: str

    def verifies(self, sig: op.Signature, *data: bytes) -> bool:
        """``sig`` is a valid signature by the primary over its key packet and ``data``."""
        return self_verify(self.key, self.fpr, sig, (self.framed, *data))

    def revoked_by(self, bodies: Iterable[bytes]) -> bool:
        """One of these signatures is a valid key revocation of the primary."""
        return any(
            s.sigtype == op.SIG_KEY_REVOCATION and self.verifies(s) for s in signatures(bodies)
        )


def signatures(bodies: Iterable[bytes]) -> list[op.Signature]:
    """The v4 signatures among ``bodies``; broken or other-version ones are left out."""
    out = []
    for body in bodies:
        try:
            sig = op.parse_signature(body)
        except op.Malformed:
            continue  # a broken certification is ignored, like one we cannot check
        if sig is not None:
            out.append(sig)
    return out


def revocation_bodies(bodies: Iterable[bytes], sigtype: int) -> list[bytes]:
    """The distinct signature packets of ``sigtype`` (a v4 revocation type), read from the
    header only: the cheap filter before anything is parsed or verified."""
    return [b for b in dict.fromkeys(bodies) if len(b) > 1 and b[0] == 4 and b[1] == sigtype]


def subkey_revocations(
    primary: Primary,
    subkeys: Sequence[tuple[bytes, bytes]],
    placed: Sequence[tuple[bytes | None, bytes]],
) -> dict[bytes, list[bytes]]:
    """Which subkey revocations verify for which subkey, wherever they stand.

    ``subkeys`` are (fingerprint, public body); ``placed`` are (fingerprint of the subkey the
    signature stands after, or None, signature body) for every subkey revocation in the key.
    Each is tried against the subkey it stands after first, then against the others.

    Raises:
        KeySetError: more than `MAX_REVOCATION_TRIES` tries would be needed.
    """
    found: dict[bytes, list[bytes]] = {}
    tries = 0
    for home, body in placed:
        parsed = signatures((body,))
        if not parsed:
            continue
        sig = parsed[0]
        for fpr, public in sorted(subkeys, key=lambda s: s[0] != home):
            tries += 1
            if tries > MAX_REVOCATION_TRIES:
                raise KeySetError(f"{primary.what} has too many subkey revocations to check")
            if primary.verifies(sig, framed(public)):
                found.setdefault(fpr, []).append(body)
                break
    return found


def newest(sigs: Iterable[op.Signature]) -> op.Signature | None:
    """The signature with the latest creation time (the last one of equal times)."""
    best: op.Signature | None = None
    for sig in sigs:
        if best is None or (sig.created or 0) >= (best.created or 0):
            best = sig
    return best


def current(sigs: Sequence[op.Signature], now: int) -> op.Signature | None:
    """The newest of ``sigs`` that has not expired at ``now``; when all have, the newest
    (the caller then caps the part's validity at its expiry, which is in the past).
    Revocations never expire."""
    live = [s for s in sigs if s.sigtype in REVOCATIONS or not s.expired_at(now)]
    return newest(live) or newest(sigs)


def key_expiry(created: int, sig: op.Signature | None) -> int | None:
    """When the key expires, by the key expiration time in ``sig``."""
    if sig is None or not sig.key_expires_after:
        return None
    return created + sig.key_expires_after


def sig_expiry(sig: op.Signature | None) -> int | None:
    """When ``sig`` itself expires, by its signature expiration time."""
    if sig is None or sig.created is None or not sig.expires_after:
        return None
    return sig.created + sig.expires_after


def earliest(*times: int | None) -> int | None:
    """The earliest of the known times, or None when none is known."""
    known = [t for t in times if t is not None]
    return min(known) if known else None


def made_within(sig: op.Signature, start: int, end: int | None) -> bool:
    """``sig`` was made in [start, end): within the life of the key that made it (a key
    signs nothing before it exists or after it expires). No clock skew: that is for
    comparing with *now* only."""
    made = sig.created
    return made is not None and start <= made and (end is None or made < end)


# -- the primary's self-signatures ----------------------------------------------------------
def _direct_self_signatures(
    primary: Primary, bodies: Iterable[bytes], now: int
) -> list[op.Signature]:
    """Valid direct-key self-signatures, made within the primary's life."""
    return [
        s
        for s in signatures(dict.fromkeys(bodies))
        if s.sigtype == op.SIG_DIRECT_KEY
        and made_within(s, primary.created, None)
        and primary.verifies(s)
    ]


def _user_id_certifications(
    primary: Primary, uids: Sequence[tuple[int, bytes, list[bytes]]], now: int
) -> tuple[list[op.Signature], tuple[str, ...]]:
    """The current certification of every bound, unrevoked user ID (or attribute), and the
    user IDs whose certification has not expired."""
    certs: list[op.Signature] = []
    user_ids: list[str] = []
    for tag, body, sig_bodies in uids:
        prefix = uid_prefix(tag, body)
        valid = [
            s
            for s in signatures(sig_bodies)
            if (
                s.sigtype == op.SIG_CERT_REVOCATION
                or (s.sigtype in _CERTIFICATIONS and made_within(s, primary.created, None))
            )
            and primary.verifies(s, prefix)
        ]
        newest_sig = current(valid, now)
        if newest_sig is None or newest_sig.sigtype == op.SIG_CERT_REVOCATION:
            continue  # an unbound or revoked user id says nothing about the key
        certs.append(newest_sig)
        if tag == op.TAG_USER_ID and not newest_sig.expired_at(now):
            user_ids.append(body.decode("utf-8", "replace"))
    return certs, tuple(user_ids)


def _speaking(
    certs: Sequence[op.Signature], direct: op.Signature | None, now: int
) -> tuple[op.Signature | None, op.Signature | None]:
    """The certification (the primary user ID's first) and direct-key signature that speak
    for the key: an expired one says nothing while an unexpired one speaks."""
    live = [c for c in certs if not c.expired_at(now)]
    pool = live or certs
    cert = newest(c for c in pool if c.primary_uid) or newest(pool)
    if cert is not None and direct is not None:
        if cert.expired_at(now) and not direct.expired_at(now):
            cert = None
        elif direct.expired_at(now) and not cert.expired_at(now):
            direct = None
    return cert, direct


def primary_state(
    primary: Primary,
    direct: Sequence[bytes],
    uids: Sequence[tuple[int, bytes, list[bytes]]],
    now: int,
) -> tuple[int, int | None, tuple[str, ...], tuple[tuple[int, bytes], ...]]:
    """Flags, expiry, user ids and preferences (`Signature.preferences`) of the primary, from
    its valid self-signatures: the direct-key signatures (``direct``) and the user IDs'
    certifications (whose preferences win: that is where v4 keys keep them).

    Raises:
        KeySetError: no valid self-signature.
    """
    certs, user_ids = _user_id_certifications(primary, uids, now)
    newest_direct = current(_direct_self_signatures(primary, direct, now), now)
    cert, direct_sig = _speaking(certs, newest_direct, now)
    if cert is None and direct_sig is None:
        raise KeySetError(f"{primary.what} has no valid self-signature")
    flags = next(
        (s.key_flags for s in (cert, direct_sig) if s is not None and s.key_flags is not None),
        # A primary without key flags predates them (RFC 2440): it certifies and signs.
        op.FLAG_CERTIFY | op.FLAG_SIGN,
    )
    expiry_sig = next(
        (s for s in (direct_sig, cert) if s is not None and s.key_expires_after is not None), None
    )
    # What the self-signatures say holds until they expire: the key's validity ends then too.
    expires = earliest(
        key_expiry(primary.created, expiry_sig), sig_expiry(cert), sig_expiry(direct_sig)
    )
    preferences = dict(direct_sig.preferences if direct_sig is not None else ())
    preferences.update(cert.preferences if cert is not None else ())
    return flags, expires, user_ids, tuple(sorted(preferences.items()))
