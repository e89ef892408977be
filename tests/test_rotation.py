"""Tink's four-stage rotation (add, promote, disable, remove): what still opens at each stage."""

from __future__ import annotations

import pytest

import gpay_envelope as ge

PAYLOAD = b'{"requestHeader":{"requestId":"rotation"}}'

# (stage, key set change, does an envelope to the old key open, to the new key)
STAGES = [
    ("initial", lambda ks, old, new: ge.KeySet([old], primary=old.kid), True, False),
    ("add", lambda ks, old, new: ks.with_key(new), True, True),
    ("promote", lambda ks, old, new: ks.with_primary(new.kid), True, True),
    ("disable", lambda ks, old, new: ks.with_status(old.kid, ge.KeyStatus.DISABLED), False, True),
    ("remove", lambda ks, old, new: ks.without(old.kid), False, True),
]


def _one(key: ge.Key) -> ge.KeySet:
    return ge.KeySet([key.public()], primary=key.kid)


def test_identity_rotation_matrix(partner, google, spare_keys) -> None:
    old, new = spare_keys[0], spare_keys[1]
    to_old = ge.seal(PAYLOAD, recipients=_one(old), signer=google.signer, codec="jwe")
    to_new = ge.seal(PAYLOAD, recipients=_one(new), signer=google.signer, codec="jwe")
    ks: ge.KeySet | None = None
    seen = []
    for stage, change, old_opens, new_opens in STAGES:
        ks = change(ks, old, new)
        for envelope, expected, kid in ((to_old, old_opens, old.kid), (to_new, new_opens, new.kid)):
            if expected:
                res = ge.open_detailed(envelope, identities=ks, senders=google.public_sig)
                assert res.plaintext == PAYLOAD and res.decrypted_with == kid, stage
            else:
                with pytest.raises(ge.InvalidEnvelope):
                    ge.open(envelope, identities=ks, senders=google.public_sig)
        # Whatever the stage, a message sealed now goes to the primary and opens.
        fresh = ge.seal(PAYLOAD, recipients=ks.public(), signer=google.signer, codec="jwe")
        res = ge.open_detailed(fresh, identities=ks, senders=google.public_sig)
        seen.append((stage, res.decrypted_with))
    assert seen == [
        ("initial", old.kid),
        ("add", old.kid),
        ("promote", new.kid),
        ("disable", new.kid),
        ("remove", new.kid),
    ]


def test_sender_rotation_matrix(partner, google) -> None:
    old_sig, new_sig = google.signer.get("google-sig-1"), google.signer.get("google-sig-2")
    signed_old = ge.seal(
        PAYLOAD,
        recipients=partner.public_enc,
        signer=ge.KeySet([old_sig], primary=old_sig.kid),
        codec="jwe",
    )
    signed_new = ge.seal(
        PAYLOAD,
        recipients=partner.public_enc,
        signer=ge.KeySet([new_sig], primary=new_sig.kid),
        codec="jwe",
    )
    senders: ge.KeySet | None = None
    for stage, change, old_ok, new_ok in STAGES:
        senders = change(senders, old_sig.public(), new_sig.public())
        for envelope, expected, kid in (
            (signed_old, old_ok, old_sig.kid),
            (signed_new, new_ok, new_sig.kid),
        ):
            if expected:
                res = ge.open_detailed(envelope, identities=partner.identities, senders=senders)
                assert res.verified_by == (kid,), stage
            else:
                with pytest.raises(ge.InvalidSignature):
                    ge.open(envelope, identities=partner.identities, senders=senders)
