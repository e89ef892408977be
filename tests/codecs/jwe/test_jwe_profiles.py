"""Each JWE profile seals and opens: the headers it makes, no warnings, the unsigned opt-in."""

from __future__ import annotations

import json
import warnings

import pytest
from jwe_craft import header_of

import gpay_envelope as ge

PAYLOAD = json.dumps({"requestHeader": {"requestId": "r-1"}, "amount": "12.34"}).encode()


@pytest.mark.parametrize(
    ("profile", "alg", "enc", "zipped"),
    [
        ("signed", "RSA-OAEP-256", "A256GCM", False),
        ("legacy", "RSA1_5", "A256CBC-HS512", True),
        ("legacy-a128", "RSA1_5", "A128CBC-HS256", True),
    ],
)
def test_profiles_round_trip(partner, google, profile, alg, enc, zipped) -> None:
    env = ge.seal(
        PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe", profile=profile
    )
    head = header_of(env)
    assert (head["alg"], head["enc"], head.get("zip") == "DEF") == (alg, enc, zipped)
    assert head["kid"] == "google-enc-1" and head["cty"] == "JWT"
    res = ge.open_detailed(env, identities=google.identities, senders=partner.public_sig)
    assert res.plaintext == PAYLOAD
    assert res.decrypted_with == "google-enc-1" and res.verified_by == ("partner-sig-1",)
    assert res.algorithms[-1] == "RS256"
    assert (
        ge.open(env.decode(), identities=google.identities, senders=partner.public_sig) == PAYLOAD
    )


def test_no_warnings_escape(partner, google) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = ge.seal(
            PAYLOAD,
            recipients=google.public_enc,
            signer=partner.signer,
            codec="jwe",
            profile="legacy",
        )
        ge.open(env, identities=google.identities, senders=partner.public_sig)
    assert [str(w.message) for w in caught] == []


def test_unsigned_needs_explicit_opt_in_both_ways(partner, google) -> None:
    with pytest.raises(TypeError, match="allow_unsigned"):
        ge.seal(PAYLOAD, recipients=google.public_enc, signer=None, codec="jwe", profile="legacy")
    with pytest.raises(ge.SealError, match="'signed' profile needs a signer"):
        ge.seal(
            PAYLOAD, recipients=google.public_enc, signer=None, codec="jwe", allow_unsigned=True
        )
    env = ge.seal(
        PAYLOAD,
        recipients=google.public_enc,
        signer=None,
        codec="jwe",
        profile="legacy",
        allow_unsigned=True,
    )
    assert "cty" not in header_of(env)
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=google.identities, senders=partner.public_sig)
    res = ge.open_detailed(env, identities=google.identities, senders=None, allow_unsigned=True)
    assert res.plaintext == PAYLOAD and res.verified_by == ()


def test_signed_message_is_still_checked_when_unsigned_is_allowed(partner, google) -> None:
    env = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=google.identities, senders=None, allow_unsigned=True)
    with pytest.raises(ge.InvalidSignature):
        ge.open(env, identities=google.identities, senders=google.public_sig, allow_unsigned=True)


@pytest.mark.parametrize("text", [b"1.2.3", b"v1.0.0-rc1", b"abc.def.ghi"])
def test_dotted_unsigned_plaintext_is_not_mistaken_for_a_jws(google, text) -> None:
    env = ge.seal(
        text,
        recipients=google.public_enc,
        signer=None,
        codec="jwe",
        profile="legacy",
        allow_unsigned=True,
    )
    assert ge.open(env, identities=google.identities, senders=None, allow_unsigned=True) == text
