"""Token keys against a real PKCS#11 token (SoftHSM2): every private-key operation of both
codecs runs in the token, the error contract is the in-memory one, faults are typed."""

from __future__ import annotations

import shutil
import threading

import pytest
import softhsm as hsm

import gpay_envelope as ge
from gpay_envelope.codecs.jwe import key_to_jwk
from gpay_envelope.pkcs11 import (
    KeyUnavailable,
    Token,
    generate_token_key,
    parse_uri,
    token_key,
)

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def jwe_enc(softhsm):
    _, public = generate_token_key(
        softhsm.uri("jwe-enc"), codec="jwe", kid="tok-enc", size=2048, pin_env=hsm.PIN_ENV
    )
    assert b'"d"' not in public
    return token_key(
        softhsm.uri("jwe-enc"),
        public=public,
        pin_env=hsm.PIN_ENV,
        algorithms=["RSA-OAEP", "RSA1_5", "RSA-OAEP-256"],
    )


def _signing_key(softhsm, label: str):
    key, _ = generate_token_key(
        softhsm.uri(label), codec="jwe", kid=f"tok-{label}", size=2048, use="sig",
        pin_env=hsm.PIN_ENV,
    )  # fmt: skip
    return key


@pytest.fixture(scope="module")
def jwe_sig(softhsm):
    return _signing_key(softhsm, "jwe-sig")


@pytest.fixture(scope="module")
def pgp_token(softhsm):
    return generate_token_key(
        softhsm.uri("pgp"),
        codec="pgp",
        uid="Token <token@example.com>",
        size=2048,
        pin_env=hsm.PIN_ENV,
    )


def _set(key):
    return ge.KeySet([key], primary=key.kid)


def test_uri_refuses_a_pin_value_and_unknown_attributes():
    with pytest.raises(ge.KeySetError, match="pin-value is refused"):
        parse_uri("pkcs11:token=a;object=b?pin-value=1234")
    with pytest.raises(ge.KeySetError, match="unsupported path attribute"):
        parse_uri("pkcs11:token=a;slot-id=3")
    with pytest.raises(ge.KeySetError, match="type=private"):
        parse_uri("pkcs11:token=a;type=cert")
    uri = parse_uri("pkcs11:token=My%20Token;object=k1;id=%01%ff?module-path=/x.so")
    assert (uri.token, uri.object, uri.id, uri.module_path) == (
        "My Token",
        "k1",
        b"\x01\xff",
        "/x.so",
    )


@pytest.mark.parametrize("profile", ["legacy", "legacy-a128"])
def test_jwe_rsa1_5_decryption_and_rs256_signing_in_the_token(jwe_enc, jwe_sig, profile):
    env = ge.seal(
        b"{}", recipients=_set(jwe_enc).public(), signer=_set(jwe_sig), codec="jwe", profile=profile
    )
    assert ge.open(env, identities=_set(jwe_enc), senders=_set(jwe_sig).public()) == b"{}"


def test_ps256_signature_made_in_the_token_verifies(softhsm, partner):
    key = _signing_key(softhsm, "jwe-ps")
    ps = ge.KeySet([key.with_algorithms(["PS256"])], primary=key.kid)
    env = ge.seal(b"y", recipients=partner.public_enc, signer=ps, codec="jwe")
    result = ge.open_detailed(env, identities=partner.identities, senders=ps.public())
    assert result.plaintext == b"y" and "PS256" in result.algorithms


def test_jwe_rsa_oaep_256_decryption_with_the_token(jwe_enc, partner):
    # SoftHSM 2.6 offers CKM_RSA_PKCS_OAEP with SHA-1 only: raw RSA in the token, the
    # OAEP decoding in the process (gpay_envelope/pkcs11/_oaep.py).
    env = ge.seal(b"z", recipients=_set(jwe_enc).public(), signer=partner.signer, codec="jwe")
    assert ge.open(env, identities=_set(jwe_enc), senders=partner.public_sig) == b"z"
    other = ge.generate_key(kid=jwe_enc.kid, size=2048, use="enc")
    env = ge.seal(b"z", recipients=_set(other).public(), signer=partner.signer, codec="jwe")
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=_set(jwe_enc), senders=partner.public_sig)


def test_rsa1_5_bad_padding_in_the_token_is_the_opaque_error(jwe_enc, jwe_sig, monkeypatch):
    # An envelope for another key under the token key's kid: the token meets bad padding.
    other = ge.generate_key(kid=jwe_enc.kid, size=2048, legacy=True)
    env = ge.seal(
        b"{}", recipients=_set(other).public(), signer=_set(jwe_sig), codec="jwe", profile="legacy"
    )
    calls = []
    real = Token.call
    monkeypatch.setattr(
        Token, "call", lambda self, op, **kw: calls.append(1) or real(self, op, **kw)
    )
    with pytest.raises(ge.InvalidEnvelope) as caught:
        ge.open(env, identities=_set(jwe_enc), senders=_set(jwe_sig).public())
    assert calls, "the token was asked to decrypt"
    assert str(caught.value) == ge.InvalidEnvelope.MESSAGE and caught.value.__context__ is None


def test_pgp_decryption_and_signing_in_the_token(pgp_token, pgp_keys):
    key, public = pgp_token
    assert b"PUBLIC KEY BLOCK" in public
    env = ge.seal(b"pgp", recipients=_set(key).public(), signer=_set(key), codec="pgp")
    assert ge.open(env, identities=_set(key), senders=_set(key).public()) == b"pgp"


def test_pgp_session_key_for_another_key_is_the_opaque_error(pgp_token):
    key, public = pgp_token
    other = ge.KeySet.from_pgp(public)  # public only: seal to the token key's public half
    env = bytearray(ge.seal(b"p", recipients=other, signer=None, allow_unsigned=True, codec="pgp"))
    env[40] ^= 1  # inside the PKESK's RSA value
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(bytes(env), identities=_set(key), senders=None, allow_unsigned=True)


def test_no_repr_shows_the_pin(jwe_enc):
    held = jwe_enc.material.held
    text = repr(jwe_enc) + repr(jwe_enc.material) + repr(held) + repr(held.token)
    assert hsm.PIN not in text and "pkcs11:token=gpay-test;object=jwe-enc" in repr(held)


def test_private_half_is_never_exported(jwe_enc, pgp_token):
    with pytest.raises(ge.KeySetError, match="held in a token"):
        key_to_jwk(jwe_enc, include_private=True)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(jwe_enc)


def test_many_threads_share_one_login(jwe_enc, jwe_sig):
    ids, snd = _set(jwe_enc), _set(jwe_sig)
    envs = [
        ge.seal(str(i).encode(), recipients=ids.public(), signer=snd, codec="jwe", profile="legacy")
        for i in range(16)
    ]
    out: list[bytes] = []
    errors: list[BaseException] = []

    def work(env):
        try:
            out.append(ge.open(env, identities=ids, senders=snd.public()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e,)) for e in envs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and sorted(out) == sorted(str(i).encode() for i in range(16))


@pytest.mark.parametrize("fault", ["reset", "removed"])
def test_token_fault_is_typed_and_the_returned_token_is_used_again(
    softhsm, jwe_enc, jwe_sig, tmp_path, fault
):
    ids, snd = _set(jwe_enc), _set(jwe_sig)
    env = ge.seal(b"r", recipients=ids.public(), signer=snd, codec="jwe", profile="legacy")
    assert ge.open(env, identities=ids, senders=snd.public()) == b"r"
    saved = tmp_path / "tokens"
    shutil.copytree(softhsm.root / "tokens", saved)
    if fault == "reset":
        softhsm.reinit()  # wiped and made again: the key objects and the login are gone
    else:
        shutil.rmtree(softhsm.root / "tokens")  # no token in the slot any more
        (softhsm.root / "tokens").mkdir()
    try:
        for _ in range(2):  # the first request meets stale handles, the next a fresh look
            with pytest.raises(KeyUnavailable):
                ge.open(env, identities=ids, senders=snd.public())
    finally:
        shutil.rmtree(softhsm.root / "tokens")
        shutil.copytree(saved, softhsm.root / "tokens")
    # The token is back: the next request reconnects and logs in again by itself.
    assert ge.open(env, identities=ids, senders=snd.public()) == b"r"
