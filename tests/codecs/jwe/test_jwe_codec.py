"""The JWE codec through the public API: profiles, routing, binding, caps, RSA1_5 safety."""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
import textwrap
import warnings
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwe, jws
from jwe_craft import craft_raw

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode, b64url_encode
from gpay_envelope.codecs.jwe import _codec as jwe_mod
from gpay_envelope.codecs.jwe import _joserfc as jx

PAYLOAD = json.dumps({"requestHeader": {"requestId": "r-1"}, "amount": "12.34"}).encode()
NOW = datetime.now(timezone.utc)


def _reg() -> Any:
    return jx.registries(4 << 20, 8 << 20)


def craft(header: dict[str, Any], payload: bytes, key: ge.Key) -> bytes:
    """Encrypt with exactly this header (our registry: all open algorithms, no warnings)."""
    return jwe.encrypt_compact(header, payload, key.material.jose, registry=_reg().jwe).encode()


def sign(header: dict[str, Any], payload: bytes, key: ge.Key) -> bytes:
    return jws.serialize_compact(header, payload, key.material.jose, registry=_reg().jws).encode()


def header_of(token: bytes) -> dict[str, Any]:
    seg = token.split(b".")[0]
    return json.loads(b64url_decode(seg))


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch, partner, google, spare_keys) -> list[str]:
    """Record the kid of every key-decryption attempt (one private-key operation each)."""
    seen: list[str] = []
    real = jx.perform_decrypt
    known = [*partner.identities, *google.identities, *spare_keys]
    kid_of = {id(k.material.jose): k.kid for k in known}

    def counting(obj: Any, registry: Any) -> None:
        seen.append(kid_of.get(id(obj.recipient.recipient_key), "?"))
        real(obj, registry)

    monkeypatch.setattr(jx, "perform_decrypt", counting)
    return seen


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


def test_seal_key_checks(partner, google) -> None:
    expired_primary = google.public_enc.replace(
        google.public_enc.primary.with_validity(not_after=NOW - timedelta(seconds=1))
    )
    with pytest.raises(ge.SealError, match="expired or not yet valid"):
        ge.seal(PAYLOAD, recipients=expired_primary, signer=partner.signer, codec="jwe")
    with pytest.raises(ge.KeySetError, match="holds no private key"):
        ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.public_sig, codec="jwe")
    with pytest.raises(ge.SealError, match="use 'sig', not 'enc'"):
        ge.seal(PAYLOAD, recipients=google.public_sig, signer=partner.signer, codec="jwe")
    with pytest.raises(ge.UnsupportedCodec, match="unknown JWE profile"):
        ge.seal(
            PAYLOAD,
            recipients=google.public_enc,
            signer=partner.signer,
            codec="jwe",
            profile="fast",
        )
    with pytest.raises(ge.UnsupportedCodec, match="unknown codec 'xml'"):
        ge.seal(PAYLOAD, recipients=google.public_enc, signer=partner.signer, codec="xml")
    with pytest.raises(TypeError, match="plaintext must be bytes"):
        ge.seal("text", recipients=google.public_enc, signer=partner.signer, codec="jwe")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="recipients must be a KeySet"):
        ge.seal(PAYLOAD, recipients=[google.public_enc], signer=partner.signer, codec="jwe")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="senders is required"):
        ge.open(b"x", identities=google.identities, senders=None)


def test_size_caps(partner, google) -> None:
    big = secrets.token_bytes(1 << 20)
    for profile in ("signed", "legacy"):
        env = ge.seal(
            big, recipients=google.public_enc, signer=partner.signer, codec="jwe", profile=profile
        )
        assert ge.open(env, identities=google.identities, senders=partner.public_sig) == big
        small = ge.Limits(max_plaintext=(1 << 20) - 1)
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(env, identities=google.identities, senders=partner.public_sig, limits=small)
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(
                env,
                identities=google.identities,
                senders=partner.public_sig,
                limits=ge.Limits(max_envelope=len(env) - 1),
            )
    with pytest.raises(ge.SealError, match="over the limit"):
        ge.seal(
            big,
            recipients=google.public_enc,
            signer=partner.signer,
            codec="jwe",
            limits=ge.Limits(max_plaintext=1000),
        )
    with pytest.raises(ValueError, match="positive int"):
        ge.Limits(max_trials=0)


# -- DEFLATE ------------------------------------------------------------------------------
def _deflate(data: bytes, level: int = 6) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def test_strict_deflate_cap_is_exact() -> None:
    cap = 256_000
    model = jx.StrictDeflate(cap)
    assert model.decompress(_deflate(b"a" * cap)) == b"a" * cap
    # The sizes where joserfc's own DEFLATE model silently truncated.
    for extra in range(1, 400, 7):
        with pytest.raises(jx.AfterAuth):
            model.decompress(_deflate(b"a" * (cap + extra)))


@pytest.mark.parametrize(
    "stream",
    [
        _deflate(b"hello world" * 100)[:-3],  # truncated
        _deflate(b"hello world") + b"trailing",  # bytes after the end
        zlib.compress(b"hello world"),  # RFC 1950 wrapper: not what RFC 7516 says
        b"\xff\xff\xff",  # not DEFLATE at all
    ],
)
def test_strict_deflate_refuses_bad_streams(stream) -> None:
    with pytest.raises(jx.AfterAuth):
        jx.StrictDeflate(1 << 20).decompress(stream)


def test_truncated_deflate_inside_a_valid_jwe_is_refused(google, attempts) -> None:
    half = _deflate(PAYLOAD * 50)[:40]
    token = craft_raw(
        {"alg": "RSA1_5", "enc": "A256CBC-HS512", "zip": "DEF", "kid": "google-enc-1"},
        half,
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(token, identities=google.identities, senders=None, allow_unsigned=True)
    assert attempts == ["google-enc-1"]  # authenticated, then refused: no further trial


BOMB_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import gpay_envelope as ge

    def hwm_kib():
        # VmHWM belongs to this process's own memory map; ru_maxrss would also count the
        # parent's size at fork time, which Linux carries across exec.
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    keys = ge.KeySet.from_jwks(open(sys.argv[2]).read(), legacy=True)
    token = open(sys.argv[1], "rb").read()
    before = hwm_kib()
    t = time.perf_counter()
    try:
        ge.open(token, identities=keys, senders=None, allow_unsigned=True)
        outcome = "opened"
    except ge.InvalidEnvelope:
        outcome = "InvalidEnvelope"
    took = time.perf_counter() - t
    peak = hwm_kib()
    print(json.dumps({"outcome": outcome, "seconds": took, "rss_before_kib": before,
                      "peak_kib": peak}))
    """
)


def make_bomb(key: ge.Key, size: int = 1 << 30) -> bytes:
    """A zip=DEF JWE whose plaintext inflates to ``size`` zero bytes, sealed to ``key``."""
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    body = b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()
    return craft_raw(
        {"alg": "RSA1_5", "enc": "A256CBC-HS512", "zip": "DEF", "kid": key.kid}, body, key
    )


@pytest.mark.slow
def test_one_gib_deflate_bomb_is_refused_with_small_memory(google, tmp_path: Path) -> None:
    token = make_bomb(google.identities.primary.public())
    assert len(token) < 2 << 20  # about 1.4 MB on the wire
    (tmp_path / "bomb.jwe").write_bytes(token)
    (tmp_path / "keys.json").write_text(json.dumps(google.identities.to_jwks(include_private=True)))
    out = subprocess.run(
        [sys.executable, "-c", BOMB_CHILD, str(tmp_path / "bomb.jwe"), str(tmp_path / "keys.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["outcome"] == "InvalidEnvelope"
    assert result["peak_kib"] < 64 * 1024, result


# -- RSA1_5 --------------------------------------------------------------------------------
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
