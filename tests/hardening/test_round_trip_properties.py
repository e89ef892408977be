"""Property tests: round trips over payload sizes; hostile bytes only give InvalidEnvelope."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpay_envelope as ge

_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_SETTINGS
@given(
    payload=st.one_of(
        st.binary(max_size=2048),
        st.integers(min_value=0, max_value=300_000).map(lambda n: b'{"k":"' + b"v" * n + b'"}'),
        st.integers(min_value=0, max_value=100_000).map(lambda n: bytes(range(256)) * (n // 256)),
    ),
    profile=st.sampled_from(["signed", "legacy", "legacy-a128"]),
)
def test_round_trip(partner, google, payload: bytes, profile: str) -> None:
    env = ge.seal(
        payload, recipients=google.public_enc, signer=partner.signer, codec="jwe", profile=profile
    )
    assert ge.open(env, identities=google.identities, senders=partner.public_sig) == payload


@_SETTINGS
@given(
    junk=st.one_of(
        st.binary(max_size=4096),
        st.lists(st.binary(max_size=300), min_size=5, max_size=5).map(
            lambda parts: b".".join(ge._b64.b64url_encode(p, pad=False) for p in parts)
        ),
    )
)
def test_hostile_bytes_only_give_invalid_envelope(google, junk: bytes) -> None:
    try:
        ge.open(junk, identities=google.identities, senders=None, allow_unsigned=True)
    except ge.InvalidEnvelope:
        return
    raise AssertionError("junk opened")
