"""Token keys (SoftHSM2) against real peers, both directions: gpg opens what a token key
signed and imports the public key whose self-signatures the token made, and we open with the
token key what gpg sealed to it; jwcrypto the same for JWE (RSA-OAEP-256 and RSA1_5 to the
token key, RS256 / PS256 signatures made in the token)."""

from __future__ import annotations

import json

import pytest
import softhsm as hsm
from pgp_fixtures import GpgPeer, gpg_peer_session, keyset

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode
from gpay_envelope.codecs.pgp import key_to_pgp
from gpay_envelope.pkcs11 import generate_token_key

pytestmark = pytest.mark.interop

MSG = b'{"requestHeader": {"requestId": "token"}, "amount": "7"}\n'


@pytest.fixture(scope="module")
def gpg_peer(tmp_path_factory: pytest.TempPathFactory) -> GpgPeer:
    return gpg_peer_session(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def pgp_token_key(softhsm):
    key, _ = generate_token_key(softhsm.uri("interop-pgp"), codec="pgp", size=2048,
                                uid="Token <token@example.com>", pin_env=hsm.PIN_ENV)  # fmt: skip
    return key


@pytest.fixture(scope="module")
def jwc():
    from conftest import require_peer

    try:
        from jwcrypto import jwe, jwk, jws
    except ImportError:
        require_peer(False, "jwcrypto (pip install -e '.[dev]')")
        raise
    return jwe, jwk, jws


def test_gpg_opens_what_a_token_key_signed(gpg_peer: GpgPeer, pgp_token_key) -> None:
    gpg_peer.gpg.import_keys(key_to_pgp(pgp_token_key))  # self-signatures made in the token
    env = ge.seal(MSG, recipients=keyset(gpg_peer.public("ga")),
                  signer=keyset(pgp_token_key), codec="pgp")  # fmt: skip
    r = gpg_peer.gpg.decrypt(b64url_decode(env))
    assert r.rc == 0, r.status
    assert r.stdout == MSG and r.good_signers() == {pgp_token_key.kid}


def test_we_open_with_a_token_key_what_gpg_sealed(gpg_peer: GpgPeer, pgp_token_key) -> None:
    gpg_peer.gpg.import_keys(key_to_pgp(pgp_token_key))
    msg = gpg_peer.gpg.encrypt(MSG, recipients=[pgp_token_key.kid], signers=[gpg_peer.fprs["ga"]],
                               extra=("--trust-model", "always"))  # fmt: skip
    result = ge.open_detailed(msg, identities=keyset(pgp_token_key),
                              senders=keyset(gpg_peer.public("ga")))  # fmt: skip
    assert result.plaintext == MSG and result.verified_by == (gpg_peer.fprs["ga"],)


@pytest.mark.parametrize(("alg", "enc"), [("RSA-OAEP-256", "A256GCM"), ("RSA1_5", "A256CBC-HS512")])
def test_we_open_with_a_token_key_what_jwcrypto_sealed(softhsm, jwc, google, alg, enc):
    jwe, jwk, jws = jwc
    key, public = generate_token_key(softhsm.uri(f"interop-{alg}"), codec="jwe", kid=f"t-{alg}",
                                     size=2048, use="enc", pin_env=hsm.PIN_ENV)  # fmt: skip
    key = key.with_algorithms([alg])
    sig = google.signer.primary
    s = jws.JWS(MSG)
    s.add_signature(jwk.JWK(**sig.to_jwk(include_private=True)), alg=None,
                    protected=json.dumps({"alg": "RS256", "kid": sig.kid}))  # fmt: skip
    header = {"alg": alg, "enc": enc, "kid": key.kid, "cty": "JWT"}
    e = jwe.JWE(s.serialize(compact=True).encode(), protected=json.dumps(header), algs=[alg, enc])
    e.add_recipient(jwk.JWK(**json.loads(public)))
    token = e.serialize(compact=True)
    assert ge.open(token, identities=ge.KeySet([key], primary=key.kid),
                   senders=google.public_sig) == MSG  # fmt: skip


@pytest.mark.parametrize("sig_alg", ["RS256", "PS256"])
def test_jwcrypto_opens_what_a_token_key_signed(softhsm, jwc, google, sig_alg):
    jwe, jwk, jws = jwc
    key, public = generate_token_key(softhsm.uri(f"interop-{sig_alg}"), codec="jwe",
                                     kid=f"t-{sig_alg}", size=2048, use="sig",
                                     pin_env=hsm.PIN_ENV)  # fmt: skip
    signer = ge.KeySet([key.with_algorithms([sig_alg])], primary=key.kid)
    token = ge.seal(MSG, recipients=google.public_enc, signer=signer, codec="jwe")
    rk = google.identities.primary
    e = jwe.JWE()
    e.allowed_algs = ["RSA-OAEP-256", "A256GCM"]
    e.deserialize(token.decode(), key=jwk.JWK(**rk.to_jwk(include_private=True)))
    s = jws.JWS()
    s.deserialize(e.payload.decode("ascii"))
    s.allowed_algs = [sig_alg]
    s.verify(jwk.JWK(**json.loads(public)))
    assert s.payload == MSG and s.jose_header["kid"] == key.kid
