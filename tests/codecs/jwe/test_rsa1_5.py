"""RSA1_5 is opened only on a backend doing implicit rejection, and every padding failure ends
the same way: a random CEK, one opaque error."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import pytest
from jwe_craft import craft

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs.jwe import _codec as jwe_mod
from gpay_envelope.codecs.jwe import _joserfc as jx

PAYLOAD = json.dumps({"requestHeader": {"requestId": "r-1"}, "amount": "12.34"}).encode()


def test_backend_does_implicit_rejection() -> None:
    # The cryptography>=50 wheels carry OpenSSL >= 3.2; if this fails, RSA1_5 is refused.
    assert jwe_mod.implicit_rejection_ok()


def test_backend_without_implicit_rejection_refuses_rsa1_5(
    partner, google, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explicit_rejection(key: Any, ciphertext: bytes) -> bytes:
        raise ValueError("Encryption/decryption failed.")

    monkeypatch.setattr(jwe_mod, "probe_decrypt", explicit_rejection)
    jwe_mod.implicit_rejection_ok.cache_clear()
    try:
        registry = ge.CodecRegistry()
        with caplog.at_level(logging.WARNING, logger="gpay_envelope"):
            registry.register("jwe", jwe_mod.JWECodec)
            registry.get("jwe")
        assert "does not do implicit rejection" in caplog.text
        legacy = ge.seal(
            PAYLOAD,
            recipients=google.public_enc,
            signer=partner.signer,
            codec="jwe",
            profile="legacy",
        )
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(
                legacy, identities=google.identities, senders=partner.public_sig, registry=registry
            )
        current = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
        assert (
            ge.open(
                current, identities=google.identities, senders=partner.public_sig, registry=registry
            )
            == PAYLOAD
        )
    finally:
        monkeypatch.undo()
        jwe_mod.implicit_rejection_ok.cache_clear()
    assert jwe_mod.implicit_rejection_ok()


def test_rsa1_5_model_substitutes_a_random_cek_when_the_backend_raises() -> None:
    class Raising:
        kid = "k"
        key_type = "RSA"

        def get_op_key(self, op: str) -> Any:
            class Op:
                def decrypt(self, data: bytes, pad: Any) -> bytes:
                    raise ValueError("padding check failed")

            return Op()

    class Recipient:
        recipient_key = Raising()
        encrypted_key = b"\x00" * 256

        def headers(self) -> dict[str, str]:
            return {"alg": "RSA1_5", "enc": "A256CBC-HS512"}

    model = jx._RSA15_MODEL
    monkey = pytest.MonkeyPatch()
    monkey.setattr(model, "check_key_type", lambda key: None)
    try:
        a = model.decrypt_cek(Recipient())  # type: ignore[arg-type]
        b = model.decrypt_cek(Recipient())  # type: ignore[arg-type]
    finally:
        monkey.undo()
    assert len(a) == len(b) == 64 and a != b


def test_rsa1_5_padding_classes_are_indistinguishable(google, attempts) -> None:
    """A valid-padding wrong-length CEK, a valid wrong CEK and garbage all end the same way."""
    key = google.identities.primary
    pub = key.material.native.public_key()
    from cryptography.hazmat.primitives.asymmetric import padding

    good = craft({"alg": "RSA1_5", "enc": "A256CBC-HS512", "kid": key.kid}, PAYLOAD, key)
    parts = good.split(b".")
    variants = {
        "wrong 64-byte CEK": pub.encrypt(secrets.token_bytes(64), padding.PKCS1v15()),
        "16-byte CEK": pub.encrypt(secrets.token_bytes(16), padding.PKCS1v15()),
        "empty CEK": pub.encrypt(b"", padding.PKCS1v15()),
        "random bytes": secrets.token_bytes(256),
    }
    errors = set()
    for ek in variants.values():
        parts[1] = b64url_encode(ek, pad=False)
        with pytest.raises(ge.InvalidEnvelope) as info:
            ge.open(
                b".".join(parts), identities=google.identities, senders=None, allow_unsigned=True
            )
        errors.add((type(info.value), str(info.value), info.value.__cause__))
    assert errors == {(ge.InvalidEnvelope, "invalid envelope", None)}
    assert len(attempts) == len(variants)
