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


def test_the_envelope_cap_counts_bytes_of_a_memoryview(partner, google) -> None:
    env = ge.seal(b"{}", recipients=google.public_enc, signer=partner.signer, codec="jwe")
    keys = {"identities": google.identities, "senders": partner.public_sig}
    # Trailing spaces still open; they make the envelope a whole number of 4-byte items.
    padded = env + b" " * (-len(env) % 4 or 4)
    assert ge.open(memoryview(padded).cast("I"), **keys) == b"{}"
    # Over the cap in bytes, though len() counts a quarter of them.
    words = memoryview(padded).cast("I")
    limits = ge.Limits(max_envelope=len(padded) - 1)
    assert len(words) < limits.max_envelope < words.nbytes
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(words, limits=limits, **keys)
    assert ge.open(padded, limits=ge.Limits(max_envelope=len(padded)), **keys) == b"{}"
