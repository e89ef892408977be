"""The public test helpers behave like a codec should, minus the cryptography."""

from __future__ import annotations

import pytest

import gpay_envelope as ge
from gpay_envelope.testing import fake_registry, make_jwe_keysets


def test_fake_codec_follows_the_key_rules() -> None:
    dec, sig = make_jwe_keysets("t", keys=2)
    reg = fake_registry()
    env = ge.seal(b"hello", recipients=dec.public(), signer=sig, codec="jwe", registry=reg)
    assert env.startswith(b"FAKE.")
    res = ge.open_detailed(env, identities=dec, senders=sig.public(), registry=reg)
    assert (res.plaintext, res.decrypted_with, res.verified_by) == (
        b"hello",
        "t-enc-1",
        ("t-sig-1",),
    )
    rotated = dec.with_primary("t-enc-2").with_status("t-enc-1", ge.KeyStatus.DISABLED)
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=rotated, senders=sig.public(), registry=reg)
    _, other_sig = make_jwe_keysets("o", keys=1)
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=dec, senders=other_sig.public(), registry=reg)
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(b"FAKE.x", identities=dec, senders=sig.public(), registry=reg)
    # The real codec does not accept what the fake one makes.
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=dec, senders=sig.public())
