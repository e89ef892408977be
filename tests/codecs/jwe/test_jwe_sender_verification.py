"""The inner JWS of a JWE: which sender keys verify it (status, validity, algorithm binding,
use), the JWS header and algorithm allow-list, and the bounds on reading it."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from jwe_craft import craft, jws_compact, sign

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs.jwe import _codec as jwe_mod
from gpay_envelope.codecs.jwe import _joserfc as jx

PAYLOAD = json.dumps({"requestHeader": {"requestId": "r-1"}, "amount": "12.34"}).encode()
SECRET = b'{"pan":"4111111111111111","cvc":"123"}'
NOW = datetime.now(timezone.utc)


def test_sender_policy(partner, google) -> None:
    env = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    senders = partner.public_sig
    assert ge.open(env, identities=google.identities, senders=senders) == PAYLOAD
    disabled = senders.with_primary("partner-sig-2").with_status(
        "partner-sig-1", ge.KeyStatus.DISABLED
    )
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=google.identities, senders=disabled)
    expired = senders.replace(
        senders.get("partner-sig-1").with_validity(not_after=NOW - timedelta(days=1))
    )
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=google.identities, senders=expired)
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=google.identities, senders=google.public_sig)


def test_second_sender_key_verifies_and_jws_without_kid_is_bounded(partner, google) -> None:
    sk2 = partner.signer.get("partner-sig-2")
    inner = sign({"alg": "PS256"}, PAYLOAD, sk2)  # no kid: bounded trial over sender keys
    token = craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "cty": "JWT"},
        inner,
        google.identities.primary,
    )
    res = ge.open_detailed(token, identities=google.identities, senders=partner.public_sig)
    assert res.verified_by == ("partner-sig-2",) and res.algorithms[-1] == "PS256"
    with pytest.raises(ge.InvalidSignature):
        ge.open(
            token,
            identities=google.identities,
            senders=partner.public_sig,
            limits=ge.Limits(max_trials=1),
        )


def test_jws_header_and_alg_allow_list(partner, google) -> None:
    sk = partner.signer.primary
    for head in (
        {"alg": "RS256", "kid": sk.kid, "jku": "http://x"},
        {"alg": "RS256", "kid": sk.kid, "b64": False, "crit": ["b64"]},
    ):
        try:
            inner = sign(head, PAYLOAD, sk)
        except Exception:
            continue  # joserfc itself refuses to make it; nothing to test
        token = craft(
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1"},
            inner,
            google.identities.primary,
        )
        with pytest.raises(ge.InvalidSignature):
            ge.open(token, identities=google.identities, senders=partner.public_sig)
    # An HS256 "signature" keyed with public data must never count.
    hs = b".".join(
        [
            b64url_encode(b'{"alg":"HS256","kid":"partner-sig-1"}', pad=False),
            b64url_encode(PAYLOAD, pad=False),
            b"AAAA",
        ]
    )
    token = craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1"},
        hs,
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidSignature):
        ge.open(token, identities=google.identities, senders=partner.public_sig)


def test_huge_inner_jws_header_is_not_parsed(partner, google, monkeypatch) -> None:
    parsed: list[int] = []
    real = json.loads

    def counting(data: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(data))
        return real(data, *args, **kwargs)

    big_header = json.dumps({"alg": "RS256", "pad": "x" * 200_000}).encode()
    inner = jws_compact(big_header, b"{}", b"sig")
    token = craft(
        {
            "alg": "RSA-OAEP-256",
            "enc": "A256GCM",
            "zip": "DEF",
            "kid": "google-enc-1",
            "cty": "JWT",
        },
        inner,
        google.identities.primary,
    )
    monkeypatch.setattr(jwe_mod.json, "loads", counting)
    with pytest.raises(ge.InvalidSignature):
        ge.open(token, identities=google.identities, senders=partner.public_sig)
    assert all(n < 1024 for n in parsed)


def test_sender_key_binding_is_enforced(partner, google) -> None:
    sk = partner.signer.primary
    ps256 = jwe_mod.jws.serialize_compact(
        {"alg": "PS256", "kid": sk.kid},
        SECRET,
        sk.material.jose,
        registry=jx.registries(1 << 20, 1 << 21).jws,
    ).encode()
    token = craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "cty": "JWT"},
        ps256,
        google.identities.primary,
    )
    assert ge.open(token, identities=google.identities, senders=partner.public_sig) == SECRET
    rs_only = partner.public_sig.replace(partner.public_sig.primary.with_algorithms(["RS256"]))
    with pytest.raises(ge.InvalidSignature):
        ge.open(token, identities=google.identities, senders=rs_only)
    # An encryption key of the sender (use "enc") never verifies a signature.
    enc_as_sender = ge.KeySet([k.public() for k in partner.identities], primary="partner-enc-1")
    with pytest.raises(ge.InvalidSignature):
        ge.open(token, identities=google.identities, senders=enc_as_sender)


def test_hs256_keyed_with_the_senders_public_key_never_verifies(partner, google) -> None:
    sk = partner.public_sig.primary
    for secret in (json.dumps(sk.to_jwk()).encode(), sk.material.jose.as_pem()):
        header = json.dumps({"alg": "HS256", "kid": sk.kid}).encode()
        signing_input = b64url_encode(header, pad=False) + b"." + b64url_encode(SECRET, pad=False)
        mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
        inner = signing_input + b"." + b64url_encode(mac, pad=False)
        token = craft(
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "cty": "JWT"},
            inner,
            google.identities.primary,
        )
        with pytest.raises(ge.InvalidSignature):
            ge.open(token, identities=google.identities, senders=partner.public_sig)
    none = jws_compact(json.dumps({"alg": "none"}).encode(), SECRET, b"")
    token = craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "cty": "JWT"},
        none,
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidSignature):
        ge.open(token, identities=google.identities, senders=partner.public_sig)
