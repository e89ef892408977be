"""The direct path (`_direct`: RSA-OAEP(-256) + AES-GCM, RSASSA with `cryptography`) gives
every envelope the verdict joserfc's models give it: the same error, or the same plaintext,
key and algorithms.

The reference run is the same codec with its two crypto steps swapped back to joserfc's
models (the codec's joserfc decryption path, `_codec._decrypt`, and the JWS algorithm model's
``verify``), so header rules, caps and key routing are identical and only the cryptography
differs. The envelopes
are real ones, crafted ones with every OAEP/GCM pair, and seeded random mutations of both.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe, jws
from joserfc.jwk import RSAKey
from jwe_craft import craft, sign

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs.jwe import _codec, _direct
from gpay_envelope.codecs.jwe import _joserfc as jx

PAYLOAD = json.dumps({"requestId": "r-1", "amount": "12.30", "note": "x" * 300}).encode()
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _joserfc_verify(model: Any, signing_input: Any, signature: bytes, key: Any) -> bool:
    model.check_key(key)
    return bool(model.verify(bytes(signing_input), signature, key))


def _verdict(env: bytes, google: Any, partner: Any, allow_unsigned: bool) -> tuple[Any, ...]:
    try:
        r = ge.open_detailed(
            env,
            identities=google.identities,
            senders=partner.public_sig,
            allow_unsigned=allow_unsigned,
        )
    except (ge.InvalidEnvelope, ge.InvalidSignature) as exc:
        return (type(exc).__name__,)
    return ("opened", r.plaintext, r.decrypted_with, r.verified_by, r.algorithms)


def _b64(data: bytes) -> bytes:
    return b64url_encode(data, pad=False)


def _hand_made(header: dict[str, Any], content: bytes, key: ge.Key, *, iv: int, cek: int) -> bytes:
    """A JWE whose IV and content key sizes are chosen, authenticated with AES-GCM."""
    protected = _b64(json.dumps(header).encode())
    k, nonce = os.urandom(cek), os.urandom(iv)
    public = key.material.native.public_key()  # type: ignore[attr-defined]
    ek = public.encrypt(k, _direct.OAEP[header["alg"]])
    sealed = AESGCM(k).encrypt(nonce, content, protected)
    return b".".join((protected, _b64(ek), _b64(nonce), _b64(sealed[:-16]), _b64(sealed[-16:])))


def _bases(partner: Any, google: Any) -> list[bytes]:
    enc = google.identities.primary
    inner = sign(
        {"alg": "RS256", "kid": partner.signer.primary.kid}, PAYLOAD, partner.signer.primary
    )
    ps = sign({"alg": "PS256", "kid": partner.signer.primary.kid}, PAYLOAD, partner.signer.primary)
    out = [
        ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe"),
        _hand_made(
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}, inner, enc, iv=16, cek=32
        ),
        _hand_made(
            {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT"}, inner, enc, iv=12, cek=16
        ),
        _hand_made(
            {"alg": "RSA-OAEP", "enc": "A128GCM", "kid": enc.kid}, inner, enc, iv=12, cek=16
        ),
    ]
    for alg in ("RSA-OAEP", "RSA-OAEP-256"):
        for e in ("A128GCM", "A192GCM", "A256GCM"):
            out.append(craft({"alg": alg, "enc": e, "kid": enc.kid, "cty": "JWT"}, inner, enc))
            out.append(craft({"alg": alg, "enc": e, "zip": "DEF"}, ps, enc))
            out.append(craft({"alg": alg, "enc": e, "kid": enc.kid}, PAYLOAD, enc))
    # Over 64 KiB of ciphertext: decrypted by the streaming interface, tag apart.
    big = b"[" + b",".join([PAYLOAD] * 250) + b"]"
    out.append(ge.seal(big, recipients=google.public_enc, signer=partner.signer, codec="jwe"))
    # A key of ours that is not the primary, and one with the wrong kid.
    second = google.identities.get("google-enc-2")
    out.append(craft({"alg": "RSA-OAEP-256", "enc": "A256GCM"}, inner, second))
    out.append(
        craft({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "google-enc-1"}, inner, second)
    )
    return out


def _mutations(env: bytes, rnd: random.Random, n: int) -> Iterator[bytes]:
    parts = env.split(b".")
    for _ in range(n):
        seg = list(parts)
        i = rnd.randrange(len(seg))
        how = rnd.randrange(6)
        s = seg[i].decode()
        if how == 0 and s:  # one character changed
            j = rnd.randrange(len(s))
            s = s[:j] + rnd.choice(ALPHABET) + s[j + 1 :]
        elif how == 1 and s:  # one character dropped
            j = rnd.randrange(len(s))
            s = s[:j] + s[j + 1 :]
        elif how == 2:  # random bytes of a nearby size (IV 8-16, tag 12-20, ...)
            s = _b64(os.urandom(max(0, len(s) * 3 // 4 + rnd.randrange(-4, 5)))).decode()
        elif how == 3:  # the segment emptied
            s = ""
        elif how == 4 and i == 0:  # the header changed and re-encoded
            h = json.loads(jx.decode_segment(memoryview(seg[0])))
            h[rnd.choice(["alg", "enc", "kid", "zip", "cty", "typ"])] = rnd.choice(
                ["RSA-OAEP", "A128GCM", "A256CBC-HS512", "DEF", "JWT", 1, None, "google-enc-2"]
            )
            s = _b64(json.dumps(h).encode()).decode()
        else:  # the last bits of the segment changed
            s = s[:-1] + rnd.choice(ALPHABET) if s else s
        seg[i] = s.encode()
        yield b".".join(seg)


def _joserfc_signature_ok(
    alg: str, model: Any, key: Any, signing_input: Any, signature: bytes
) -> bool:
    # The codec passes no model for the algorithms it checks directly: take joserfc's.
    if model is None:
        model = jws.JWSRegistry(algorithms=[alg]).get_alg(alg)
    return _joserfc_verify(model, signing_input, signature, _codec._jose(key))


def _swap_to_joserfc(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same codec, with its two direct steps routed to joserfc's models.
    monkeypatch.setattr(_codec, "_decrypt_gcm", _codec._decrypt)
    monkeypatch.setattr(_codec, "_signature_ok", _joserfc_signature_ok)


def test_random_and_mutated_envelopes_get_joserfc_s_verdict(partner, google, monkeypatch):
    rnd = random.Random(7520)
    envelopes: list[bytes] = []
    for base in _bases(partner, google):
        envelopes.append(base)
        envelopes.extend(_mutations(base, rnd, 12))
    # Random envelopes: five base64url segments of plausible sizes.
    for _ in range(20):
        sizes = (rnd.randrange(0, 80), 256, rnd.choice([8, 12, 16]), rnd.randrange(0, 600), 16)
        envelopes.append(b".".join(_b64(os.urandom(n)) for n in sizes))

    direct_calls: list[int] = []
    real = _direct.decrypt_gcm
    direct_checks: list[int] = []
    real_verify = _direct.verify_rsa
    monkeypatch.setattr(_direct, "decrypt_gcm", lambda *a: (direct_calls.append(1), real(*a))[1])
    monkeypatch.setattr(
        _direct, "verify_rsa", lambda *a: (direct_checks.append(1), real_verify(*a))[1]
    )
    ours = [_verdict(e, google, partner, u) for e in envelopes for u in (False, True)]
    taken, checked = len(direct_calls), len(direct_checks)
    _swap_to_joserfc(monkeypatch)
    theirs = [_verdict(e, google, partner, u) for e in envelopes for u in (False, True)]

    assert taken > len(envelopes) and checked > 0  # the direct path did the first run's work
    assert (len(direct_calls), len(direct_checks)) == (taken, checked)  # none of the reference
    kinds = {v[0] for v in ours}
    assert kinds == {"opened", "InvalidEnvelope", "InvalidSignature"}
    cases = [(e, u) for e in envelopes for u in (False, True)]
    mismatches = [(c, a, b) for c, a, b in zip(cases, ours, theirs, strict=True) if a != b]
    assert ours == theirs, mismatches[:3]


def test_direct_seal_opens_with_joserfc_public_api(partner, google):
    env = ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    enc_key = RSAKey(
        google.identities.primary.material.native, google.identities.primary.material.native
    )  # type: ignore[attr-defined]
    sig_pub = partner.signer.primary.material.native.public_key()  # type: ignore[attr-defined]
    obj = jwe.decrypt_compact(
        env, enc_key, registry=jwe.JWERegistry(algorithms=["RSA-OAEP-256", "A256GCM"])
    )
    assert obj.protected == {
        "alg": "RSA-OAEP-256",
        "enc": "A256GCM",
        "kid": "google-enc-1",
        "cty": "JWT",
    }
    assert obj.plaintext is not None
    inner = jws.deserialize_compact(
        obj.plaintext, RSAKey(sig_pub, sig_pub), registry=jws.JWSRegistry(algorithms=["RS256"])
    )
    assert inner.payload == PAYLOAD
    assert inner.protected == {"alg": "RS256", "kid": "partner-sig-1"}
