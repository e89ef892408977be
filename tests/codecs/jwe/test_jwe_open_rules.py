"""What open() refuses in a JWE envelope: unexpected header members, a header that is not an
object, malformed input; each with one opaque error, the same as for the wrong identity."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from jwe_craft import craft

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs import OpenRequest
from gpay_envelope.codecs.jwe import _codec as jwe_mod

PAYLOAD = json.dumps({"requestHeader": {"requestId": "r-1"}, "amount": "12.34"}).encode()


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "x5u": "http://x"},
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "crit": ["exp"]},
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": 7},
    ],
)
def test_unexpected_header_members_refused(google, header) -> None:
    head = json.dumps(header).encode()
    good = craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1"},
        PAYLOAD,
        google.identities.primary,
    )
    parts = good.split(b".")
    parts[0] = b64url_encode(head, pad=False)
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(b".".join(parts), identities=google.identities, senders=None, allow_unsigned=True)


@pytest.mark.parametrize(
    "token",
    [
        b"",
        b"....",
        b"a.b.c.d",
        b"eyJhbGciOiJub25lIn0..." + b"x",
        "ü.ü.ü.ü.ü",
        b"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
    ],
)
def test_malformed_input_gives_one_opaque_error(google, token) -> None:
    with pytest.raises(ge.InvalidEnvelope) as info:
        ge.open(token, identities=google.identities, senders=None, allow_unsigned=True)
    assert str(info.value) == "invalid envelope"
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_wrong_identity_gives_the_same_error_as_garbage(partner, google) -> None:
    env = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    stranger = ge.KeySet([ge.generate_key(kid="google-enc-1", size=2048)], primary="google-enc-1")
    with pytest.raises(ge.InvalidEnvelope) as info:
        ge.open(env, identities=stranger, senders=partner.public_sig)
    assert str(info.value) == "invalid envelope" and info.value.__cause__ is None


@pytest.mark.parametrize("header", [b'"alg enc"', b'["alg","enc"]', b"123"])
def test_non_object_jwe_header_is_refused_by_the_codec_itself(google, header) -> None:
    good = craft({"alg": "RSA-OAEP-256", "enc": "A256GCM"}, b"x", google.identities.primary)
    parts = good.split(b".")
    parts[0] = b64url_encode(header, pad=False)
    request = OpenRequest(
        envelope=b".".join(parts),
        identities=tuple(google.identities),
        senders=(),
        allow_unsigned=True,
        now=datetime.now(timezone.utc),
        limits=ge.DEFAULT_LIMITS,
    )
    with pytest.raises(ge.InvalidEnvelope):
        jwe_mod.JWECodec().open(request)
