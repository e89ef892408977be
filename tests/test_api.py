"""The front door's argument checks: a naive `now` and identities without private keys are
programming errors, not envelope errors."""

from __future__ import annotations

from datetime import datetime

import pytest

import gpay_envelope as ge

SECRET = b'{"pan":"4111111111111111","cvc":"123"}'


def test_naive_now_and_public_identities_are_programming_errors(partner, google) -> None:
    env = ge.seal(SECRET, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    with pytest.raises(TypeError, match="timezone-aware"):
        ge.open(
            env, identities=google.identities, senders=partner.public_sig, now=datetime(2026, 1, 1)
        )
    with pytest.raises(TypeError, match="timezone-aware"):
        ge.seal(
            SECRET,
            recipients=google.public_enc,
            signer=partner.signer,
            codec="jwe",
            now=datetime(2026, 1, 1),
        )
    with pytest.raises(ge.KeySetError, match="no private key"):
        ge.open(env, identities=google.public_enc, senders=partner.public_sig)
