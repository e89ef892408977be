"""The plaintext and envelope caps of `Limits` in both JWE profiles, on open and on seal."""

from __future__ import annotations

import secrets

import pytest

import gpay_envelope as ge


def test_size_caps(partner, google) -> None:
    big = secrets.token_bytes(1 << 20)
    for profile in ("signed", "legacy"):
        env = ge.seal(
            big, recipients=google.public_enc, signer=partner.signer, codec="jwe", profile=profile
        )
        assert ge.open(env, identities=google.identities, senders=partner.public_sig) == big
        small = ge.Limits(max_plaintext=(1 << 20) - 1)
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(env, identities=google.identities, senders=partner.public_sig, limits=small)
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(
                env,
                identities=google.identities,
                senders=partner.public_sig,
                limits=ge.Limits(max_envelope=len(env) - 1),
            )
    with pytest.raises(ge.SealError, match="over the limit"):
        ge.seal(
            big,
            recipients=google.public_enc,
            signer=partner.signer,
            codec="jwe",
            limits=ge.Limits(max_plaintext=1000),
        )
    with pytest.raises(ValueError, match="positive int"):
        ge.Limits(max_trials=0)
