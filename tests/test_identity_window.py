"""Our own keys decrypt whatever their validity window; only DISABLED stops them (both codecs).

The window bounds what we seal with (a recipient key outside it is never sealed to) and
which sender keys verify; see docs/security.md, "Expiry on open".
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pgp_fixtures import pgp_party

import gpay_envelope as ge

PAYLOAD = b'{"requestHeader":{"requestId":"window"}}'
NOW = datetime.now(timezone.utc)


def _windowed(key: ge.Key, where: str) -> ge.Key:
    if where == "expired":
        return key.with_validity(not_before=None, not_after=NOW - timedelta(hours=1))
    return key.with_validity(not_before=NOW + timedelta(days=1), not_after=None)


def _pair(codec: str, partner, google) -> tuple[ge.Key, ge.KeySet]:
    """One of our identity keys (with its secret) and the peer's signer set."""
    if codec == "jwe":
        return partner.identities.primary, google.signer
    party = pgp_party()
    return party.keys["p1"], party.secret("g1")


@pytest.mark.parametrize("codec", ["jwe", "pgp"])
@pytest.mark.parametrize("where", ["expired", "not yet valid"])
def test_identity_outside_its_window_still_decrypts(codec, where, partner, google) -> None:
    ours, peer = _pair(codec, partner, google)
    published = ge.KeySet([ours.public()], primary=ours.kid)
    envelope = ge.seal(PAYLOAD, recipients=published, signer=peer, codec=codec)
    identities = ge.KeySet([_windowed(ours, where)], primary=ours.kid)
    result = ge.open_detailed(envelope, identities=identities, senders=peer.public())
    assert result.plaintext == PAYLOAD and result.decrypted_with == ours.kid
    # ... but nothing is sealed to it while it is outside its window,
    with pytest.raises(ge.SealError):
        ge.seal(PAYLOAD, recipients=identities.public(), signer=peer, codec=codec)
    # ... and DISABLED stops decryption.
    other = _pair(codec, google, partner)[0] if codec == "jwe" else pgp_party().keys["p2"]
    disabled = ge.KeySet([other, identities.primary], primary=other.kid).with_status(
        ours.kid, ge.KeyStatus.DISABLED
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(envelope, identities=disabled, senders=peer.public())
