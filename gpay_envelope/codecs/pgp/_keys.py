"""OpenPGP transferable keys: structure, self-signatures and the key policy, on our own parser.

pgpy checks none of this (research/pgp-backends.md section 2.4: it encrypts to expired, revoked
and forged subkeys), so every binding is verified here, over the exact bytes that were signed:

- version 4 RSA primary keys only, at least 2048 bits; an RSA subkey below 2048 bits is refused
  too; subkeys of other algorithms are dropped (never used);
- the primary needs a valid self-signature; a valid key revocation refuses the key;
- key flags and expiry come from the newest valid self-signature (the primary user ID's first);
- a subkey counts only with a valid binding signature by the primary (a copied or corrupted
  binding drops it); a signing subkey also needs its embedded primary-key binding signature;
  a subkey packet that is not a v4 RSA key, or that no valid binding covers, is dropped;
- a valid subkey revocation marks the subkey revoked;
- copies of one user ID or one subkey (same fingerprint) are merged first, their signatures
  pooled, so a revocation on one copy cannot be dodged by an old copy next to it;
- self-signatures expire (signature expiration time): among the valid ones the newest that has
  not expired at load time is used, and its own expiry also ends the part's validity, so a
  binding that expires after the load stops the part at use time (`KeyPart.valid_at`).
Errors are `KeySetError` with a message that names the key and the problem, never key bytes.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

from ..._policy import MAX_RSA_BITS, MIN_RSA_BITS
from ...errors import KeySetError
from . import wire as op

__all__ = [
    "CLOCK_SKEW",
    "KeyPart",
    "ParsedKey",
    "build_secret_key",
    "fingerprint",
    "parse_keys",
    "public_key_body",
    "secret_key_body",
    "split_keys",
]

#: Seconds a creation time may lie in the future before the object counts as not yet valid.
CLOCK_SKEW: Final = 600
MAX_KEYS: Final = 64
_MAX_KEY_PACKETS: Final = 4096
#: Self-signatures may be SHA-1: forging a binding needs a second preimage, not a collision,
#: and many keys made by BouncyCastle-based tools still carry SHA-1 self-signatures. Message
#: signatures never accept SHA-1 (pgp.py). MD5 and RIPEMD-160 are never accepted.
_SELF_SIG_HASHES: Final = frozenset(
    {op.HASH_SHA1, op.HASH_SHA224, op.HASH_SHA256, op.HASH_SHA384, op.HASH_SHA512}
)
_KEY_TAGS: Final = frozenset({op.TAG_PUBLIC_KEY, op.TAG_SECRET_KEY})
_SUBKEY_TAGS: Final = frozenset({op.TAG_PUBLIC_SUBKEY, op.TAG_SECRET_SUBKEY})
_CERTIFICATIONS: Final = frozenset(range(op.SIG_CERT_GENERIC, op.SIG_CERT_POSITIVE + 1))


@dataclass(frozen=True, slots=True, eq=False)
class KeyPart:
    """The primary key or one subkey: its public half and what its self-signatures say."""

    fingerprint: bytes
    created: int
    expires: int | None
    flags: int
    revoked: bool
    public_key: rsa.RSAPublicKey
    body: bytes
    primary: bool

    @property
    def keyid(self) -> bytes:
        """The v4 key id: the low 64 bits of the fingerprint."""
        return self.fingerprint[-8:]

    @property
    def size(self) -> int:
        """Modulus size in bits."""
        return self.public_key.key_size

    @property
    def hex(self) -> str:
        """Fingerprint in upper-case hex."""
        return self.fingerprint.hex().upper()

    def valid_at(self, when: int) -> bool:
        """Not revoked, already created (with some clock skew) and not expired at ``when``."""
        return (
            not self.revoked
            and self.created <= when + CLOCK_SKEW
            and (self.expires is None or when < self.expires)
        )

    def can_sign(self) -> bool:
        """The key flags allow signing data."""
        return bool(self.flags & op.FLAG_SIGN)

    def can_encrypt(self) -> bool:
        """The key flags allow encrypting communications or storage."""
        return bool(self.flags & op.FLAG_ENCRYPT)

    def __repr__(self) -> str:
        return f"<KeyPart {self.hex} RSA-{self.size} flags={self.flags:#04x}>"


@dataclass(frozen=True, slots=True, eq=False)
class ParsedKey:
    """One transferable key after the policy checks."""

    primary: KeyPart
    subkeys: tuple[KeyPart, ...]
    user_ids: tuple[str, ...]
    #: Canonical public transferable key (what `key_to_pgp` exports).
    public_blob: bytes
    #: The transferable secret key as given (re-framed), or None for a public key.
    secret_blob: bytes | None = field(default=None, repr=False)

    @property
    def parts(self) -> tuple[KeyPart, ...]:
        """Primary first, then the subkeys."""
        return (self.primary, *self.subkeys)


@dataclass(frozen=True, slots=True)
class _RawKey:
    #: The whole key packet body: for a secret key, the secret material too. Never printed.
    body: bytes = field(repr=False)
    public_len: int
    created: int
    n: int
    e: int


def _read_public(body: bytes, what: str) -> _RawKey | None:
    """Parse the public part of a key packet; None for non-RSA algorithms."""
    if len(body) < 6:
        raise KeySetError(f"{what}: truncated key packet")
    if body[0] != 4:
        raise KeySetError(f"{what}: only version 4 OpenPGP keys are supported, not v{body[0]}")
    created = int.from_bytes(body[1:5], "big")
    if body[5] not in op.RSA_ALGORITHMS:
        return None
    try:
        n, pos = op.read_mpi(body, 6)
        e, pos = op.read_mpi(body, pos)
    except op.Malformed:
        raise KeySetError(f"{what}: malformed RSA key packet") from None
    return _RawKey(body, pos, created, int.from_bytes(n, "big"), int.from_bytes(e, "big"))


def _framed(body: bytes) -> bytes:
    return b"\x99" + struct.pack(">H", len(body)) + body


def fingerprint(public_body: bytes) -> bytes:
    """The v4 fingerprint of a public key packet body."""
    return hashlib.sha1(_framed(public_body)).digest()  # noqa: S324 - v4 fingerprints are SHA-1


def _rsa_public(raw: _RawKey, what: str) -> rsa.RSAPublicKey:
    try:
        return rsa.RSAPublicNumbers(raw.e, raw.n).public_key()
    except ValueError:
        raise KeySetError(f"{what}: invalid RSA public key") from None


def _self_verify(
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


def _signatures(bodies: Iterable[bytes]) -> list[op.Signature]:
    out = []
    for body in bodies:
        try:
            sig = op.parse_signature(body)
        except op.Malformed:
            continue  # a broken certification is ignored, like one we cannot check
        if sig is not None:
            out.append(sig)
    return out


def _newest(sigs: Iterable[op.Signature]) -> op.Signature | None:
    best: op.Signature | None = None
    for sig in sigs:
        if best is None or (sig.created or 0) >= (best.created or 0):
            best = sig
    return best


_REVOCATIONS: Final = frozenset(
    {op.SIG_KEY_REVOCATION, op.SIG_SUBKEY_REVOCATION, op.SIG_CERT_REVOCATION}
)


def _current(sigs: Sequence[op.Signature], now: int) -> op.Signature | None:
    """The newest of ``sigs`` that has not expired at ``now``; when all have, the newest
    (the caller then caps the part's validity at its expiry, which is in the past).
    Revocations never expire."""
    live = [s for s in sigs if s.sigtype in _REVOCATIONS or not s.expired_at(now)]
    return _newest(live) or _newest(sigs)


def _expiry(created: int, sig: op.Signature | None) -> int | None:
    """When the key expires, by the key expiration time in ``sig``."""
    if sig is None or not sig.key_expires_after:
        return None
    return created + sig.key_expires_after


def _sig_expiry(sig: op.Signature | None) -> int | None:
    """When ``sig`` itself expires, by its signature expiration time."""
    if sig is None or sig.created is None or not sig.expires_after:
        return None
    return sig.created + sig.expires_after


def _earliest(*times: int | None) -> int | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


@dataclass(slots=True)
class _Group:
    """Packets of one transferable key, grouped by what they belong to.

    ``body`` and the subkey bodies of a secret key hold unprotected or protected secret key
    material: they are left out of the repr.
    """

    tag: int
    body: bytes = field(repr=False)
    direct: list[bytes] = field(default_factory=list)
    uids: list[tuple[int, bytes, list[bytes]]] = field(default_factory=list)
    subkeys: list[tuple[int, bytes, list[bytes]]] = field(default_factory=list, repr=False)


def split_keys(packets: Sequence[tuple[int, bytes]]) -> list[_Group]:
    """Group a packet sequence into transferable keys (RFC 4880 section 11.1 / 11.2)."""
    groups: list[_Group] = []
    current: list[bytes] | None = None
    for tag, body in packets:
        if tag in _KEY_TAGS:
            if len(groups) >= MAX_KEYS:
                raise KeySetError(f"more than {MAX_KEYS} keys in one input")
            groups.append(_Group(tag, body))
            current = groups[-1].direct
        elif not groups:
            raise KeySetError("OpenPGP key data must start with a key packet")
        elif tag in (op.TAG_USER_ID, op.TAG_USER_ATTRIBUTE):
            groups[-1].uids.append((tag, body, []))
            current = groups[-1].uids[-1][2]
        elif tag in _SUBKEY_TAGS:
            groups[-1].subkeys.append((tag, body, []))
            current = groups[-1].subkeys[-1][2]
        elif tag == op.TAG_SIGNATURE:
            assert current is not None
            current.append(body)
        elif tag in (op.TAG_TRUST, op.TAG_MARKER):
            continue  # keyring bookkeeping (gpg 1.x) and markers carry nothing for us
        else:
            raise KeySetError(f"unexpected OpenPGP packet (tag {tag}) in key data")
    return groups


def _uid_prefix(tag: int, body: bytes) -> bytes:
    return (b"\xb4" if tag == op.TAG_USER_ID else b"\xd1") + struct.pack(">I", len(body)) + body


def _pooled(copies: Iterable[Iterable[bytes]]) -> list[bytes]:
    """The signature packets of several copies of one thing, each distinct one once."""
    return list(dict.fromkeys(body for sigs in copies for body in sigs))


def _merged_uids(group: _Group) -> list[tuple[int, bytes, list[bytes]]]:
    """User IDs (and attributes) with the copies of each merged, in first-seen order."""
    merged: dict[tuple[int, bytes], list[list[bytes]]] = {}
    for tag, body, sigs in group.uids:
        merged.setdefault((tag, body), []).append(sigs)
    return [(tag, body, _pooled(copies)) for (tag, body), copies in merged.items()]


def _merged_subkeys(group: _Group) -> list[tuple[_RawKey, bytes, list[bytes]]]:
    """v4 RSA subkeys by fingerprint, the signatures of every copy pooled, in first-seen
    order. A subkey packet we cannot read (another version or algorithm, truncated numbers) is
    dropped here: nothing could bind it to a v4 RSA key we use."""
    merged: dict[bytes, tuple[_RawKey, list[list[bytes]]]] = {}
    for _tag, body, sigs in group.subkeys:
        try:
            raw = _read_public(body, "a subkey")
        except KeySetError:
            raw = None
        if raw is None:
            continue
        fpr = fingerprint(raw.body[: raw.public_len])
        merged.setdefault(fpr, (raw, []))[1].append(sigs)
    return [(raw, fpr, _pooled(copies)) for fpr, (raw, copies) in merged.items()]


def _primary_state(
    group: _Group,
    uids: Sequence[tuple[int, bytes, list[bytes]]],
    raw: _RawKey,
    key: rsa.RSAPublicKey,
    fpr: bytes,
    what: str,
    now: int,
) -> tuple[int, int | None, tuple[str, ...]]:
    """Flags, expiry and user ids of the primary, from its valid self-signatures."""
    pub = _framed(raw.body[: raw.public_len])
    direct_ok = []
    for sig in _signatures(dict.fromkeys(group.direct)):
        if sig.sigtype in (op.SIG_DIRECT_KEY, op.SIG_KEY_REVOCATION) and _self_verify(
            key, fpr, sig, (pub,)
        ):
            if sig.sigtype == op.SIG_KEY_REVOCATION:
                raise KeySetError(f"{what} is revoked")
            direct_ok.append(sig)
    certs: list[op.Signature] = []
    user_ids: list[str] = []
    for tag, body, sig_bodies in uids:
        prefix = _uid_prefix(tag, body)
        valid = [
            s
            for s in _signatures(sig_bodies)
            if (s.sigtype in _CERTIFICATIONS or s.sigtype == op.SIG_CERT_REVOCATION)
            and _self_verify(key, fpr, s, (pub, prefix))
        ]
        newest = _current(valid, now)
        if newest is None or newest.sigtype == op.SIG_CERT_REVOCATION:
            continue  # an unbound or revoked user id says nothing about the key
        certs.append(newest)
        if tag == op.TAG_USER_ID and not newest.expired_at(now):
            user_ids.append(body.decode("utf-8", "replace"))
    direct = _current(direct_ok, now)
    live = [c for c in certs if not c.expired_at(now)]
    pool = live or certs
    cert = _newest(c for c in pool if c.primary_uid) or _newest(pool)
    if cert is None and direct is None:
        raise KeySetError(f"{what} has no valid self-signature")
    # An expired self-signature says nothing while an unexpired one speaks for the key.
    if cert is not None and direct is not None:
        if cert.expired_at(now) and not direct.expired_at(now):
            cert = None
        elif direct.expired_at(now) and not cert.expired_at(now):
            direct = None
    flags = next(
        (s.key_flags for s in (cert, direct) if s is not None and s.key_flags is not None),
        # A primary without key flags predates them (RFC 2440): it certifies and signs.
        op.FLAG_CERTIFY | op.FLAG_SIGN,
    )
    expiry_sig = next(
        (s for s in (direct, cert) if s is not None and s.key_expires_after is not None), None
    )
    # What the self-signatures say holds until they expire: the key's validity ends then too.
    expires = _earliest(_expiry(raw.created, expiry_sig), _sig_expiry(cert), _sig_expiry(direct))
    return flags, expires, tuple(user_ids)


def _subkey_part(
    raw: _RawKey,
    fpr: bytes,
    sig_bodies: Sequence[bytes],
    primary_pub: bytes,
    primary_key: rsa.RSAPublicKey,
    primary_fpr: bytes,
    what: str,
    now: int,
) -> KeyPart | None:
    """One subkey (all its copies merged) with every signature made on any copy."""
    public = raw.body[: raw.public_len]
    sub_what = f"{what}: subkey {fpr.hex().upper()}"
    signed = (primary_pub, _framed(public))
    bindings = []
    revoked = False
    for sig in _signatures(sig_bodies):
        if sig.sigtype == op.SIG_SUBKEY_BINDING and _self_verify(
            primary_key, primary_fpr, sig, signed
        ):
            bindings.append(sig)
        elif sig.sigtype == op.SIG_SUBKEY_REVOCATION and _self_verify(
            primary_key, primary_fpr, sig, signed
        ):
            revoked = True
    binding = _current(bindings, now)
    if binding is None:
        return None  # no valid binding: a forged, copied, corrupted or junk subkey is not ours
    # Only a bound subkey becomes an RSA object: its numbers are the key owner's statement,
    # so broken ones refuse the key, like a weak size does.
    sub_key = _rsa_public(raw, sub_what)
    if sub_key.key_size < MIN_RSA_BITS:
        raise KeySetError(
            f"{sub_what} is RSA-{sub_key.key_size}; at least RSA-{MIN_RSA_BITS} is required"
        )
    if sub_key.key_size > MAX_RSA_BITS:
        raise KeySetError(f"{sub_what} is RSA-{sub_key.key_size}; at most {MAX_RSA_BITS}")
    flags = binding.key_flags or 0
    if flags & op.FLAG_SIGN and not _back_signed(binding, sub_key, fpr, signed, now):
        # RFC 4880 5.2.1: a signing subkey must cross-certify the primary, or anybody could
        # claim somebody else's signing key as their own subkey.
        flags &= ~op.FLAG_SIGN
    return KeyPart(
        fingerprint=fpr,
        created=raw.created,
        # The binding's own expiry ends the binding: at use time the part is then expired.
        expires=_earliest(_expiry(raw.created, binding), _sig_expiry(binding)),
        flags=flags,
        revoked=revoked,
        public_key=sub_key,
        body=public,
        primary=False,
    )


def _back_signed(
    binding: op.Signature,
    sub_key: rsa.RSAPublicKey,
    sub_fpr: bytes,
    signed: Sequence[bytes],
    now: int,
) -> bool:
    for sig in _signatures(binding.embedded):
        if (
            sig.sigtype == op.SIG_PRIMARY_BINDING
            and not sig.expired_at(now)
            and _self_verify(sub_key, sub_fpr, sig, signed)
        ):
            return True
    return False


def parse_keys(data: bytes, *, now: int | None = None) -> list[ParsedKey]:
    """Parse binary OpenPGP key data (one or several transferable keys) under the policy.

    ``now`` (default: the current time) is when self-signature expiry is judged, see the
    module docstring.
    """
    try:
        packets = op.read_packets(data, max_packets=_MAX_KEY_PACKETS)
    except op.Malformed:
        raise KeySetError("the OpenPGP key data is malformed") from None
    when = int(time.time()) if now is None else now
    return [_parse_group(g, when) for g in split_keys(packets)]


def _parse_group(group: _Group, now: int) -> ParsedKey:
    raw = _read_public(group.body, "an OpenPGP key")
    if raw is None:
        raise KeySetError(
            "only RSA OpenPGP keys are supported (Google's rules require RSA >= 2048)"
        )
    public = raw.body[: raw.public_len]
    fpr = fingerprint(public)
    what = f"key {fpr.hex().upper()}"
    key = _rsa_public(raw, what)
    if key.key_size < MIN_RSA_BITS:
        raise KeySetError(f"{what} is RSA-{key.key_size}; at least RSA-{MIN_RSA_BITS} is required")
    if key.key_size > MAX_RSA_BITS:
        raise KeySetError(f"{what} is RSA-{key.key_size}; at most RSA-{MAX_RSA_BITS} is supported")
    uids = _merged_uids(group)
    flags, expires, user_ids = _primary_state(group, uids, raw, key, fpr, what, now)
    primary = KeyPart(
        fingerprint=fpr,
        created=raw.created,
        expires=expires,
        flags=flags,
        revoked=False,
        public_key=key,
        body=public,
        primary=True,
    )
    primary_pub = _framed(public)
    subkeys: list[KeyPart] = []
    out = [
        op.packet(op.TAG_PUBLIC_KEY, public),
        *(op.packet(op.TAG_SIGNATURE, s) for s in dict.fromkeys(group.direct)),
    ]
    for tag, body, sigs in uids:
        out.append(op.packet(tag, body))
        out.extend(op.packet(op.TAG_SIGNATURE, s) for s in sigs)
    for sub_raw, sub_fpr, sigs in _merged_subkeys(group):
        part = _subkey_part(sub_raw, sub_fpr, sigs, primary_pub, key, fpr, what, now)
        if part is None:
            continue
        subkeys.append(part)
        out.append(op.packet(op.TAG_PUBLIC_SUBKEY, part.body))
        out.extend(op.packet(op.TAG_SIGNATURE, s) for s in sigs)
    if not (flags & op.FLAG_SIGN or flags & op.FLAG_ENCRYPT) and not any(
        s.can_sign() or s.can_encrypt() for s in subkeys
    ):
        raise KeySetError(f"{what} has no key or subkey that may sign or encrypt")
    secret = None
    if group.tag == op.TAG_SECRET_KEY:
        secret_packets = [op.packet(group.tag, group.body)]
        secret_packets.extend(op.packet(op.TAG_SIGNATURE, s) for s in group.direct)
        for tag, body, sigs in (*group.uids, *group.subkeys):
            secret_packets.append(op.packet(tag, body))
            secret_packets.extend(op.packet(op.TAG_SIGNATURE, s) for s in sigs)
        secret = b"".join(secret_packets)
    return ParsedKey(primary, tuple(subkeys), user_ids, b"".join(out), secret)


# -- building keys ---------------------------------------------------------------------------
def public_key_body(key: rsa.RSAPublicKey, created: int) -> bytes:
    """A v4 RSA public key packet body."""
    numbers = key.public_numbers()
    return (
        b"\x04"
        + struct.pack(">I", created)
        + bytes((op.PK_RSA,))
        + op.mpi(numbers.n)
        + op.mpi(numbers.e)
    )


def secret_key_body(key: rsa.RSAPrivateKey, created: int) -> bytes:
    """A v4 RSA secret key packet body, unprotected (S2K usage 0, two-octet checksum)."""
    numbers = key.private_numbers()
    # RFC 4880 5.5.3: p < q and u = p^-1 mod q (cryptography's iqmp is the other way round).
    p, q = sorted((numbers.p, numbers.q))
    secret = op.mpi(numbers.d) + op.mpi(p) + op.mpi(q) + op.mpi(rsa.rsa_crt_iqmp(q, p))
    checksum = struct.pack(">H", sum(secret) & 0xFFFF)
    return public_key_body(key.public_key(), created) + b"\x00" + secret + checksum


def build_secret_key(
    *,
    uid: str,
    primary: rsa.RSAPrivateKey,
    subkey: rsa.RSAPrivateKey,
    created: int,
    expires_after: int,
) -> bytes:
    """A transferable secret key: primary (certify, sign) with one user id, one encryption
    subkey; SHA384 self-signatures; both expire ``expires_after`` seconds after ``created``;
    preferences AES256/AES192/AES128, SHA384/SHA512/SHA256, ZIP/ZLIB/uncompressed, MDC."""
    pub = public_key_body(primary.public_key(), created)
    sub_pub = public_key_body(subkey.public_key(), created)
    fpr = fingerprint(pub)
    when = struct.pack(">I", created)
    expiry = struct.pack(">I", expires_after)
    issuer = op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + fpr)
    unhashed = op.subpacket(op.SUB_ISSUER, fpr[-8:])
    uid_bytes = uid.encode("utf-8")
    cert = op.signature_body(
        primary,
        sigtype=op.SIG_CERT_POSITIVE,
        hashalg=op.HASH_SHA384,
        hashed=op.subpacket(op.SUB_CREATED, when)
        + op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_CERTIFY | op.FLAG_SIGN,)))
        + op.subpacket(op.SUB_KEY_EXPIRES, expiry)
        + op.subpacket(
            op.SUB_PREFERRED_SYMMETRIC, bytes((op.SYM_AES256, op.SYM_AES192, op.SYM_AES128))
        )
        + op.subpacket(
            op.SUB_PREFERRED_HASH, bytes((op.HASH_SHA384, op.HASH_SHA512, op.HASH_SHA256))
        )
        + op.subpacket(
            op.SUB_PREFERRED_COMPRESSION, bytes((op.COMP_ZIP, op.COMP_ZLIB, op.COMP_NONE))
        )
        + op.subpacket(op.SUB_FEATURES, b"\x01")
        + op.subpacket(op.SUB_PRIMARY_UID, b"\x01")
        + issuer,
        unhashed=unhashed,
        data=(_framed(pub), _uid_prefix(op.TAG_USER_ID, uid_bytes)),
    )
    binding = op.signature_body(
        primary,
        sigtype=op.SIG_SUBKEY_BINDING,
        hashalg=op.HASH_SHA384,
        hashed=op.subpacket(op.SUB_CREATED, when)
        + op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_ENCRYPT,)))
        + op.subpacket(op.SUB_KEY_EXPIRES, expiry)
        + issuer,
        unhashed=unhashed,
        data=(_framed(pub), _framed(sub_pub)),
    )
    return b"".join(
        (
            op.packet(op.TAG_SECRET_KEY, secret_key_body(primary, created)),
            op.packet(op.TAG_USER_ID, uid_bytes),
            op.packet(op.TAG_SIGNATURE, cert),
            op.packet(op.TAG_SECRET_SUBKEY, secret_key_body(subkey, created)),
            op.packet(op.TAG_SIGNATURE, binding),
        )
    )
