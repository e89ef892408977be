"""The requests a codec receives: their repr shows no plaintext."""

from __future__ import annotations

from datetime import datetime, timezone

import gpay_envelope as ge

SECRET = b'{"pan":"4111111111111111","cvc":"123"}'


def test_seal_request_repr_hides_the_plaintext(partner, google) -> None:
    from gpay_envelope.codecs import SealRequest

    req = SealRequest(
        plaintext=SECRET,
        recipients=tuple(google.public_enc),
        signers=(),
        profile=None,
        now=datetime.now(timezone.utc),
        limits=ge.DEFAULT_LIMITS,
    )
    assert b"4111".decode() not in repr(req)
