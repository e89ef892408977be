"""Which identity key decrypts a JWE: the kid routes, without a kid a bounded trial; disabled
keys, keys bound to another algorithm and signing keys get no private-key operation."""

from __future__ import annotations

import json

import pytest
from jwe_craft import craft

import gpay_envelope as ge
from gpay_envelope.codecs.jwe import _direct
from gpay_envelope.codecs.jwe import _joserfc as jx

PAYLOAD = json.dumps({"requestHeader": {"requestId": "r-1"}, "amount": "12.34"}).encode()
SECRET = b'{"pan":"4111111111111111","cvc":"123"}'


def test_kid_routes_to_a_non_primary_identity(partner, google, attempts) -> None:
    second = google.identities.get("google-enc-2")
    env = ge.seal(
        PAYLOAD,
        recipients=ge.KeySet([second.public()], primary=second.kid),
        signer=partner.signer,
        codec="jwe",
    )
    res = ge.open_detailed(env, identities=google.identities, senders=partner.public_sig)
    assert res.decrypted_with == "google-enc-2"
    assert attempts == ["google-enc-2"]


def test_unknown_kid_costs_no_private_key_operation(partner, google, attempts) -> None:
    token = craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "nobody"},
        PAYLOAD,
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(token, identities=google.identities, senders=None, allow_unsigned=True)
    assert attempts == []


def test_no_kid_falls_back_to_a_bounded_trial(google, spare_keys, attempts) -> None:
    keys = ge.KeySet(spare_keys, primary="spare-0")
    right = spare_keys[1]
    token = craft({"alg": "RSA1_5", "enc": "A128CBC-HS256"}, PAYLOAD, right)
    res = ge.open_detailed(token, identities=keys, senders=None, allow_unsigned=True)
    assert res.decrypted_with == "spare-1"
    assert attempts == ["spare-0", "spare-1"]  # primary first, stops at the right one

    attempts.clear()
    last = craft({"alg": "RSA-OAEP-256", "enc": "A256GCM"}, PAYLOAD, spare_keys[3])
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(last, identities=keys, senders=None, allow_unsigned=True)
    assert attempts == ["spare-0", "spare-1", "spare-2"]  # max_trials=3, never the 4th
    attempts.clear()
    res = ge.open_detailed(
        last, identities=keys, senders=None, allow_unsigned=True, limits=ge.Limits(max_trials=4)
    )
    assert res.decrypted_with == "spare-3" and len(attempts) == 4


def test_disabled_identity_key_never_decrypts(partner, google, attempts) -> None:
    env = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    ids = google.identities.with_primary("google-enc-2").with_status(
        "google-enc-1", ge.KeyStatus.DISABLED
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=ids, senders=partner.public_sig)
    assert attempts == []


def test_key_bound_to_oaep_refuses_rsa1_5(google, attempts) -> None:
    oaep_only = google.identities.primary.with_algorithms(["RSA-OAEP-256"])
    ks = ge.KeySet([oaep_only], primary=oaep_only.kid)
    token = craft(
        {"alg": "RSA1_5", "enc": "A256CBC-HS512", "kid": oaep_only.kid}, PAYLOAD, oaep_only
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(token, identities=ks, senders=None, allow_unsigned=True)
    assert attempts == []
    with pytest.raises(ge.SealError, match="not bound to RSA1_5"):
        ge.seal(
            PAYLOAD,
            recipients=ks.public(),
            signer=None,
            codec="jwe",
            profile="legacy",
            allow_unsigned=True,
        )


def test_signing_key_in_identities_gets_no_private_key_operation(partner, google, monkeypatch):
    calls: list[object] = []
    real = jx.perform_decrypt
    real_gcm = _direct.decrypt_gcm
    monkeypatch.setattr(jx, "perform_decrypt", lambda o, r: (calls.append(o), real(o, r)))
    monkeypatch.setattr(
        _direct, "decrypt_gcm", lambda *a: (calls.append(a[0]), real_gcm(*a))[1]
    )
    sig_key = google.signer.primary  # use "sig", RSA, holds a private key
    token = craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": sig_key.kid},
        SECRET,
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(token, identities=google.signer, senders=None, allow_unsigned=True)
    assert calls == []
