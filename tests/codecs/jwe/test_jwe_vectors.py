"""Public vectors (tests/vectors/README.md): RFC 7520 cookbook and Wycheproof."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

import gpay_envelope as ge
from gpay_envelope.codecs.jwe import _joserfc as jx

VECTORS = Path(__file__).resolve().parents[2] / "vectors"
COOKBOOK = VECTORS / "rfc7520-cookbook"
WYCHEPROOF = VECTORS / "wycheproof" / "testvectors_v1"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "name",
    [
        "jwe/5_1.key_encryption_using_rsa_v15_and_aes-hmac-sha2.json",
        "jwe/5_2.key_encryption_using_rsa-oaep_with_aes-gcm.json",
    ],
)
def test_cookbook_jwe_opens(name: str) -> None:
    case = load(COOKBOOK / name)
    key = ge.Key.from_jwk(case["input"]["key"], algorithms=[case["input"]["alg"]])
    keys = ge.KeySet([key], primary=key.kid)
    res = ge.open_detailed(
        case["output"]["compact"], identities=keys, senders=None, allow_unsigned=True
    )
    assert res.plaintext == case["input"]["plaintext"].encode("utf-8")
    assert res.algorithms[:2] == (case["input"]["alg"], case["input"]["enc"])


def test_cookbook_symmetric_key_wrap_is_not_allowed(partner) -> None:
    case = load(COOKBOOK / "jwe/5_9.compressed_content.json")
    with pytest.raises(ge.KeySetError, match="kty 'oct'"):
        ge.Key.from_jwk(case["input"]["key"])
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(
            case["output"]["compact"],
            identities=partner.identities,
            senders=None,
            allow_unsigned=True,
        )


def test_cookbook_nested_ps256_in_rsa_oaep() -> None:
    case = load(COOKBOOK / "6.nesting_signatures_and_encryption.json")
    enc_key = ge.Key.from_jwk(case["encrypt"]["input"]["key"])
    sig_key = ge.Key.from_jwk(case["sign"]["input"]["key"]).public()
    res = ge.open_detailed(
        case["encrypt"]["output"]["compact"],
        identities=ge.KeySet([enc_key], primary=enc_key.kid),
        senders=ge.KeySet([sig_key], primary=sig_key.kid),
    )
    assert res.plaintext == case["sign"]["input"]["payload"].encode()
    assert res.verified_by == ("hobbiton.example",)
    assert res.algorithms == ("RSA-OAEP", "A128GCM", "PS256")


def test_cookbook_rs256_jws_verifies_inside_our_jwe(google) -> None:
    case = load(COOKBOOK / "jws/4_1.rsa_v15_signature.json")
    signer = ge.Key.from_jwk(case["input"]["key"]).public()
    token = jwe.encrypt_compact(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1", "cty": "JWT"},
        case["output"]["compact"].encode(),
        google.identities.primary.material.jose,
        registry=jx.registries(1 << 20, 1 << 21).jwe,
    )
    res = ge.open_detailed(
        token, identities=google.identities, senders=ge.KeySet([signer], primary=signer.kid)
    )
    assert res.plaintext == case["input"]["payload"].encode("utf-8")
    assert res.verified_by == (signer.kid,) and res.algorithms[-1] == "RS256"
    other = google.public_sig
    with pytest.raises(ge.InvalidSignature):
        ge.open(token, identities=google.identities, senders=other)


def _wycheproof_rsa_cases() -> list[Any]:
    data = load(WYCHEPROOF / "json_web_encryption_test.json")
    cases = []
    for group in data["testGroups"]:
        if group["private"].get("kty") != "RSA":
            continue
        for test in group["tests"]:
            cases.append(pytest.param(group["private"], test, id=f"tc{test['tcId']}"))
    return cases


@pytest.mark.parametrize(("jwk", "test"), _wycheproof_rsa_cases())
def test_wycheproof_jwe_rsa(jwk: dict[str, Any], test: dict[str, Any]) -> None:
    key = ge.Key.from_jwk(jwk)  # bound to the JWK's own "alg", as the vectors expect
    keys = ge.KeySet([key], primary=key.kid)
    if test["result"] == "valid":
        got = ge.open(test["jwe"], identities=keys, senders=None, allow_unsigned=True)
        assert got == bytes.fromhex(test["pt"])
    else:
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(test["jwe"], identities=keys, senders=None, allow_unsigned=True)


def test_wycheproof_jwe_non_rsa_algorithms_are_refused(partner) -> None:
    data = load(WYCHEPROOF / "json_web_encryption_test.json")
    refused = 0
    for group in data["testGroups"]:
        if group["private"].get("kty") == "RSA":
            continue
        for test in group["tests"]:
            if not isinstance(test["jwe"], str):
                continue  # JSON serialization: never accepted, checked below
            with pytest.raises(ge.InvalidEnvelope):
                ge.open(
                    test["jwe"], identities=partner.identities, senders=None, allow_unsigned=True
                )
            refused += 1
    assert refused > 50


class _Recipient:
    """The part of joserfc's Recipient that a key-encryption model reads."""

    def __init__(self, key: RSAKey, ek: bytes, enc: str) -> None:
        self.recipient_key = key
        self.encrypted_key = ek
        self._enc = enc

    def headers(self) -> dict[str, str]:
        return {"alg": "RSA1_5", "enc": self._enc}


_ENC_FOR_SIZE = {
    16: "A128GCM",
    24: "A192GCM",
    32: "A256GCM",
    48: "A192CBC-HS384",
    64: "A256CBC-HS512",
}


def _groups(name: str) -> list[Any]:
    data = load(WYCHEPROOF / name)
    out = []
    for group in data["testGroups"]:
        native = serialization.load_pem_private_key(group["privateKeyPem"].encode(), None)
        key = RSAKey(native, native)
        for test in group["tests"]:
            out.append(pytest.param(key, test, id=f"tc{test['tcId']}"))
    return out


@pytest.mark.parametrize(("key", "test"), _groups("rsa_pkcs1_2048_test.json"))
def test_wycheproof_rsa1_5_unwrap_model(key: RSAKey, test: dict[str, Any]) -> None:
    msg = bytes.fromhex(test["msg"])
    ct = bytes.fromhex(test["ct"])
    enc = _ENC_FOR_SIZE.get(len(msg), "A256CBC-HS512")
    size = jx.CEK_BYTES[enc]
    cek = jx._RSA15_MODEL.decrypt_cek(_Recipient(key, ct, enc))  # type: ignore[arg-type]
    assert len(cek) == size  # never raises, always a CEK of the right size
    if test["result"] == "valid" and len(msg) == size:
        assert cek == msg
    else:
        assert cek != msg


@pytest.mark.parametrize(("key", "test"), _groups("rsa_oaep_2048_sha256_mgf1sha256_test.json"))
def test_wycheproof_rsa_oaep_256_model(key: RSAKey, test: dict[str, Any]) -> None:
    if test.get("label"):
        pytest.skip("JOSE RSA-OAEP-256 uses no label")
    model = jx.registries(1 << 20, 1 << 21).jwe.get_alg("RSA-OAEP-256")
    rcpt = _Recipient(key, bytes.fromhex(test["ct"]), "A256GCM")
    if test["result"] == "valid":
        assert model.decrypt_cek(rcpt) == bytes.fromhex(test["msg"])  # type: ignore[arg-type]
    else:
        with pytest.raises(JoseError):
            model.decrypt_cek(rcpt)  # type: ignore[arg-type]
