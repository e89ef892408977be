"""Key data as it is found: old copies of a subkey or user ID beside the revoked one, two copies
of one key, unbound or unreadable subkey packets, and data that is no key at all."""

from __future__ import annotations

import struct

import pytest
from pgp_fixtures import (
    DAY,
    Party,
    Spec,
    build_key,
    keyset,
)
from pgp_messages import (
    NOW,
    T0,
    framed,
    open_inner,
    rsa2048,
    sig_body,
    signed_by,
    signing_subkey_key,
)

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp._keys import fingerprint, public_key_body


def test_a_revoked_subkey_stays_revoked_when_an_old_copy_is_present(pgp_keys: Party) -> None:
    revoked = signing_subkey_key(revoked=True)
    old = op.read_packets(signing_subkey_key(revoked=False), max_packets=20)
    # Key data as published after the revocation, with the old copy of the subkey (packet and
    # binding) still in the file, e.g. from merging an old export by concatenation.
    merged = revoked + b"".join(op.packet(t, b) for t, b in old[-2:])
    (key,) = keys_from_pgp(merged)
    fpr = fingerprint(public_key_body(rsa2048(24).public_key(), T0))
    parts = key.material.parts  # type: ignore[attr-defined]
    assert all(p.revoked for p in parts if p.fingerprint == fpr)
    with pytest.raises(ge.InvalidSignature):
        open_inner(pgp_keys, signed_by(rsa2048(24), fpr), keyset(key))


def test_a_revoked_user_id_stays_revoked_when_an_old_copy_is_present() -> None:
    created = NOW - 10 * DAY
    pk = rsa2048(2)
    pub = public_key_body(pk.public_key(), created)
    fpr = fingerprint(pub)
    gone, kept = b"Gone <gone@example.com>", b"Kept <kept@example.com>"

    def uid_sig(uid: bytes, sigtype: int, when: int) -> bytes:
        prefix = b"\xb4" + struct.pack(">I", len(uid)) + uid
        flags = (
            op.subpacket(op.SUB_KEY_FLAGS, b"\x03") if sigtype != op.SIG_CERT_REVOCATION else b""
        )
        return op.packet(
            op.TAG_SIGNATURE, sig_body(pk, fpr, sigtype, when, (framed(pub), prefix), flags)
        )

    old_copy = op.packet(op.TAG_USER_ID, gone) + uid_sig(gone, op.SIG_CERT_POSITIVE, created)
    blob = b"".join(
        (
            op.packet(op.TAG_PUBLIC_KEY, pub),
            old_copy,
            uid_sig(gone, op.SIG_CERT_REVOCATION, created + 60),
            op.packet(op.TAG_USER_ID, kept),
            uid_sig(kept, op.SIG_CERT_POSITIVE, created),
            old_copy,
        )
    )
    (key,) = keys_from_pgp(blob)
    assert key.material.user_ids == ("Kept <kept@example.com>",)  # type: ignore[attr-defined]
    # The export holds each user ID once, with every signature once.
    exported = op.read_packets(key.material.export(include_private=False), max_packets=20)  # type: ignore[attr-defined]
    assert [t for t, _ in exported].count(op.TAG_USER_ID) == 2
    assert len(exported) == 1 + 3 + 2


def test_two_copies_of_one_key_in_the_input_are_refused() -> None:
    blob = build_key(Spec(slot=2), secret=False)
    with pytest.raises(ge.KeySetError, match="more than once"):
        keys_from_pgp(blob + blob)
    with pytest.raises(ge.KeySetError, match="more than once"):
        keys_from_pgp([blob, build_key(Spec(slot=2))])


def test_unbound_junk_subkey_is_dropped_not_fatal() -> None:
    n = rsa2048(3).public_key().public_numbers().n
    junk = op.packet(
        op.TAG_PUBLIC_SUBKEY,
        b"\x04" + NOW.to_bytes(4, "big") + b"\x01" + op.mpi(n) + op.mpi(1),  # e = 1, no binding
    )
    (key,) = keys_from_pgp(build_key(Spec(slot=2), secret=False) + junk)
    assert len(key.material.parts) == 2  # type: ignore[attr-defined]


def test_unreadable_subkey_packets_are_dropped_but_a_bound_broken_subkey_refuses() -> None:
    base = build_key(Spec(slot=2), secret=False)
    for junk in (
        b"\x05" + NOW.to_bytes(4, "big") + b"\x01" + b"\0" * 40,  # v5
        b"\x04" + NOW.to_bytes(4, "big") + b"\x01\x08\x00",  # truncated MPI
        b"\x04" + NOW.to_bytes(4, "big") + b"\x16" + b"\0" * 40,  # EdDSA: never read
    ):
        (key,) = keys_from_pgp(base + op.packet(op.TAG_PUBLIC_SUBKEY, junk))
        assert len(key.material.parts) == 2  # type: ignore[attr-defined]
    # A subkey the primary did bind is the owner's statement: broken numbers refuse the key.
    created = NOW - DAY
    pk = rsa2048(2)
    pub = public_key_body(pk.public_key(), created)
    fpr = fingerprint(pub)
    bad = (
        b"\x04"
        + created.to_bytes(4, "big")
        + b"\x01"
        + op.mpi(rsa2048(3).public_key().public_numbers().n)
        + op.mpi(1)
    )
    uid = b"U <u@example.com>"
    cert = sig_body(
        pk,
        fpr,
        op.SIG_CERT_POSITIVE,
        created,
        (framed(pub), b"\xb4" + struct.pack(">I", len(uid)) + uid),
    )
    binding = sig_body(
        pk,
        fpr,
        op.SIG_SUBKEY_BINDING,
        created,
        (framed(pub), framed(bad)),
        op.subpacket(op.SUB_KEY_FLAGS, bytes((op.FLAG_ENCRYPT,))),
    )
    blob = b"".join(
        (
            op.packet(op.TAG_PUBLIC_KEY, pub),
            op.packet(op.TAG_USER_ID, uid),
            op.packet(op.TAG_SIGNATURE, cert),
            op.packet(op.TAG_PUBLIC_SUBKEY, bad),
            op.packet(op.TAG_SIGNATURE, binding),
        )
    )
    with pytest.raises(ge.KeySetError, match="invalid RSA public key"):
        keys_from_pgp(blob)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"\xc6\x01",
        b"-----BEGIN PGP MESSAGE-----\n\nAAAA\n-----END PGP MESSAGE-----\n",
        b"\xcd\x03abc",
    ],
)
def test_malformed_key_data(data: bytes) -> None:
    with pytest.raises(ge.KeySetError):
        keys_from_pgp(data)
