"""OpenPGP transferable keys: structure, self-signatures and the key policy, on our own parser.

pgpy checks none of this (it encrypts to expired, revoked and forged subkeys), so every
binding is verified here, over the exact bytes that were signed:

- version 4 RSA primary keys only, at least 2048 bits; an RSA subkey below 2048 bits is refused
  too; subkeys of other algorithms are dropped (never used);
- the primary needs a valid self-signature; a valid key revocation refuses the key, wherever it
  stands in the key (after a user ID or a subkey too) or in a revocation certificate given in
  the same input (`parse_keys`);
- key flags and expiry come from the newest valid self-signature (the primary user ID's first);
- a subkey counts only with a valid binding signature by the primary (a copied or corrupted
  binding drops it); a signing subkey also needs its embedded primary-key binding signature;
  a subkey packet that is not a v4 RSA key, or that no valid binding covers, is dropped;
- a valid subkey revocation marks the subkey revoked, wherever it stands (`_selfsig`);
- a self-signature counts only when it was made within its signer's life: not before the
  primary was created, and a binding not before the subkey was created nor at or after the
  primary's expiry (`_selfsig.made_within`);
- copies of one user ID or one subkey (same fingerprint) are merged first, their signatures
  pooled, so a revocation on one copy cannot be dodged by an old copy next to it;
- self-signatures expire (signature expiration time): among the valid ones the newest that has
  not expired at load time is used, and its own expiry also ends the part's validity, so a
  binding that expires after the load stops the part at use time (`KeyPart.valid_at`).
Errors are `KeySetError` with a message that names the key and the problem, never key bytes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography.hazmat.primitives.asymmetric import rsa

from ..._policy import MAX_RSA_BITS, MIN_RSA_BITS
from ...errors import KeyRevoked, KeySetError
from . import wire as op
from ._build import build_public_key, build_secret_key, public_key_body, secret_key_body
from ._selfsig import (
    Primary,
    current,
    earliest,
    fingerprint,
    framed,
    key_expiry,
    made_within,
    primary_state,
    revocation_bodies,
    self_verify,
    sig_expiry,
    signatures,
    subkey_revocations,
)

__all__ = [
    "CLOCK_SKEW",
    "KeyPart",
    "ParsedKey",
    "build_public_key",
    "build_secret_key",
    "fingerprint",
    "parse_keys",
    "public_key_body",
    "secret_key_body",
    "split_keys",
]

#: Seconds a creation time may lie in the future of *now* before the object counts as not yet
#: valid. It is for clock differences between machines only, when a time is compared with
#: *now*: it never stretches a key's life (`KeyPart.alive_at`).
CLOCK_SKEW: Final = 600
MAX_KEYS: Final = 64
MAX_KEY_PACKETS: Final = 4096
_KEY_TAGS: Final = frozenset({op.TAG_PUBLIC_KEY, op.TAG_SECRET_KEY})
_SUBKEY_TAGS: Final = frozenset({op.TAG_PUBLIC_SUBKEY, op.TAG_SECRET_SUBKEY})


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

    def alive_at(self, when: int) -> bool:
        """``when`` lies in the part's life, [created, expires), with no clock skew: what a
        signature's creation time must satisfy for the signature to count."""
        return self.created <= when and (self.expires is None or when < self.expires)

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
    #: What the primary's self-signatures ask peers to send (`Signature.preferences`).
    preferences: tuple[tuple[int, bytes], ...] = ()

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

    @property
    def public(self) -> bytes:
        """The public key packet body."""
        return self.body[: self.public_len]


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


def _rsa_public(raw: _RawKey, what: str) -> rsa.RSAPublicKey:
    """The RSA key of a packet, refused when broken, below 2048 or above 8192 bits."""
    try:
        key = rsa.RSAPublicNumbers(raw.e, raw.n).public_key()
    except ValueError:
        raise KeySetError(f"{what}: invalid RSA public key") from None
    if key.key_size < MIN_RSA_BITS:
        raise KeySetError(f"{what} is RSA-{key.key_size}; at least RSA-{MIN_RSA_BITS} is required")
    if key.key_size > MAX_RSA_BITS:
        raise KeySetError(f"{what} is RSA-{key.key_size}; at most RSA-{MAX_RSA_BITS} is supported")
    return key


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

    def every_signature(self) -> list[bytes]:
        """Every signature packet of the key, wherever it stands, each distinct one once."""
        lists = [self.direct, *(s for _, _, s in self.uids), *(s for _, _, s in self.subkeys)]
        return list(dict.fromkeys(body for sigs in lists for body in sigs))


def split_keys(packets: Sequence[tuple[int, bytes]]) -> list[_Group]:
    """Group a packet sequence into transferable keys (RFC 4880 section 11.1 / 11.2)."""
    groups: list[_Group] = []
    current_sigs: list[bytes] | None = None
    for tag, body in packets:
        if tag in _KEY_TAGS:
            if len(groups) >= MAX_KEYS:
                raise KeySetError(f"more than {MAX_KEYS} keys in one input")
            groups.append(_Group(tag, body))
            current_sigs = groups[-1].direct
        elif not groups:
            raise KeySetError("OpenPGP key data must start with a key packet")
        elif tag in (op.TAG_USER_ID, op.TAG_USER_ATTRIBUTE):
            groups[-1].uids.append((tag, body, []))
            current_sigs = groups[-1].uids[-1][2]
        elif tag in _SUBKEY_TAGS:
            groups[-1].subkeys.append((tag, body, []))
            current_sigs = groups[-1].subkeys[-1][2]
        elif tag == op.TAG_SIGNATURE:
            assert current_sigs is not None
            current_sigs.append(body)
        elif tag in (op.TAG_TRUST, op.TAG_MARKER):
            continue  # keyring bookkeeping (gpg 1.x) and markers carry nothing for us
        else:
            raise KeySetError(f"unexpected OpenPGP packet (tag {tag}) in key data")
    return groups


def _leading_signatures(packets: Sequence[tuple[int, bytes]]) -> int:
    """How many signature packets stand before anything else."""
    count = 0
    while count < len(packets) and packets[count][0] == op.TAG_SIGNATURE:
        count += 1
    return count


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
        merged.setdefault(fingerprint(raw.public), (raw, []))[1].append(sigs)
    return [(raw, fpr, _pooled(copies)) for fpr, (raw, copies) in merged.items()]


# -- subkeys --------------------------------------------------------------------------------
def _subkey_part(
    raw: _RawKey,
    fpr: bytes,
    sig_bodies: Sequence[bytes],
    primary: KeyPart,
    signer: Primary,
    *,
    revoked: bool,
    now: int,
) -> KeyPart | None:
    """One subkey (all its copies merged) with every signature made on any copy; ``revoked``
    says whether a subkey revocation anywhere in the key verified for it."""
    sub_what = f"{signer.what}: subkey {fpr.hex().upper()}"
    sub_framed = framed(raw.public)
    # A binding counts only when made within the lives of both keys: not before either was
    # created, not at or after the primary expired.
    start = max(primary.created, raw.created)
    bindings = [
        s
        for s in signatures(sig_bodies)
        if s.sigtype == op.SIG_SUBKEY_BINDING
        and made_within(s, start, primary.expires)
        and signer.verifies(s, sub_framed)
    ]
    binding = current(bindings, now)
    if binding is None:
        return None  # no valid binding: a forged, copied, corrupted or junk subkey is not ours
    # Only a bound subkey becomes an RSA object: its numbers are the key owner's statement,
    # so broken ones refuse the key, like a weak size does.
    sub_key = _rsa_public(raw, sub_what)
    flags = binding.key_flags or 0
    signed = (signer.framed, sub_framed)
    if flags & op.FLAG_SIGN and not _back_signed(binding, sub_key, fpr, signed, now):
        # RFC 4880 5.2.1: a signing subkey must cross-certify the primary, or anybody could
        # claim somebody else's signing key as their own subkey.
        flags &= ~op.FLAG_SIGN
    return KeyPart(
        fingerprint=fpr,
        created=raw.created,
        # The binding's own expiry ends the binding: at use time the part is then expired.
        expires=earliest(key_expiry(raw.created, binding), sig_expiry(binding)),
        flags=flags,
        revoked=revoked,
        public_key=sub_key,
        body=raw.public,
        primary=False,
    )


def _back_signed(
    binding: op.Signature,
    sub_key: rsa.RSAPublicKey,
    sub_fpr: bytes,
    signed: Sequence[bytes],
    now: int,
) -> bool:
    return any(
        sig.sigtype == op.SIG_PRIMARY_BINDING
        and not sig.expired_at(now)
        and self_verify(sub_key, sub_fpr, sig, signed)
        for sig in signatures(binding.embedded)
    )


def _placed_subkey_revocations(
    group: _Group, subkeys: Sequence[tuple[_RawKey, bytes, list[bytes]]], loose: Sequence[bytes]
) -> list[tuple[bytes | None, bytes]]:
    """Every subkey revocation of the key and of ``loose``, with the fingerprint of the
    subkey it stands after (None when it stands elsewhere)."""
    placed: dict[bytes, bytes | None] = {}
    for _raw, fpr, sigs in subkeys:
        for body in revocation_bodies(sigs, op.SIG_SUBKEY_REVOCATION):
            placed.setdefault(body, fpr)
    for body in revocation_bodies((*group.every_signature(), *loose), op.SIG_SUBKEY_REVOCATION):
        placed.setdefault(body, None)
    return [(home, body) for body, home in placed.items()]


# -- whole keys -----------------------------------------------------------------------------
def parse_keys(data: bytes | Sequence[bytes], *, now: int | None = None) -> list[ParsedKey]:
    """Parse binary OpenPGP key data (one or several transferable keys, in one or several
    pieces) under the policy.

    A piece, or the start of one, that holds only signatures is a revocation certificate:
    each of its signatures must be a key or subkey revocation that verifies for a key in the
    same input, and is applied to that key as if it stood in it.

    ``now`` (default: the current time) is when self-signature expiry is judged, see the
    module docstring.

    Raises:
        KeySetError: see the module docstring; also a lone signature that revokes no key of
            the input.
    """
    pieces = [bytes(data)] if isinstance(data, (bytes, bytearray, memoryview)) else data
    groups: list[_Group] = []
    loose: list[bytes] = []
    for piece in pieces:
        try:
            packets = op.read_packets(piece, max_packets=MAX_KEY_PACKETS)
        except op.Malformed:
            raise KeySetError("the OpenPGP key data is malformed") from None
        # Signatures before the first key: a revocation certificate on its own.
        lead = _leading_signatures(packets)
        loose.extend(body for _, body in packets[:lead])
        groups.extend(split_keys(packets[lead:]))
    if len(loose) > MAX_KEYS:
        raise KeySetError(f"more than {MAX_KEYS} signatures given apart from any key")
    when = int(time.time()) if now is None else now
    lone = list(dict.fromkeys(loose))
    parsed: list[ParsedKey] = []
    used: set[bytes] = set()
    for group in groups:
        key, applied = _parse_group(group, when, lone)
        parsed.append(key)
        used |= applied
    if any(body not in used for body in lone):
        raise KeySetError(
            "a signature given apart from any key (a revocation certificate) revokes no key"
            " or subkey of the key data it came with"
        )
    return parsed


def _parse_group(group: _Group, now: int, loose: Sequence[bytes]) -> tuple[ParsedKey, set[bytes]]:
    """One key under the policy, and which of the ``loose`` signatures applied to it."""
    raw, signer = _primary_signer(group)
    if signer.revoked_by(
        revocation_bodies((*group.every_signature(), *loose), op.SIG_KEY_REVOCATION)
    ):
        raise KeyRevoked(f"{signer.what} is revoked", kids=(signer.fpr.hex().upper(),))
    uids = _merged_uids(group)
    flags, expires, user_ids, preferences = primary_state(signer, group.direct, uids, now)
    primary = KeyPart(
        fingerprint=signer.fpr,
        created=raw.created,
        expires=expires,
        flags=flags,
        revoked=False,
        public_key=signer.key,
        body=raw.public,
        primary=True,
    )
    merged = _merged_subkeys(group)
    revocations = subkey_revocations(
        signer,
        [(sub_fpr, sub.public) for sub, sub_fpr, _ in merged],
        _placed_subkey_revocations(group, merged, loose),
    )
    # Each revocation is written back after the subkey it revokes, wherever it stood.
    moved = {body for bodies in revocations.values() for body in bodies}
    out = [_packets(op.TAG_PUBLIC_KEY, raw.public, dict.fromkeys(group.direct), moved)]
    out.extend(_packets(tag, body, sigs, moved) for tag, body, sigs in uids)
    subkeys: list[KeyPart] = []
    for sub_raw, sub_fpr, sigs in merged:
        part = _subkey_part(
            sub_raw, sub_fpr, sigs, primary, signer, revoked=sub_fpr in revocations, now=now
        )
        if part is not None:
            subkeys.append(part)
            mine = revocations.get(sub_fpr, [])
            out.append(_packets(op.TAG_PUBLIC_SUBKEY, part.body, sigs + mine, moved - set(mine)))
    if not any(p.can_sign() or p.can_encrypt() for p in (primary, *subkeys)):
        raise KeySetError(f"{signer.what} has no key or subkey that may sign or encrypt")
    secret = _secret_blob(group) if group.tag == op.TAG_SECRET_KEY else None
    parsed = ParsedKey(primary, tuple(subkeys), user_ids, b"".join(out), secret, preferences)
    return parsed, moved.intersection(loose)


#: Public-key algorithm names (RFC 9580 section 9.1) for refusals of keys that are not RSA.
_ALGORITHM_NAMES = {
    16: "Elgamal", 17: "DSA", 18: "ECDH", 19: "ECDSA", 22: "EdDSA (legacy)", 25: "X25519",
    26: "X448", 27: "Ed25519", 28: "Ed448",
}  # fmt: skip


def _primary_signer(group: _Group) -> tuple[_RawKey, Primary]:
    """The primary key packet, refused unless it is a v4 RSA key of an allowed size."""
    raw = _read_public(group.body, "an OpenPGP key")
    if raw is None:
        # Named by its first user ID: its fingerprint would need the algorithm's own layout.
        uids = [body for tag, body, _ in group.uids if tag == op.TAG_USER_ID]
        uid = uids[0].decode("utf-8", "replace")[:80] if uids else None
        which = "an OpenPGP key" if uid is None else f"the OpenPGP key of {uid!r}"
        algorithm = group.body[5]
        name = _ALGORITHM_NAMES.get(algorithm, f"algorithm {algorithm}")
        raise KeySetError(
            f"{which} is {name}: only RSA OpenPGP keys are supported (Google's rules require "
            "RSA >= 2048)"
        )
    fpr = fingerprint(raw.public)
    what = f"key {fpr.hex().upper()}"
    return raw, Primary(_rsa_public(raw, what), fpr, framed(raw.public), raw.created, what)


def _packets(tag: int, body: bytes, sigs: Iterable[bytes], leave_out: set[bytes]) -> bytes:
    """A key, subkey or user ID packet and its signatures, without ``leave_out``."""
    kept = dict.fromkeys(s for s in sigs if s not in leave_out)
    return op.packet(tag, body) + b"".join(op.packet(op.TAG_SIGNATURE, s) for s in kept)


def _secret_blob(group: _Group) -> bytes:
    """The transferable secret key as given, re-framed."""
    secret_packets = [op.packet(group.tag, group.body)]
    secret_packets.extend(op.packet(op.TAG_SIGNATURE, s) for s in group.direct)
    for tag, body, sigs in (*group.uids, *group.subkeys):
        secret_packets.append(op.packet(tag, body))
        secret_packets.extend(op.packet(op.TAG_SIGNATURE, s) for s in sigs)
    return b"".join(secret_packets)
