"""``legacy=True`` binds an RSA key to RSA1_5 only.

A key that unwraps both RSA1_5 and RSA-OAEP (or also signs) hands a PKCS#1 v1.5 padding oracle
to those other uses: the cross-protocol risk the algorithm binding exists to stop. Binding one
key to several on purpose stays possible, with an explicit ``algorithms=[...]``.
"""

from __future__ import annotations

import functools
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import gpay_envelope as ge
from gpay_envelope.codecs import jwe
from gpay_envelope.testing import make_jwe_keysets

PAYLOAD = b'{"result":"SUCCESS"}'
BOTH = ["RSA1_5", "RSA-OAEP-256"]


@functools.cache
def _key() -> ge.Key:
    return ge.generate_key(kid="base", use="enc", size=2048)


def _pem() -> bytes:
    native = _key().material.native  # type: ignore[attr-defined]
    pem: bytes = native.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem


def _jwk_without_alg() -> dict[str, object]:
    jwk = _key().to_jwk(include_private=True)
    jwk.pop("alg", None)
    jwk.pop("use", None)
    return {**jwk, "kid": "legacy"}


@functools.cache
def _signer() -> ge.KeySet:
    sig = ge.generate_key(kid="sig", use="sig", size=2048)
    return ge.KeySet([sig], primary="sig")


def _legacy_loads() -> dict[str, ge.Key]:
    jwk = _jwk_without_alg()
    return {
        "generate_key": ge.generate_key(kid="legacy", use="enc", size=2048, legacy=True),
        "codec generate_key": jwe.generate_key(kid="legacy", use="enc", size=2048, legacy=True),
        "Key.from_pem": ge.Key.from_pem(_pem(), kid="legacy", use="enc", legacy=True),
        "Key.from_pem, no use": ge.Key.from_pem(_pem(), kid="legacy", legacy=True),
        "Key.from_jwk": ge.Key.from_jwk(jwk, legacy=True),
        "Key.from_jwk, use enc": ge.Key.from_jwk({**jwk, "use": "enc"}, legacy=True),
        "KeySet.from_jwks": ge.KeySet.from_jwks(json.dumps({"keys": [jwk]}), legacy=True).primary,
        "KeySet.from_pem": ge.KeySet.from_pem({"legacy": _pem()}, legacy=True).primary,
    }


def test_legacy_binds_rsa1_5_only() -> None:
    for how, key in _legacy_loads().items():
        assert key.algorithms == {"RSA1_5"}, how
        assert key.use == "enc", how  # RSA1_5 alone is an encryption binding


def test_legacy_leaves_signature_and_ec_keys_alone() -> None:
    assert ge.generate_key(kid="s", use="sig", size=2048, legacy=True).algorithms == {
        "RS256",
        "PS256",
    }
    native = ec.generate_private_key(ec.SECP256R1())
    pem = native.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert ge.Key.from_pem(pem, kid="ec", legacy=True).algorithms == {"ES256"}


def test_without_legacy_rsa1_5_is_never_implied() -> None:
    assert ge.generate_key(kid="e", use="enc", size=2048).algorithms == {
        "RSA-OAEP-256",
        "RSA-OAEP",
    }
    assert ge.Key.from_jwk(_jwk_without_alg()).algorithms == {
        "RSA-OAEP-256",
        "RSA-OAEP",
        "RS256",
        "PS256",
    }


def test_jwk_alg_and_explicit_algorithms_win_over_legacy() -> None:
    jwk = {**_jwk_without_alg(), "alg": "RSA-OAEP-256"}
    assert ge.Key.from_jwk(jwk, legacy=True).algorithms == {"RSA-OAEP-256"}
    both = ge.generate_key(kid="both", use="enc", size=2048, legacy=True, algorithms=BOTH)
    assert both.algorithms == set(BOTH)
    assert ge.Key.from_pem(_pem(), kid="both", algorithms=BOTH).algorithms == set(BOTH)


def test_a_legacy_key_takes_rsa1_5_envelopes_and_refuses_oaep() -> None:
    key = ge.Key.from_pem(_pem(), kid="legacy", use="enc", legacy=True)
    ours = ge.KeySet([key], primary="legacy")
    env = ge.seal(
        PAYLOAD, recipients=ours.public(), signer=_signer(), codec="jwe", profile="legacy"
    )
    assert ge.open(env, identities=ours, senders=_signer().public()) == PAYLOAD
    with pytest.raises(ge.SealError):
        ge.seal(PAYLOAD, recipients=ours.public(), signer=_signer(), codec="jwe")
    # An RSA-OAEP-256 envelope made for the same RSA key, by a sender that bound it to OAEP:
    oaep_view = ge.KeySet([key.public().with_algorithms(["RSA-OAEP-256"])], primary="legacy")
    oaep_env = ge.seal(PAYLOAD, recipients=oaep_view, signer=_signer(), codec="jwe")
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(oaep_env, identities=ours, senders=_signer().public())


def test_a_key_bound_to_both_on_purpose_opens_both() -> None:
    key = ge.Key.from_pem(_pem(), kid="both", use="enc", algorithms=BOTH)
    ours = ge.KeySet([key], primary="both")
    for profile in ("signed", "legacy"):
        env = ge.seal(
            PAYLOAD, recipients=ours.public(), signer=_signer(), codec="jwe", profile=profile
        )
        assert ge.open(env, identities=ours, senders=_signer().public()) == PAYLOAD


def test_test_key_sets_serve_every_profile() -> None:
    """`make_jwe_keysets` binds its throwaway keys to RSA1_5 and OAEP on purpose, so that one
    set exercises every profile; without ``legacy`` they get the production default."""
    dec, sig = make_jwe_keysets("t", keys=1)
    assert dec.primary.algorithms == {"RSA-OAEP-256", "RSA-OAEP", "RSA1_5"}
    for profile in ("signed", "legacy", "legacy-a128"):
        env = ge.seal(PAYLOAD, recipients=dec.public(), signer=sig, codec="jwe", profile=profile)
        assert ge.open(env, identities=dec, senders=sig.public()) == PAYLOAD
    plain, _ = make_jwe_keysets("p", keys=1, legacy=False)
    assert plain.primary.algorithms == {"RSA-OAEP-256", "RSA-OAEP"}
