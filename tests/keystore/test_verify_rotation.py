"""verify_rotation: a new key that works passes; a key the peer cannot use fails with a reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pgp_fixtures import Spec, build_key, pgp_party

import gpay_envelope as ge
from gpay_envelope.keystore.rotation import (
    RotationReport,
    for_purpose,
    rotation_candidates,
    verify_rotation,
)


def _jwe(kid: str, use: str) -> ge.Key:
    return ge.generate_key(
        kid=kid, use=use, size=2048, not_after=datetime.now(timezone.utc) + timedelta(days=365)
    )


@pytest.fixture(scope="module")
def jwe_keys() -> dict[str, ge.Key]:
    """Own JWE keys that meet the rules (RSA-2048, a one-year expiry): two of each use."""
    return {kid: _jwe(kid, kid[:3]) for kid in ("enc-1", "enc-2", "sig-1", "sig-2")}


def _set(*keys: ge.Key) -> ge.KeySet:
    return ge.KeySet(keys, primary=keys[0].kid)


def _results(report: RotationReport) -> dict[str, bool | None]:
    return {step.name: step.passed for step in report.steps}


def _detail(report: RotationReport, name: str) -> str:
    return next(step.detail for step in report.steps if step.name == name)


# -- a good new key passes ------------------------------------------------------------------
def test_a_new_pgp_key_passes_both_ways() -> None:
    party = pgp_party()
    keyset = party.secret("p1", "p2")
    p2 = party.kid("p2")
    report = verify_rotation(keyset, p2, public=party.keys["p2"].public())
    assert report.ok and report.failures == () and report.kid == p2 and report.codec == "pgp"
    assert _results(report) == {
        "private half": True,
        "status": True,
        "Google's key rules": True,
        "public key file": True,
        "Google -> you": True,
        "you -> Google": True,
        "current primary": True,
    }
    assert _detail(report, "Google -> you") == f"sealed to its public key, opened by {p2}"
    assert "SHA384" in _detail(report, "you -> Google")


def test_a_new_jwe_encryption_key_passes_inbound(jwe_keys: dict[str, ge.Key]) -> None:
    keyset = _set(jwe_keys["enc-1"], jwe_keys["enc-2"])
    report = verify_rotation(keyset, "enc-2")
    assert report.ok
    results = _results(report)
    assert results["Google -> you"] is True and results["current primary"] is True
    assert results["you -> Google"] is None  # not applicable: it does not sign
    assert "public key file" not in results  # no public file was given
    assert _detail(report, "you -> Google") == "an encryption key does not sign"


def test_a_new_jwe_signing_key_passes_outbound(jwe_keys: dict[str, ge.Key]) -> None:
    keyset = _set(jwe_keys["sig-1"], jwe_keys["sig-2"])
    report = verify_rotation(keyset, "sig-2", public=jwe_keys["sig-2"].public())
    assert report.ok
    assert _results(report)["Google -> you"] is None
    assert "RS256" in _detail(report, "you -> Google")
    assert _detail(report, "current primary") == "still verifies"


# -- a key the peer cannot use fails, with the reason ---------------------------------------
def test_a_pgp_key_without_an_encryption_subkey_fails_the_rules() -> None:
    party = pgp_party()
    (nosub,) = ge.KeySet.from_pgp(build_key(Spec(subkeys=()), secret=True))
    keyset = ge.KeySet([party.keys["p1"], nosub], primary=party.kid("p1"))
    report = verify_rotation(keyset, nosub.kid)
    assert not report.ok
    (failed,) = report.failures
    assert failed.name == "Google's key rules" and "no encryption subkey" in failed.detail
    assert "Google -> you" not in _results(report)  # nothing is sealed for a failing key


def test_a_pgp_key_checked_against_another_public_file_fails() -> None:
    party = pgp_party()
    keyset = party.secret("p1", "p2")
    report = verify_rotation(
        keyset, party.kid("p2"), public=party.keys["g1"].public(), public_label="g1.asc"
    )
    (failed,) = report.failures
    assert failed.name == "public key file"
    assert failed.detail == f"g1.asc: no key {party.kid('p2')}"


def test_an_expired_pgp_key_fails() -> None:
    party = pgp_party()
    report = verify_rotation(
        party.secret("p1", "p2"),
        party.kid("p2"),
        now=datetime.now(timezone.utc) + timedelta(days=400),
    )
    (failed,) = report.failures
    assert failed.name == "Google's key rules" and "expired" in failed.detail


def test_a_jwe_public_half_that_is_not_the_keys_own_fails_inbound(
    jwe_keys: dict[str, ge.Key],
) -> None:
    # Google holds a public key under the right kid that is not this key's: nothing it
    # seals opens.
    keyset = _set(jwe_keys["enc-1"], jwe_keys["enc-2"])
    impostor = _jwe("enc-2", "enc").public()
    report = verify_rotation(keyset, "enc-2", public=impostor)
    (failed,) = report.failures
    assert failed.name == "Google -> you" and failed.detail.startswith("did not open")


def test_a_jwe_public_half_that_is_not_the_keys_own_fails_outbound(
    jwe_keys: dict[str, ge.Key],
) -> None:
    keyset = _set(jwe_keys["sig-1"], jwe_keys["sig-2"])
    impostor = _jwe("sig-2", "sig").public()
    report = verify_rotation(keyset, "sig-2", public=impostor)
    (failed,) = report.failures
    assert failed.name == "you -> Google" and failed.detail.startswith("signature not verified")


def test_a_disabled_or_public_only_key_fails_before_any_message(
    jwe_keys: dict[str, ge.Key],
) -> None:
    keyset = _set(jwe_keys["enc-1"], jwe_keys["enc-2"].with_status(ge.KeyStatus.DISABLED))
    report = verify_rotation(keyset, "enc-2")
    assert [s.name for s in report.failures] == ["status"]
    assert report.failures[0].detail == "disabled: enable it first"
    public_only = _set(jwe_keys["enc-1"], jwe_keys["enc-2"].public())
    report = verify_rotation(public_only, "enc-2")
    assert [s.name for s in report.failures] == ["private half"]
    assert len(report.steps) == 3


def test_an_unknown_kid_is_refused(jwe_keys: dict[str, ge.Key]) -> None:
    with pytest.raises(ge.KeyNotFound):
        verify_rotation(_set(jwe_keys["enc-1"]), "nope")


# -- the helpers the command line uses ------------------------------------------------------
def test_rotation_candidates_are_the_new_keys_of_the_primarys_kind(
    jwe_keys: dict[str, ge.Key],
) -> None:
    mixed = _set(jwe_keys["enc-1"], jwe_keys["sig-1"], jwe_keys["enc-2"])
    assert rotation_candidates(mixed) == ["enc-2"]
    assert rotation_candidates(_set(jwe_keys["enc-1"])) == []


def test_for_purpose_keeps_the_keys_of_one_use(jwe_keys: dict[str, ge.Key]) -> None:
    mixed = _set(jwe_keys["enc-1"], jwe_keys["sig-1"], jwe_keys["sig-2"])
    signers = for_purpose(mixed, "sig", label="--sign-with")
    assert signers.kids == ("sig-1", "sig-2") and signers.primary.kid == "sig-1"
    assert for_purpose(mixed, "enc").kids == ("enc-1",)
    with pytest.raises(ge.KeySetError, match="--to: no ENABLED key with use 'enc'"):
        for_purpose(_set(jwe_keys["sig-1"]), "enc", label="--to")
    pgp = pgp_party().secret("p1")
    assert for_purpose(pgp, "enc") is pgp
