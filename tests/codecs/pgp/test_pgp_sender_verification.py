"""Which signatures count (any one of N trusted ones is enough): not by unknown, disabled,
expired, revoked or unusable sender parts, not with weak hashes, unknown critical subpackets
or an intended recipient other than us; text signatures cover line-ending variants only; the
verification work is bounded."""

from __future__ import annotations

import struct
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pgp_fixtures import (
    Party,
    Spec,
    Sub,
    encrypt_raw,
    keyset,
    load,
)
from pgp_messages import (
    MSG,
    T0,
    old_pair,
    open_,
    open_inner,
    rsa2048,
    seal,
    sig_body,
    signed_by,
    signed_inner,
    signing_subkey_key,
    unix_now,
)

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import _codec as pgp
from gpay_envelope.codecs.pgp import keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp._keys import fingerprint, public_key_body


def test_one_trusted_signature_among_unknown_ones_is_enough(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), ("u1", "p1"))
    assert open_(pgp_keys, env, ("g1",), ("p1", "p2")).verified_by == (pgp_keys.kid("p1"),)


def test_only_unknown_signers_is_invalid_signature(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), ("u1",))
    with pytest.raises(ge.InvalidSignature):
        open_(pgp_keys, env, ("g1",), ("p1", "p2"))


def test_a_disabled_sender_does_not_count(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), ("p2",))
    senders = pgp_keys.public("p1", "p2").with_status(pgp_keys.kid("p2"), ge.KeyStatus.DISABLED)
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=pgp_keys.secret("g1"), senders=senders)


def test_an_expired_sender_does_not_count() -> None:
    signer, recipient, then = old_pair()
    env = ge.seal(MSG, recipients=keyset(recipient.public()), signer=keyset(signer), now=then)
    senders = keyset(signer.public())
    assert ge.open(env, identities=keyset(recipient), senders=senders, now=then) == MSG
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=keyset(recipient), senders=senders)


def test_a_signature_from_the_future_does_not_count(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), ("p1",), now=datetime.now(timezone.utc) + timedelta(hours=1))
    with pytest.raises(ge.InvalidSignature):
        open_(pgp_keys, env, ("g1",), ("p1",))


def test_a_tampered_signature_is_skipped_not_fatal(pgp_keys: Party) -> None:
    """Inner packets rebuilt by an attacker who can encrypt to us: the bad signature is
    ignored, the good one counts; with only the bad one, InvalidSignature."""
    p1, p2 = (pgp_keys.keys[n] for n in ("p1", "p2"))
    inner = signed_inner([p1, p2], MSG)
    packets = op.read_packets(inner, max_packets=10)
    tag, body = packets[3]  # p1's signature: flip a bit of its value
    packets[3] = (tag, body[:-1] + bytes((body[-1] ^ 1,)))
    forged = b"".join(op.packet(t, b) for t, b in packets)
    env = encrypt_raw(forged, [pgp_keys.keys["g1"]])
    assert open_(pgp_keys, env, ("g1",), ("p1", "p2")).verified_by == (p2.kid,)
    with pytest.raises(ge.InvalidSignature):
        open_(pgp_keys, env, ("g1",), ("p1",))


@pytest.mark.parametrize("hashalg", [op.HASH_SHA1, op.HASH_SHA224])
def test_weak_or_unlisted_signature_hashes_do_not_count(pgp_keys: Party, hashalg: int) -> None:
    env = encrypt_raw(
        signed_inner([pgp_keys.keys["p1"]], MSG, hashalg=hashalg), [pgp_keys.keys["g1"]]
    )
    with pytest.raises(ge.InvalidSignature):
        open_(pgp_keys, env, ("g1",), ("p1",))


def test_an_expired_signature_does_not_count(pgp_keys: Party) -> None:
    signer = load(Spec(slot=11, created=T0, subkeys=(Sub(slot=12),)))
    ids, senders = pgp_keys.secret("g1"), keyset(signer.public())
    created = int(time.time()) - 3600
    for lifetime, ok in ((60, False), (7200, True), (0, True)):  # 0: never expires
        expiry = op.subpacket(op.SUB_SIG_EXPIRES, lifetime.to_bytes(4, "big"))
        inner = signed_inner([signer], MSG, extra=expiry, created=created)
        env = encrypt_raw(inner, [pgp_keys.keys["g1"]])
        if ok:
            assert ge.open_detailed(env, identities=ids, senders=senders).verified_by == (
                signer.kid,
            )
        else:
            with pytest.raises(ge.InvalidSignature):
                ge.open(env, identities=ids, senders=senders)


def test_unknown_critical_subpacket_voids_the_signature(pgp_keys: Party) -> None:
    critical = op.subpacket(20, b"\x80\0\0\0\0\x01\0\x01xy", critical=True)  # notation
    env = encrypt_raw(
        signed_inner([pgp_keys.keys["p1"]], MSG, extra=critical), [pgp_keys.keys["g1"]]
    )
    with pytest.raises(ge.InvalidSignature):
        open_(pgp_keys, env, ("g1",), ("p1",))
    harmless = op.subpacket(20, b"\x80\0\0\0\0\x01\0\x01xy")
    env = encrypt_raw(
        signed_inner([pgp_keys.keys["p1"]], MSG, extra=harmless), [pgp_keys.keys["g1"]]
    )
    assert open_(pgp_keys, env, ("g1",), ("p1",)).plaintext == MSG


def test_text_signatures_are_canonicalised(pgp_keys: Party) -> None:
    text = b"line one\nline two\n"
    inner = signed_inner([pgp_keys.keys["p1"]], text.replace(b"\n", b"\r\n"), sigtype=op.SIG_TEXT)
    packets = op.read_packets(inner, max_packets=5)
    packets[1] = (op.TAG_LITERAL, b"t\x00" + b"\0\0\0\0" + text)
    env = encrypt_raw(b"".join(op.packet(t, b) for t, b in packets), [pgp_keys.keys["g1"]])
    assert open_(pgp_keys, env, ("g1",), ("p1",)).plaintext == text


def test_a_critical_intended_recipient_naming_someone_else_voids_the_signature(
    pgp_keys: Party,
) -> None:
    p1 = pgp_keys.keys["p1"]
    part, private = p1.material.signing_part(unix_now())  # type: ignore[attr-defined]
    other = bytes.fromhex(pgp_keys.kid("g2"))
    scoped = op.subpacket(35, b"\x04" + other, critical=True)
    with pytest.raises(ge.InvalidSignature):
        open_inner(
            pgp_keys, signed_by(private, part.fingerprint, extra=scoped), pgp_keys.public("p1")
        )


def test_intended_recipient_fingerprints_are_checked_critical_or_not(pgp_keys: Party) -> None:
    p1 = pgp_keys.keys["p1"]
    part, private = p1.material.signing_part(unix_now())  # type: ignore[attr-defined]
    g1 = pgp_keys.keys["g1"]
    ours = bytes.fromhex(g1.kid)
    our_sub = g1.material.encryption_parts(unix_now())[0].fingerprint  # type: ignore[attr-defined]
    other = bytes.fromhex(pgp_keys.kid("g2"))

    def irf(*fprs: bytes, critical: bool = False) -> bytes:
        return b"".join(op.subpacket(35, b"\x04" + f, critical=critical) for f in fprs)

    for extra in (
        irf(ours),
        irf(ours, critical=True),
        irf(other, ours),
        irf(our_sub),  # the decrypting subkey names the same key
    ):
        result = open_inner(
            pgp_keys, signed_by(private, part.fingerprint, extra=extra), pgp_keys.public("p1")
        )
        assert result.verified_by == (p1.kid,)
    for extra in (
        irf(other),  # non-critical, names somebody else: forwarded, not for us
        op.subpacket(35, b"\x05" + ours + b"\0" * 12),  # not a v4 value
        op.subpacket(35, b"\x04" + ours[:10]),  # truncated
    ):
        with pytest.raises(ge.InvalidSignature):
            open_inner(
                pgp_keys, signed_by(private, part.fingerprint, extra=extra), pgp_keys.public("p1")
            )
    # In the unhashed area it is not signed, so not applied.
    body = sig_body(private, part.fingerprint, op.SIG_BINARY, unix_now(), (MSG,))
    hlen = int.from_bytes(body[4:6], "big")
    unhashed = irf(other)
    body = (
        body[: 6 + hlen]
        + struct.pack(">H", len(unhashed))
        + unhashed
        + body[6 + hlen + 2 + int.from_bytes(body[6 + hlen : 8 + hlen], "big") :]
    )
    inner = (
        op.ops_packet(hashalg=op.HASH_SHA384, keyid=part.keyid, last=True)
        + op.literal_packet(MSG, when=unix_now())
        + op.packet(op.TAG_SIGNATURE, body)
    )
    assert open_inner(pgp_keys, inner, pgp_keys.public("p1")).verified_by == (p1.kid,)


def test_a_revoked_signing_subkey_does_not_count(pgp_keys: Party) -> None:
    (key,) = keys_from_pgp(signing_subkey_key(revoked=True))
    fpr = fingerprint(public_key_body(rsa2048(24).public_key(), T0))
    with pytest.raises(ge.InvalidSignature):
        open_inner(pgp_keys, signed_by(rsa2048(24), fpr), keyset(key))
    (good,) = keys_from_pgp(signing_subkey_key(revoked=False))
    assert open_inner(pgp_keys, signed_by(rsa2048(24), fpr), keyset(good)).verified_by == (
        good.kid,
    )


def test_signatures_by_unusable_parts_of_a_sender_do_not_count(pgp_keys: Party) -> None:
    # An encryption-only subkey's private half signs: not a signing key.
    sender = load(Spec(slot=21, created=T0, subkeys=(Sub(slot=22),)), secret=False)
    enc = sender.material.parts[1]  # type: ignore[attr-defined]
    with pytest.raises(ge.InvalidSignature):
        open_inner(pgp_keys, signed_by(rsa2048(22), enc.fingerprint), keyset(sender))
    primary = sender.material.parts[0]  # type: ignore[attr-defined]
    assert open_inner(
        pgp_keys, signed_by(rsa2048(21), primary.fingerprint), keyset(sender)
    ).verified_by
    # A primary without the sign flag (certify only) does not sign messages.
    certify_only = load(
        Spec(slot=23, created=T0, flags=op.FLAG_CERTIFY, subkeys=(Sub(slot=22),)), secret=False
    )
    fpr = certify_only.material.parts[0].fingerprint  # type: ignore[attr-defined]
    with pytest.raises(ge.InvalidSignature):
        open_inner(pgp_keys, signed_by(rsa2048(23), fpr), keyset(certify_only))
    # Signing subkeys that are expired, forged (foreign or corrupt binding) or lack a back-sig.
    fpr24 = fingerprint(public_key_body(rsa2048(24).public_key(), T0))
    for sub in (
        Sub(slot=24, flags=op.FLAG_SIGN, expires_after=3600),
        Sub(slot=24, flags=op.FLAG_SIGN, forge="foreign"),
        Sub(slot=24, flags=op.FLAG_SIGN, forge="corrupt"),
        Sub(slot=24, flags=op.FLAG_SIGN, backsig=False),
    ):
        k = load(
            Spec(slot=23, created=T0, flags=op.FLAG_CERTIFY, subkeys=(Sub(slot=22), sub)),
            secret=False,
        )
        with pytest.raises(ge.InvalidSignature):
            open_inner(pgp_keys, signed_by(rsa2048(24), fpr24), keyset(k))


def test_verification_work_is_bounded(pgp_keys: Party, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 signatures naming no issuer, 4 senders: at most max_trials verifications each."""
    calls: list[int] = []
    real = op.rsa_verify

    def counting(*args: Any) -> bool:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(op, "rsa_verify", counting)
    hashed = op.subpacket(op.SUB_CREATED, unix_now().to_bytes(4, "big"))
    sigs = b"".join(
        op.packet(
            op.TAG_SIGNATURE,
            bytes((4, 0, 1, op.HASH_SHA384))
            + struct.pack(">H", len(hashed))
            + hashed
            + b"\0\0\0\0"
            + op.mpi(1000 + i),
        )
        for i in range(pgp.MAX_SIGNATURES)
    )
    ops_ = op.ops_packet(hashalg=op.HASH_SHA384, keyid=b"\0" * 8, last=True)
    inner = ops_ * pgp.MAX_SIGNATURES + op.literal_packet(MSG, when=0) + sigs
    with pytest.raises(ge.InvalidSignature):
        open_inner(pgp_keys, inner, pgp_keys.public("p1", "p2", "g2", "g3"))
    assert len(calls) <= pgp.MAX_SIGNATURES * ge.DEFAULT_LIMITS.max_trials


def test_text_signatures_accept_only_line_ending_variants(pgp_keys: Party) -> None:
    """A text signature (0x01) over "a\\r\\nb" also covers "a\\nb" (RFC 4880 5.2.1), nothing
    else: a lone CR is not a line ending."""
    p1 = pgp_keys.keys["p1"]
    part, private = p1.material.signing_part(unix_now())  # type: ignore[attr-defined]
    signed = b"pay 1\r\nto x"
    body = sig_body(private, part.fingerprint, op.SIG_TEXT, unix_now(), (signed,))

    def inner(literal: bytes) -> bytes:
        return (
            op.ops_packet(hashalg=op.HASH_SHA384, keyid=part.keyid, last=True)
            + op.literal_packet(literal, when=0)
            + op.packet(op.TAG_SIGNATURE, body)
        )

    assert (
        open_inner(pgp_keys, inner(b"pay 1\nto x"), pgp_keys.public("p1")).plaintext
        == b"pay 1\nto x"
    )
    for other in (b"pay 1\rto x", b"pay 1\r\r\nto x", b"pay 1\n\nto x"):
        with pytest.raises(ge.InvalidSignature):
            open_inner(pgp_keys, inner(other), pgp_keys.public("p1"))
