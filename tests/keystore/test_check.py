"""Google's key rules: `describe_key`, `check_key` and `check_keyset`."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import keystore_fixtures as kf
import pytest
from pgp_fixtures import DAY, YEAR, Spec, Sub, build_key

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.keystore import Finding, check_key, check_keyset, describe_key

NOW = datetime.now(timezone.utc)


@pytest.fixture
def pgp_pair() -> tuple[ge.Key, ge.Key]:
    return kf.pgp_pair()


def _levels(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.level, f.message) for f in findings]


def _pgp(spec: Spec, *, secret: bool = True) -> ge.Key:
    (key,) = keys_from_pgp(build_key(spec, secret=secret))
    return key


def test_a_fresh_generated_key_meets_the_rules(pgp_pair: tuple[ge.Key, ge.Key]) -> None:
    a, _ = pgp_pair
    assert check_key(a, primary=True) == []
    info = describe_key(a, primary=True)
    assert info.usages == ("certify", "sign", "encrypt")
    assert [p.usages for p in info.parts] == [("certify", "sign"), ("encrypt",)]
    assert info.expires is not None and info.created is not None
    assert timedelta(days=364) < info.expires - info.created <= timedelta(days=366)


@pytest.mark.parametrize(
    ("spec", "secret", "level", "message"),
    [
        (Spec(expires_after=None, subkeys=(Sub(expires_after=None),)), True, "error", "never"),
        (Spec(expires_after=None, subkeys=(Sub(expires_after=None),)), False, "warning", "never"),
        (Spec(expires_after=3 * YEAR, subkeys=(Sub(expires_after=None),)), True, "error", "two"),
        (Spec(expires_after=3 * YEAR, subkeys=(Sub(expires_after=None),)), False, "warning", "two"),
        (Spec(expires_after=500 * DAY), True, "warning", "expire in one year"),
        (Spec(subkeys=()), True, "error", "no encryption subkey"),
        (
            Spec(flags=op.FLAG_CERTIFY | op.FLAG_SIGN | op.FLAG_ENCRYPT, subkeys=()),
            True,
            "error",
            "encrypts with its primary key",
        ),
        (Spec(subkeys=(Sub(revoked=True),)), True, "error", "every encryption subkey"),
        (Spec(subkeys=(Sub(expires_after=10 * DAY),)), True, "error", "subkey expires in"),
        (Spec(expires_after=10 * DAY), True, "error", "expires in 8 days"),
        (Spec(created=int(time.time()) - 2 * YEAR), True, "error", "expired"),
        (
            Spec(flags=op.FLAG_CERTIFY, subkeys=(Sub(),)),
            True,
            "error",
            "no usable signing key",
        ),
    ],
)
def test_pgp_key_rules(spec: Spec, secret: bool, level: str, message: str) -> None:
    key = _pgp(spec, secret=secret)
    found = _levels(check_key(key, primary=True))
    assert any(lv == level and message in msg for lv, msg in found), found


def test_the_warning_window_and_the_as_of_date(pgp_pair: tuple[ge.Key, ge.Key]) -> None:
    a, _ = pgp_pair
    later = NOW + timedelta(days=350)
    assert [f.level for f in check_key(a, primary=True, now=later)] == ["error"]
    assert check_key(a, primary=True, now=later, warn_days=10) == []
    old = check_key(a, primary=False, now=later)[0].message
    assert "finish the rotation" in old
    disabled = a.with_status(ge.KeyStatus.DISABLED)
    assert [f.level for f in check_key(disabled, now=NOW + timedelta(days=400))] == ["warning"]
    assert [f.level for f in check_key(disabled)] == ["note"]


def test_jwe_key_rules() -> None:
    k = ge.generate_key(kid="k", use="enc", size=2048)
    assert "never expires" in check_key(k)[0].message
    assert check_key(k.public())[0].level == "warning"
    made = NOW.replace(microsecond=0)
    good = k.with_validity(not_before=made, not_after=made + timedelta(days=365))
    assert check_key(good) == []
    long = k.with_validity(not_before=made, not_after=made + timedelta(days=800))
    assert [f.level for f in check_key(long)] == ["error"]
    unknown_start = k.with_validity(not_after=made + timedelta(days=800))
    assert "more than two years from now" in check_key(unknown_start)[0].message
    every = ("RSA-OAEP-256", "RSA-OAEP", "RSA1_5", "RS256", "PS256")
    both = ge.generate_key(kid="b", use=None, size=2048, algorithms=every).with_validity(
        not_before=made, not_after=made + timedelta(days=300)
    )
    assert _levels(check_key(both)) == [
        (
            "warning",
            "bound to both encryption and signatures: Google's JWE exchange uses one key per use",
        ),
        ("note", "legacy: bound to RSA1_5 (Google's older JWE text)"),
    ]
    mixed = ge.KeySet([good, both.public()], primary="k")
    messages = [f.message for f in check_keyset(mixed) if f.kid is None]
    assert any("mixes your own keys" in m for m in messages)
