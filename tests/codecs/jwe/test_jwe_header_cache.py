"""Each distinct JWE and JWS header segment is parsed and checked once (`_codec._jwe_header`,
`_codec._jws_header`): the same verdicts as parsing every time, read-only results, a bounded
cache, and the header rules still applied to every new segment. Seal encodes each distinct
header once (`_direct._encoded_header`), with each recipient's own kid."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs.jwe import _codec, _direct

PAYLOAD = json.dumps({"requestId": "r-1", "amount": "12.30"}).encode()


def _segment(header: object, encoding: str = "utf-8") -> bytes:
    return b64url_encode(json.dumps(header).encode(encoding), pad=False)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every JSON parse the JWE codec makes, with both header caches emptied first."""
    _codec._jwe_header.cache_clear()
    _codec._jws_header.cache_clear()
    seen: list[int] = []
    real = _codec.json.loads

    def counting(text: Any, **kwargs: Any) -> Any:
        seen.append(len(text))
        return real(text, **kwargs)

    monkeypatch.setattr(_codec.json, "loads", counting)
    return seen


def test_repeated_headers_are_parsed_once(partner, google, parses) -> None:
    first = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    second = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    assert first != second  # fresh content key, IV and signature input
    opened = [
        ge.open(env, identities=google.identities, senders=partner.public_sig)
        for env in (first, second, first)
    ]
    assert opened == [PAYLOAD] * 3
    assert len(parses) == 2  # the JWE header and the JWS header, for all three opens


def _by_hand(header: dict[str, Any], key: ge.Key) -> bytes:
    """A compact RSA-OAEP-256 / A256GCM JWE with exactly this header, made with `cryptography`:
    nothing but the codec's header rules can refuse it."""
    protected = _segment(header)
    cek, iv = os.urandom(32), os.urandom(12)
    public = key.material.native.public_key()  # type: ignore[attr-defined]
    sealed = AESGCM(cek).encrypt(iv, PAYLOAD, protected)
    parts = (public.encrypt(cek, _direct.OAEP["RSA-OAEP-256"]), iv, sealed[:-16], sealed[-16:])
    return b".".join([protected, *(b64url_encode(p, pad=False) for p in parts)])


def test_a_new_header_is_checked_even_after_a_good_one(google, parses) -> None:
    good = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1"}
    key = google.identities.primary
    ids = google.identities
    assert ge.open(_by_hand(good, key), identities=ids, senders=None, allow_unsigned=True) == (
        PAYLOAD
    )
    for extra in ({"jku": "https://example.com/k"}, {"typ": 7}, {"zip": "GZ"}):
        bad = _by_hand({**good, **extra}, key)
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(bad, identities=ids, senders=None, allow_unsigned=True)
    assert len(parses) == 4


def test_cached_headers_are_read_only() -> None:
    head = _codec._jwe_header(_segment({"alg": "RSA-OAEP-256", "enc": "A256GCM"}), True)
    assert head is not None and head.header["alg"] == "RSA-OAEP-256"
    with pytest.raises(TypeError):
        head.header["alg"] = "RSA1_5"  # type: ignore[index]
    parsed = _codec._jws_header(_segment({"alg": "RS256", "kid": "k"}))
    assert parsed is not None and parsed[1] is True
    with pytest.raises(TypeError):
        parsed[0]["alg"] = "none"  # type: ignore[index]


def test_header_cache_is_bounded() -> None:
    _codec._jwe_header.cache_clear()
    for i in range(4 * _codec._HEADER_CACHE):
        _codec._jwe_header(_segment({"alg": "RSA-OAEP", "enc": "A128GCM", "kid": f"k{i}"}), True)
    assert _codec._jwe_header.cache_info().currsize == _codec._HEADER_CACHE


def test_headers_must_be_utf8() -> None:
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM"}
    assert _codec._jwe_header(_segment(header), True) is not None
    assert _codec._jwe_header(_segment(header, "utf-16"), True) is None
    assert _codec._jws_header(_segment({"alg": "RS256"}, "utf-32")) is None


def test_rsa1_5_header_follows_the_backend_check() -> None:
    segment = _segment({"alg": "RSA1_5", "enc": "A256CBC-HS512"})
    assert _codec._jwe_header(segment, True) is not None
    assert _codec._jwe_header(segment, False) is None


def test_sealed_headers_are_encoded_once_and_name_their_recipient(partner) -> None:
    _direct._encoded_header.cache_clear()
    keys = [ge.generate_key(kid=f"peer-enc-{i}", use="enc", size=2048) for i in (1, 2)]
    for _ in range(2):
        for key in keys:
            recipients = ge.KeySet([key.public()], primary=key.kid)
            env = ge.seal(PAYLOAD, recipients=recipients, signer=partner.signer, codec="jwe")
            want = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": key.kid, "cty": "JWT"}
            spelled = json.dumps(want, separators=(",", ":")).encode()
            assert env.split(b".")[0] == b64url_encode(spelled, pad=False)
            ids = ge.KeySet([key], primary=key.kid)
            opened = ge.open_detailed(env, identities=ids, senders=partner.public_sig)
            assert opened.decrypted_with == key.kid and opened.plaintext == PAYLOAD
    info = _direct._encoded_header.cache_info()
    # Four seals, two headers each: the two recipients' JWE headers and the signer's one JWS
    # header are encoded once, the other five lookups find them.
    assert (info.currsize, info.misses, info.hits) == (3, 3, 5)
