"""What seal() refuses with the JWE codec: unusable keys, unknown profiles or codecs, bad types."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import gpay_envelope as ge

PAYLOAD = json.dumps({"requestHeader": {"requestId": "r-1"}, "amount": "12.34"}).encode()
NOW = datetime.now(timezone.utc)


def test_seal_key_checks(partner, google) -> None:
    expired_primary = google.public_enc.replace(
        google.public_enc.primary.with_validity(not_after=NOW - timedelta(seconds=1))
    )
    with pytest.raises(ge.SealError, match="expired or not yet valid"):
        ge.seal(PAYLOAD, recipients=expired_primary, signer=partner.signer, codec="jwe")
    with pytest.raises(ge.KeySetError, match="holds no private key"):
        ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.public_sig, codec="jwe")
    with pytest.raises(ge.SealError, match="use 'sig', not 'enc'"):
        ge.seal(PAYLOAD, recipients=google.public_sig, signer=partner.signer, codec="jwe")
    with pytest.raises(ge.UnsupportedCodec, match="unknown JWE profile"):
        ge.seal(
            PAYLOAD,
            recipients=google.public_enc,
            signer=partner.signer,
            codec="jwe",
            profile="fast",
        )
    with pytest.raises(ge.UnsupportedCodec, match="unknown codec 'xml'"):
        ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="xml")
    with pytest.raises(TypeError, match="plaintext must be bytes"):
        ge.seal("text", recipients=google.public_enc, signer=partner.signer, codec="jwe")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="recipients must be a KeySet"):
        ge.seal(PAYLOAD, recipients=[google.public_enc], signer=partner.signer, codec="jwe")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="senders is required"):
        ge.open(b"x", identities=google.identities, senders=None)
