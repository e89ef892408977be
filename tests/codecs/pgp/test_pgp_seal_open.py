"""Sealing and opening with the pgp codec: every recipient opens, every signer signs (primary
first), gpg's message layout, the zip profile, and the unsigned opt-in on both ends."""

from __future__ import annotations

import pytest
from pgp_fixtures import (
    Party,
    packets_of,
)
from pgp_messages import (
    MSG,
    open_,
    seal,
)

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import _codec as pgp
from gpay_envelope.codecs.pgp import wire as op


@pytest.mark.parametrize("recipients", [("g1",), ("g1", "g2"), ("g1", "g2", "g3")])
def test_every_recipient_can_open(pgp_keys: Party, recipients: tuple[str, ...]) -> None:
    env = seal(pgp_keys, recipients, ("p1",))
    assert len([t for t, _ in packets_of(env) if t == op.TAG_PKESK]) == len(recipients)
    for name in recipients:
        result = open_(pgp_keys, env, (name,), ("p1",))
        assert result.plaintext == MSG
        assert result.decrypted_with == pgp_keys.kid(name)
        assert result.verified_by == (pgp_keys.kid("p1"),)
        assert result.algorithms == ("RSA", "AES256", "SHA384")


@pytest.mark.parametrize("signers", [("p1",), ("p1", "p2"), ("p2", "p1")])
def test_signs_with_every_signer_primary_first(pgp_keys: Party, signers: tuple[str, ...]) -> None:
    env = seal(pgp_keys, ("g1",), signers)
    result = open_(pgp_keys, env, ("g1",), ("p1", "p2"))
    assert result.verified_by == tuple(pgp_keys.kid(s) for s in signers)
    # Either signature alone is enough: Google trusts one of our keys at a time.
    for name in signers:
        assert open_(pgp_keys, env, ("g1",), (name,)).verified_by == (pgp_keys.kid(name),)


def test_message_layout_is_gpgs(pgp_keys: Party) -> None:
    """PKESK v3 per recipient subkey, then SEIPD v1; inside: nested one-pass signatures,
    binary literal data, signatures primary first; SHA384, AES256."""
    env = seal(pgp_keys, ("g1", "g2"), ("p1", "p2"))
    top = packets_of(env)
    assert [t for t, _ in top] == [op.TAG_PKESK, op.TAG_PKESK, op.TAG_SEIPD]
    keys = [pgp_keys.keys[n].material for n in ("g1", "g2")]
    subkeys = [m.parts[1].keyid for m in keys]  # type: ignore[attr-defined]
    assert [body[1:9] for _, body in top[:2]] == subkeys
    secret = next(
        p.keyid
        for p in pgp_keys.keys["g1"].material.parts
        if p.can_encrypt()  # type: ignore[attr-defined]
    )
    plain = pgp._rsa_decrypt(
        pgp_keys.keys["g1"].material._secrets[secret], op.parse_pkesk(top[0][1])[2]
    )  # type: ignore[attr-defined,index]
    assert plain is not None and plain[0] == op.SYM_AES256
    content = op.decrypt_seipd(plain[1:33], top[2][1])
    assert content is not None
    inner = op.read_packets(content, max_packets=10)
    assert [t for t, _ in inner] == [
        op.TAG_OPS,
        op.TAG_OPS,
        op.TAG_LITERAL,
        op.TAG_SIGNATURE,
        op.TAG_SIGNATURE,
    ]
    p1, p2 = (pgp_keys.keys[n].material.parts[0].keyid for n in ("p1", "p2"))  # type: ignore[attr-defined]
    assert [b[4:12] for _, b in inner[:2]] == [p2, p1]  # p1's OPS innermost ...
    assert [b[12] for _, b in inner[:2]] == [0, 1]  # ... and flagged last
    sigs = [op.parse_signature(b) for _, b in inner[3:]]
    assert [s.issuer_ids for s in sigs if s] == [(p1,), (p2,)]  # p1's signature first
    assert all(s and s.hashalg == op.HASH_SHA384 and s.sigtype == op.SIG_BINARY for s in sigs)
    assert op.parse_literal(inner[2][1]) == (ord("b"), MSG)


def test_zip_profile(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), ("p1",), profile="zip")
    assert open_(pgp_keys, env, ("g1",), ("p1",)).algorithms == ("RSA", "AES256", "ZIP", "SHA384")
    with pytest.raises(ge.UnsupportedCodec):
        seal(pgp_keys, ("g1",), ("p1",), profile="cast5")


def test_unsigned_needs_opt_in_on_both_ends(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), None)
    with pytest.raises(ge.InvalidSignature):
        open_(pgp_keys, env, ("g1",), ("p1",))
    result = ge.open_detailed(
        env, identities=pgp_keys.secret("g1"), senders=None, allow_unsigned=True
    )
    assert result.plaintext == MSG and result.verified_by == ()


def test_a_present_signature_is_checked_even_with_allow_unsigned(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), ("u1",))
    with pytest.raises(ge.InvalidSignature):
        open_(pgp_keys, env, ("g1",), ("p1",), allow_unsigned=True)
