"""The core and the JWE codec on edge cases: errors that carry nothing, headers that are not
objects, oversized inner headers, key binding, HS256 with a public key, unsigned envelopes,
JWK times, kids, and programming errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
import traceback
import zlib
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from joserfc import jwe
from jwe_craft import craft_raw

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs import OpenRequest
from gpay_envelope.codecs.jwe import _codec as jwe_mod
from gpay_envelope.codecs.jwe import _joserfc as jx

SECRET = b'{"pan":"4111111111111111","cvc":"123"}'


def _craft(header: dict[str, Any], payload: bytes, key: ge.Key, *, raw_zip: bool = False) -> bytes:
    if raw_zip:
        return craft_raw(header, payload, key)
    registry = jx.OpenJWERegistry(max_ciphertext=1 << 24, inflate_cap=1 << 24)
    return jwe.encrypt_compact(header, payload, key.material.jose, registry=registry).encode()


def _jws(header: bytes, payload: bytes, sig: bytes) -> bytes:
    return b".".join(b64url_encode(x, pad=False) for x in (header, payload, sig))


def _reachable_bytes(exc: BaseException) -> list[bytes]:
    """Every bytes object in the locals of every frame the exception (and its chain) holds."""
    found: list[bytes] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        for frame, _ in traceback.walk_tb(e.__traceback__):
            for value in frame.f_locals.values():
                if isinstance(value, (bytes, bytearray)):
                    found.append(bytes(value))
                elif hasattr(value, "plaintext") and isinstance(value.plaintext, bytes):
                    found.append(value.plaintext)
        e = e.__cause__ or e.__context__
    return found


def test_open_errors_pickle_round_trip() -> None:
    for cls in (ge.InvalidEnvelope, ge.InvalidSignature):
        again = pickle.loads(pickle.dumps(cls()))
        assert type(again) is cls and str(again) == cls.MESSAGE


def test_no_plaintext_reachable_from_invalid_signature(partner, google) -> None:
    env = ge.seal(SECRET, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    with pytest.raises(ge.InvalidSignature) as info:
        ge.open(env, identities=google.identities, senders=google.public_sig)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert not [b for b in _reachable_bytes(info.value) if SECRET in b]


def test_no_plaintext_reachable_after_a_failed_inflate(google) -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = c.compress(SECRET * 10) + c.flush()
    token = _craft(
        {"alg": "RSA1_5", "enc": "A256CBC-HS512", "zip": "DEF", "kid": "google-enc-1"},
        stream + b"trailing garbage",
        google.identities.primary,
        raw_zip=True,
    )
    with pytest.raises(ge.InvalidEnvelope) as info:
        ge.open(token, identities=google.identities, senders=None, allow_unsigned=True)
    assert info.value.__context__ is None
    assert not [b for b in _reachable_bytes(info.value) if SECRET in b]


@pytest.mark.parametrize("header", [b'"alg enc"', b'["alg","enc"]', b"123"])
def test_non_object_jwe_header_is_refused_by_the_codec_itself(google, header) -> None:
    good = _craft({"alg": "RSA-OAEP-256", "enc": "A256GCM"}, b"x", google.identities.primary)
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


def test_huge_inner_jws_header_is_not_parsed(partner, google, monkeypatch) -> None:
    parsed: list[int] = []
    real = json.loads

    def counting(data: Any, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(data))
        return real(data, *args, **kwargs)

    big_header = json.dumps({"alg": "RS256", "pad": "x" * 200_000}).encode()
    inner = _jws(big_header, b"{}", b"sig")
    token = _craft(
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
    token = _craft(
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


def test_signing_key_in_identities_gets_no_private_key_operation(partner, google, monkeypatch):
    calls: list[object] = []
    real = jx.perform_decrypt
    monkeypatch.setattr(jx, "perform_decrypt", lambda o, r: (calls.append(o), real(o, r)))
    sig_key = google.signer.primary  # use "sig", RSA, holds a private key
    token = _craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": sig_key.kid},
        SECRET,
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(token, identities=google.signer, senders=None, allow_unsigned=True)
    assert calls == []


def test_hs256_keyed_with_the_senders_public_key_never_verifies(partner, google) -> None:
    sk = partner.public_sig.primary
    for secret in (json.dumps(sk.to_jwk()).encode(), sk.material.jose.as_pem()):
        header = json.dumps({"alg": "HS256", "kid": sk.kid}).encode()
        signing_input = b64url_encode(header, pad=False) + b"." + b64url_encode(SECRET, pad=False)
        mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
        inner = signing_input + b"." + b64url_encode(mac, pad=False)
        token = _craft(
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "cty": "JWT"},
            inner,
            google.identities.primary,
        )
        with pytest.raises(ge.InvalidSignature):
            ge.open(token, identities=google.identities, senders=partner.public_sig)
    none = _jws(json.dumps({"alg": "none"}).encode(), SECRET, b"")
    token = _craft(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "cty": "JWT"},
        none,
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidSignature):
        ge.open(token, identities=google.identities, senders=partner.public_sig)


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


def test_unsigned_envelope_inflates_no_further_than_the_plaintext_cap(google, monkeypatch):
    caps: list[int] = []
    real = jx.StrictDeflate.decompress

    def spy(self: Any, s: bytes) -> bytes:
        caps.append(self.cap)
        return real(self, s)

    monkeypatch.setattr(jx.StrictDeflate, "decompress", spy)
    limits = ge.Limits(max_plaintext=1000)
    env = ge.seal(
        b"a" * 1001,
        recipients=google.public_enc,
        signer=None,
        codec="jwe",
        profile="legacy",
        allow_unsigned=True,
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=google.identities, senders=None, allow_unsigned=True, limits=limits)
    assert caps == [1000]


@pytest.mark.parametrize("value", [1e300, float("nan"), float("-inf")])
def test_jwk_times_out_of_range_give_keyset_error(google, value) -> None:
    jwk = {**google.public_enc.primary.to_jwk(), "exp": value}
    with pytest.raises(ge.KeySetError, match="not a usable time"):
        ge.Key.from_jwk(jwk)


def test_with_validity_keeps_the_bound_not_given(google) -> None:
    now = datetime.now(timezone.utc)
    key = google.public_enc.primary.with_validity(not_before=now + timedelta(days=1))
    later = key.with_validity(not_after=now + timedelta(days=30))
    assert later.not_before == now + timedelta(days=1)
    assert not later.usable_at(now)
    assert key.with_validity(not_before=None).not_before is None


def test_algorithm_binding_is_checked_on_every_key(google) -> None:
    key = google.public_enc.primary
    with pytest.raises(ge.KeySetError, match="collection of names"):
        key.with_algorithms("RSA1_5")
    with pytest.raises(ge.KeySetError, match="use 'enc' but is bound to a signature"):
        key.with_algorithms(["RS256"])
    with pytest.raises(ge.KeySetError, match="'HS256' is not supported"):
        key.with_algorithms(["HS256"])


@pytest.mark.parametrize("kid", ["é" * 90, "a\nb", "", "x" * 257])
def test_kid_must_be_short_printable_ascii(google, kid) -> None:
    with pytest.raises(ge.KeySetError, match="printable ASCII"):
        ge.Key.from_jwk({**google.public_enc.primary.to_jwk(), "kid": kid})


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
