"""Key and KeySet: invariants, immutable changes, loaders (JWK times, kid spelling, algorithm
binding), export, secret hygiene."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timedelta, timezone

import pytest
from conftest import EVERY_JWE_KEY_ALG
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import gpay_envelope as ge
from gpay_envelope._rotation import TrialBudget, attempts

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def _secret_fragments(key: ge.Key) -> list[str]:
    jwk = key.to_jwk(include_private=True)
    return [jwk[p] for p in ("d", "p", "q", "dp", "dq", "qi") if p in jwk]


def test_keyset_needs_keys() -> None:
    with pytest.raises(ge.KeySetError, match="at least one key"):
        ge.KeySet([], primary="x")


def test_primary_must_exist_and_be_enabled(partner) -> None:
    k1, k2 = list(partner.identities)
    with pytest.raises(ge.KeySetError, match="not in the set"):
        ge.KeySet([k1, k2], primary="nope")
    with pytest.raises(ge.KeySetError, match="must be ENABLED"):
        ge.KeySet([k1.with_status(ge.KeyStatus.DISABLED), k2], primary=k1.kid)


def test_duplicate_kid_refused(partner) -> None:
    k1 = partner.identities.primary
    with pytest.raises(ge.KeySetError, match="duplicate key id 'partner-enc-1'"):
        ge.KeySet([k1, k1.public()], primary=k1.kid)


def test_mixed_codecs_refused(partner) -> None:
    class FakePGP:
        has_secret = False
        kty = "RSA"
        size = 2048
        expires = None

        def public(self) -> FakePGP:
            return self

        def check_binding(self, kid: str, use: str | None, algorithms: frozenset[str]) -> None:
            return None

    pgp_like = ge.Key(kid="pgp-1", codec="pgp", material=FakePGP(), algorithms={"openpgp"})
    with pytest.raises(ge.KeySetError, match="one codec"):
        ge.KeySet([partner.identities.primary, pgp_like], primary="pgp-1")


def test_weak_rsa_key_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = weak.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ge.KeySetError, match="RSA-1024; at least RSA-2048"):
        ge.Key.from_pem(pem, kid="weak")
    with pytest.raises(ge.KeySetError, match="too small"):
        ge.generate_key(kid="weak", size=1024)


def test_rotation_changes_return_new_validated_sets(partner, spare_keys) -> None:
    ks = partner.identities
    new = spare_keys[0]
    added = ks.with_key(new)
    assert added.kids == (*ks.kids, new.kid) and added.primary.kid == ks.primary.kid
    assert ks.kids == ("partner-enc-1", "partner-enc-2")  # the original is untouched
    promoted = added.with_primary(new.kid)
    assert promoted.primary.kid == new.kid
    disabled = promoted.with_status(ks.primary.kid, ge.KeyStatus.DISABLED)
    assert disabled.get(ks.primary.kid).status is ge.KeyStatus.DISABLED
    assert [k.kid for k in disabled.enabled()] == [new.kid, "partner-enc-2"]
    removed = disabled.without(ks.primary.kid)
    assert ks.primary.kid not in removed and len(removed) == 2


def test_primary_cannot_be_disabled_or_removed(partner) -> None:
    ks = partner.identities
    with pytest.raises(ge.KeySetError, match="cannot disable the primary"):
        ks.with_status(ks.primary.kid, ge.KeyStatus.DISABLED)
    with pytest.raises(ge.KeySetError, match="cannot remove the primary"):
        ks.without(ks.primary.kid)
    with pytest.raises(ge.KeyNotFound):
        ks.with_primary("missing")
    with pytest.raises(ge.KeySetError, match="duplicate"):
        ks.with_key(ks.primary)


def test_disabled_key_cannot_be_promoted(partner) -> None:
    ks = partner.identities.with_status("partner-enc-2", ge.KeyStatus.DISABLED)
    with pytest.raises(ge.KeySetError, match="must be ENABLED"):
        ks.with_primary("partner-enc-2")


def test_key_and_keyset_are_immutable(partner) -> None:
    ks = partner.identities
    with pytest.raises(AttributeError):
        ks._primary = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ks.primary._kid = "x"  # type: ignore[misc]
    assert copy.deepcopy(ks) is ks and copy.copy(ks.primary) is ks.primary


def test_repr_and_errors_carry_no_secret(partner) -> None:
    key = partner.identities.primary
    text = repr(partner.identities) + repr(key) + repr(key.material) + str(key.public())
    fragments = _secret_fragments(key)
    assert fragments and all(len(f) > 20 for f in fragments)
    for frag in fragments:
        assert frag not in text
    n = key.to_jwk()["n"]
    assert n not in text  # not even the public modulus
    assert "secret=True" in repr(key) and "partner-enc-1" in repr(key)


def test_pickling_secrets_refused(partner) -> None:
    with pytest.raises(TypeError, match="refusing to pickle a key set that holds secret"):
        pickle.dumps(partner.identities)
    with pytest.raises(TypeError, match="refusing to pickle a key that holds secret"):
        pickle.dumps(partner.identities.primary)
    with pytest.raises(TypeError, match="export them"):
        pickle.dumps(partner.identities.public())


def test_public_strips_every_private_half(partner) -> None:
    pub = partner.identities.public()
    assert not pub.has_secret and partner.identities.has_secret
    for key in pub:
        assert not key.has_secret
        assert "d" not in key.to_jwk(include_private=True)


def test_jwks_export_is_public_by_default_and_round_trips(partner) -> None:
    exported = partner.identities.to_jwks()
    assert all("d" not in k for k in exported["keys"])
    loaded = ge.KeySet.from_jwks(json.dumps(exported), algorithms=EVERY_JWE_KEY_ALG)
    assert loaded.kids == partner.identities.kids and not loaded.has_secret
    assert loaded.primary.algorithms == partner.identities.primary.algorithms
    private = partner.identities.to_jwks(include_private=True)
    again = ge.KeySet.from_jwks(private, algorithms=EVERY_JWE_KEY_ALG, primary="partner-enc-2")
    assert again.has_secret and again.primary.kid == "partner-enc-2"


def test_jwk_alg_binding_defaults() -> None:
    native = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = native.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    enc = ge.Key.from_pem(pem, kid="e", use="enc")
    assert enc.algorithms == {"RSA-OAEP-256", "RSA-OAEP"}  # RSA1_5 is never implied
    legacy = ge.Key.from_pem(pem, kid="l", use="enc", legacy=True)
    assert "RSA1_5" in legacy.algorithms
    sig = ge.Key.from_pem(pem, kid="s", use="sig")
    assert sig.algorithms == {"RS256", "PS256"}
    jwk = {**enc.to_jwk(), "alg": "RSA1_5"}
    del jwk["use"]
    bound = ge.Key.from_jwk(jwk)
    assert bound.algorithms == {"RSA1_5"} and bound.use == "enc"
    with pytest.raises(ge.KeySetError, match="'HS256' is not supported"):
        ge.Key.from_jwk({**enc.to_jwk(), "alg": "HS256"})
    with pytest.raises(ge.KeySetError, match="use 'sig' but is bound to an encryption"):
        ge.Key.from_pem(pem, kid="x", use="sig", algorithms=["RSA-OAEP-256"])


def test_ec_keys_are_signature_only() -> None:
    native = ec.generate_private_key(ec.SECP256R1())
    pem = native.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = ge.Key.from_pem(pem, kid="ec")
    assert key.algorithms == {"ES256"} and key.use == "sig" and key.kty == "EC"
    other = ec.generate_private_key(ec.SECP384R1())
    pem384 = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ge.KeySetError, match="use P-256"):
        ge.Key.from_pem(pem384, kid="ec384")


def test_bad_key_input_gives_keyset_error() -> None:
    with pytest.raises(ge.KeySetError, match="not valid JSON"):
        ge.KeySet.from_jwks("{not json")
    with pytest.raises(ge.KeySetError, match="'keys' list"):
        ge.KeySet.from_jwks({"nokeys": []})
    with pytest.raises(ge.KeySetError, match="kty 'oct'"):
        ge.Key.from_jwk({"kty": "oct", "k": "AAAA"})
    with pytest.raises(ge.KeySetError, match="RSA-17; at least RSA-2048"):
        ge.Key.from_jwk({"kty": "RSA", "n": "AQAB"})
    with pytest.raises(ge.KeySetError, match="could not be parsed"):
        ge.Key.from_jwk({"kty": "RSA", "n": 5})
    with pytest.raises(ge.KeySetError, match="PEM could not be loaded"):
        ge.Key.from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", kid="x")
    with pytest.raises(ge.KeySetError, match="holds no keys"):
        ge.KeySet.from_jwks({"keys": []})


def test_validity_window(partner) -> None:
    key = partner.identities.primary
    windowed = key.with_validity(not_before=NOW, not_after=NOW + timedelta(days=365))
    assert not windowed.usable_at(NOW - timedelta(seconds=1))
    assert windowed.usable_at(NOW)
    assert not windowed.usable_at(NOW + timedelta(days=365))
    assert not windowed.with_status(ge.KeyStatus.DISABLED).usable_at(NOW)
    with pytest.raises(ge.KeySetError, match="timezone-aware"):
        key.with_validity(not_after=datetime(2027, 1, 1))
    with pytest.raises(ge.KeySetError, match="not later than not_before"):
        key.with_validity(not_before=NOW, not_after=NOW)
    jwk = windowed.to_jwk()
    assert jwk["exp"] == int((NOW + timedelta(days=365)).timestamp())
    assert ge.Key.from_jwk(jwk).not_after == NOW + timedelta(days=365)


def _route(keys, kid, limit):
    pairs = attempts((kid,), keys, names=lambda h, k: k.kid == h, budget=TrialBudget(limit))
    return tuple(key for _, key in pairs)


def test_route_bounds_trials(spare_keys) -> None:
    keys = list(spare_keys)
    assert _route(keys, None, 3) == tuple(keys[:3])
    assert _route(keys, "spare-3", 3) == (keys[3],)
    assert _route(keys, "unknown", 3) == ()
    assert _route(keys, None, 0) == ()


def test_weak_rsa_jwk_refused_without_a_warning() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = weak.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    from joserfc.jwk import RSAKey

    jwk = RSAKey(weak.public_key(), pem).as_dict()
    with pytest.raises(ge.KeySetError, match="RSA-1024; at least RSA-2048"):
        ge.Key.from_jwk(jwk)


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
