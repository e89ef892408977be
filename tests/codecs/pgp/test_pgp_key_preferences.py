"""Preference, feature and notation values we do not know never make a key unreadable
(RFC 4880 5.2.3.7, RFC 9580 5.2.3.9: unknown values are ignored), for secret keys too, whose
material pgpy reads; nor does a subkey of an algorithm we do not use (pgpy 0.6 does not know
RFC 9580's X25519, X448, Ed25519, Ed448), which is left out."""

from __future__ import annotations

import pytest
from pgp_fixtures import Spec, Sub, build_key

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import wire as op

SUB_NOTATION = 20
SUB_KEY_SERVER_PREFS = 23
SUB_PREFERRED_AEAD = 39

UNKNOWN = {
    # OpenPGP.js 6 lists SHA3-512 (14) and SHA3-256 (12); 110 is a private-use id.
    "hash": op.subpacket(op.SUB_PREFERRED_HASH, bytes((10, 8, 14, 12, 110))),
    "symmetric": op.subpacket(op.SUB_PREFERRED_SYMMETRIC, bytes((9, 7, 13, 253))),
    "compression": op.subpacket(op.SUB_PREFERRED_COMPRESSION, bytes((0, 2, 1, 3, 110))),
    "features": op.subpacket(op.SUB_FEATURES, b"\xff\xff"),
    "aead": op.subpacket(SUB_PREFERRED_AEAD, bytes((9, 3, 9, 2, 7, 99, 250, 1))),
    "key server": op.subpacket(SUB_KEY_SERVER_PREFS, b"\x80\x00\x00"),
    # A human-readable notation (flags 0x80000000), name and value lengths, name, value.
    "notation": op.subpacket(
        SUB_NOTATION, b"\x80\0\0\0" + b"\x00\x0e\x00\x03" + b"ab@example.org" + b"abc"
    ),
}


@pytest.mark.parametrize("what", [*UNKNOWN, "all"])
@pytest.mark.parametrize("secret", [True, False], ids=["secret", "public"])
def test_unknown_values_are_ignored(what, secret) -> None:
    extra = b"".join(UNKNOWN.values()) if what == "all" else UNKNOWN[what]
    data = build_key(Spec(slot=40, extra=extra), secret=secret)
    keys = ge.KeySet.from_pgp([data])
    [key] = list(keys)
    assert key.has_secret is secret
    if secret:
        # The key works: a message sealed to its public half opens with it.
        env = ge.seal(b"hi", recipients=keys.public(), signer=keys, codec="pgp")
        assert ge.open(env, identities=keys, senders=keys.public()) == b"hi"


#: RFC 9580's X25519, X448, Ed25519 and Ed448, and a private/experimental id (100).
FOREIGN_ALGORITHMS = (25, 26, 27, 28, 100)


@pytest.mark.parametrize("algorithm", FOREIGN_ALGORITHMS)
@pytest.mark.parametrize("secret", [True, False], ids=["secret", "public"])
def test_a_subkey_of_another_algorithm_is_left_out(algorithm, secret) -> None:
    foreign = Sub(slot=43, algorithm=algorithm)
    data = build_key(Spec(slot=42, subkeys=(foreign, Sub(slot=44))), secret=secret)
    [key] = list(ge.KeySet.from_pgp([data]))
    assert key.has_secret is secret
    parts = key.material.parts  # type: ignore[attr-defined]
    assert [p.primary for p in parts] == [True, False] and parts[1].size == 2048
    if secret:
        keys = ge.KeySet([key], primary=key.kid)
        env = ge.seal(b"hi", recipients=keys.public(), signer=keys, codec="pgp")
        assert ge.open(env, identities=keys, senders=keys.public()) == b"hi"


@pytest.mark.parametrize("version", [3, 5, 6])
def test_a_secret_subkey_packet_of_another_version_is_left_out(version) -> None:
    data = build_key(Spec(slot=42, subkeys=(Sub(slot=44),)), secret=True)
    other = op.packet(op.TAG_SECRET_SUBKEY, bytes((version,)) + bytes(range(40)))
    [key] = list(ge.KeySet.from_pgp([data + other]))
    assert key.has_secret and len(key.material.parts) == 2  # type: ignore[attr-defined]
