"""The records a codec receives and returns: their repr shows no plaintext, and the fast
constructors `open` uses build exactly what the classes' own constructors build."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

import gpay_envelope as ge
from gpay_envelope.codecs import OpenRequest, OpenResult, OpenTrace, SealRequest
from gpay_envelope.codecs._protocol import open_request, open_result
from gpay_envelope.codecs.jwe import _codec as jwe_codec

SECRET = b'{"pan":"4111111111111111","cvc":"123"}'


def test_seal_request_repr_hides_the_plaintext(partner, google) -> None:
    req = SealRequest(
        plaintext=SECRET,
        recipients=tuple(google.public_enc),
        signers=(),
        profile=None,
        now=datetime.now(timezone.utc),
        limits=ge.DEFAULT_LIMITS,
    )
    assert b"4111".decode() not in repr(req)


def _fields(record: object) -> dict[str, object]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}  # type: ignore[arg-type]


def test_open_result_is_the_one_the_class_builds() -> None:
    args = (SECRET, "jwe", "google-enc-1", ("partner-sig-1",), ("RSA-OAEP-256", "A256GCM"))
    fast, slow = open_result(*args), OpenResult(*args)
    assert type(fast) is OpenResult
    assert fast == slow and _fields(fast) == _fields(slow)
    assert repr(fast) == repr(slow) and "4111" not in repr(fast)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.plaintext = b"changed"  # type: ignore[misc]


def test_open_request_is_the_one_the_class_builds(google) -> None:
    limits = ge.Limits(max_trials=2)
    args = (SECRET, tuple(google.identities), (), False, datetime.now(timezone.utc), limits)
    fast, slow = open_request(*args), OpenRequest(*args)
    assert type(fast) is OpenRequest
    fast_fields, slow_fields = _fields(fast), _fields(slow)
    # The budget and the trace are fresh objects of each request: compared by value.
    for name in ("trials", "trace"):
        assert repr(fast_fields.pop(name)) == repr(slow_fields.pop(name))
    assert fast_fields == slow_fields
    assert fast.trials.left == 2 and fast.trace == OpenTrace()
    other = open_request(*args)
    assert fast.trials is not other.trials and fast.trace is not other.trace
    assert "4111" not in repr(fast)


def test_candidate_keys_follow_the_key_set() -> None:
    # The candidates are cached per tuple of keys: a new set (a rotation step) is a new answer.
    old = ge.generate_key(kid="enc-old", use="enc", size=2048)
    new = ge.generate_key(kid="enc-new", use="enc", size=2048)
    both = ge.KeySet([new, old], primary="enc-new")
    found = jwe_codec._identity_candidates(both.secret_enabled(), "RSA-OAEP-256", "enc-old")
    assert [k.kid for k in found] == ["enc-old"]
    retired = both.with_status("enc-old", ge.KeyStatus.DISABLED)
    assert jwe_codec._identity_candidates(retired.secret_enabled(), "RSA-OAEP-256", "enc-old") == ()
    assert jwe_codec._identity_candidates(both.secret_enabled(), "RSA-OAEP-256", None) == (
        new,
        old,
    )
