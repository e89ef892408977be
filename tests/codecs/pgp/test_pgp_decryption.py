"""Which identity decrypts a PGP envelope, at what cost: PKESKs are routed by key ID with one
private-key operation, wildcard key IDs get a bounded trial, disabled identities none; every
PKESK or session-key failure ends the same way after the same work."""

from __future__ import annotations

import os
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pgp_fixtures import (
    Party,
    packets_of,
    repack,
)
from pgp_messages import (
    MSG,
    open_,
    seal,
    signed_by,
    unix_now,
)

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import _codec as pgp
from gpay_envelope.codecs.pgp import wire as op


@pytest.fixture
def private_ops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the RSA private-key operations spent on PKESKs."""
    calls: list[int] = []
    real = pgp._rsa_decrypt

    def counting(key: object, value: bytes) -> bytes | None:
        calls.append(1)
        return real(key, value)  # type: ignore[arg-type]

    monkeypatch.setattr(pgp, "_rsa_decrypt", counting)
    return calls


def test_routes_by_key_id_with_one_private_operation(
    pgp_keys: Party, private_ops: list[int]
) -> None:
    env = seal(pgp_keys, ("g1", "g2", "g3"), ("p1",))
    ids = pgp_keys.secret("g1", "g2", "g3").with_primary(pgp_keys.kid("g3"))
    result = ge.open_detailed(env, identities=ids, senders=pgp_keys.public("p1"))
    assert result.decrypted_with == pgp_keys.kid("g3")
    assert len(private_ops) == 1


def test_unknown_recipients_cost_no_private_operation(
    pgp_keys: Party, private_ops: list[int]
) -> None:
    env = seal(pgp_keys, ("g2", "g3"), ("p1",))
    with pytest.raises(ge.InvalidEnvelope):
        open_(pgp_keys, env, ("g1", "p1", "p2"), ("p1",))
    assert private_ops == []


def test_a_disabled_identity_does_not_decrypt(pgp_keys: Party, private_ops: list[int]) -> None:
    env = seal(pgp_keys, ("g2",), ("p1",))
    ids = pgp_keys.secret("g1", "g2").with_status(pgp_keys.kid("g2"), ge.KeyStatus.DISABLED)
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=ids, senders=pgp_keys.public("p1"))
    assert private_ops == []
    assert (
        ge.open(
            env,
            identities=ids.with_status(pgp_keys.kid("g2"), ge.KeyStatus.ENABLED),
            senders=pgp_keys.public("p1"),
        )
        == MSG
    )


def _wildcard(env: bytes) -> bytes:
    return repack(
        (t, b[:1] + b"\0" * 8 + b[9:] if t == op.TAG_PKESK else b) for t, b in packets_of(env)
    )


def test_wildcard_key_ids_get_a_bounded_trial(pgp_keys: Party, private_ops: list[int]) -> None:
    env = _wildcard(seal(pgp_keys, ("g2",), ("p1",)))
    ids = pgp_keys.secret("g1", "g3", "p1", "g2")
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=ids, senders=pgp_keys.public("p1"))
    assert len(private_ops) == ge.DEFAULT_LIMITS.max_trials
    private_ops.clear()
    limits = ge.Limits(max_trials=4)
    assert ge.open(env, identities=ids, senders=pgp_keys.public("p1"), limits=limits) == MSG
    assert len(private_ops) == 4


def test_wrong_session_key_checksum_looks_like_a_wrong_key(pgp_keys: Party) -> None:
    """RFC 3218: a PKESK whose payload is malformed ends in the same error, after the same
    work (a random key, the full SEIPD decryption)."""
    g1 = pgp_keys.keys["g1"]
    key = b"k" * 32
    for payload in (
        op.session_key_payload(op.SYM_AES256, key)[:-1] + b"\x00",  # bad checksum
        b"\x03" + key[:16] + op.session_key_payload(0, key[:16])[-2:],  # CAST5
        b"",
    ):
        part = g1.material.encryption_parts(int(time.time()))[0]  # type: ignore[attr-defined]
        ct = int.from_bytes(part.public_key.encrypt(payload or b"\x00", pgp._PKCS1), "big")
        pkesk = op.packet(op.TAG_PKESK, b"\x03" + part.keyid + b"\x01" + op.mpi(ct))
        env = pkesk + op.encrypt_seipd(key, op.literal_packet(MSG, when=0))
        with pytest.raises(ge.InvalidEnvelope):
            open_(pgp_keys, env, ("g1",), ("p1",), allow_unsigned=True)


def test_pkesk_failures_end_alike_with_one_private_operation(
    pgp_keys: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bad padding (wrong key), bad checksum, non-AES algorithm octet, short payload and a
    valid session key whose SEIPD fails the MDC: one private-key operation each, the same
    error (timing medians measured within ~2 us of each other at ~300 us)."""
    calls: list[int] = []
    real = pgp._rsa_decrypt

    def counting(k: rsa.RSAPrivateKey, v: bytes) -> bytes | None:
        calls.append(1)
        return real(k, v)

    monkeypatch.setattr(pgp, "_rsa_decrypt", counting)
    g1, p1 = pgp_keys.keys["g1"], pgp_keys.keys["p1"]
    part = g1.material.encryption_parts(unix_now())[0]  # type: ignore[attr-defined]
    other = p1.material.encryption_parts(unix_now())[0]  # type: ignore[attr-defined]
    key = os.urandom(32)
    good = op.session_key_payload(op.SYM_AES256, key)
    seipd = op.encrypt_seipd(key, op.literal_packet(MSG, when=0))

    def pkesk(public: rsa.RSAPublicKey, payload: bytes) -> bytes:
        ct = int.from_bytes(public.encrypt(payload, pgp._PKCS1), "big")
        return op.packet(op.TAG_PKESK, b"\x03" + part.keyid + b"\x01" + op.mpi(ct))

    cases = [
        pkesk(other.public_key, good) + seipd,
        pkesk(part.public_key, good[:-1] + bytes((good[-1] ^ 1,))) + seipd,
        pkesk(part.public_key, b"\x03" + good[1:]) + seipd,
        pkesk(part.public_key, b"\x09") + seipd,
        pkesk(part.public_key, good) + op.encrypt_seipd(os.urandom(32), b"x"),
    ]
    for env in cases:
        calls.clear()
        with pytest.raises(ge.InvalidEnvelope) as info:
            ge.open(env, identities=pgp_keys.secret("g1"), senders=None, allow_unsigned=True)
        assert len(calls) == 1
        assert info.value.__context__ is None and info.value.__cause__ is None


def test_quick_check_octets_are_not_an_early_exit(pgp_keys: Party) -> None:
    import hashlib

    from cryptography.hazmat.decrepit.ciphers.modes import CFB
    from cryptography.hazmat.primitives.ciphers import Cipher
    from cryptography.hazmat.primitives.ciphers.algorithms import AES

    key = os.urandom(32)
    p1 = pgp_keys.keys["p1"]
    part, private = p1.material.signing_part(unix_now())  # type: ignore[attr-defined]
    inner = signed_by(private, part.fingerprint)
    prefix = os.urandom(16)
    prefix += bytes((prefix[-2] ^ 0xFF, prefix[-1]))  # wrong quick check
    mdc = hashlib.sha1(prefix + inner + b"\xd3\x14").digest()
    enc = Cipher(AES(key), CFB(b"\0" * 16)).encryptor()
    seipd = b"\x01" + enc.update(prefix + inner + b"\xd3\x14" + mdc) + enc.finalize()
    env = b"".join(
        op.pkesk_packet(p.keyid, p.public_key, op.session_key_payload(op.SYM_AES256, key))
        for p in pgp_keys.keys["g1"].material.encryption_parts(unix_now())  # type: ignore[attr-defined]
    ) + op.packet(op.TAG_SEIPD, seipd)
    assert ge.open(env, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p1")) == MSG
