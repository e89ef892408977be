"""Every single-byte change and every truncation of a sealed envelope must fail, and fail right."""

from __future__ import annotations

import pytest

import gpay_envelope as ge

PAYLOAD = b'{"requestHeader":{"requestId":"tamper-1"},"amount":"1.00"}'


@pytest.mark.parametrize(
    ("profile", "signed"), [("signed", True), ("legacy", True), ("legacy", False)]
)
def test_every_flip_and_truncation_fails(partner, google, profile, signed) -> None:
    env = ge.seal(
        PAYLOAD,
        recipients=google.public_enc,
        signer=partner.signer if signed else None,
        codec="jwe",
        profile=profile,
        allow_unsigned=not signed,
    )
    kwargs = {
        "identities": google.identities,
        "senders": partner.public_sig,
        "allow_unsigned": not signed,
    }
    assert ge.open(env, **kwargs) == PAYLOAD
    outcomes: dict[str, int] = {}
    for i in range(len(env)):
        for mask in (0x01, 0x20):
            bad = env[:i] + bytes([env[i] ^ mask]) + env[i + 1 :]
            try:
                ge.open(bad, **kwargs)
            except ge.InvalidEnvelope as exc:
                assert exc.__cause__ is None and exc.__context__ is None
                outcomes["InvalidEnvelope"] = outcomes.get("InvalidEnvelope", 0) + 1
            else:
                pytest.fail(f"a flip at byte {i} (mask {mask:#x}) still opened")
    for n in range(len(env)):
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(env[:n], **kwargs)
    # Everything inside a JWE is covered by its tag: tampering never reaches the signature.
    assert outcomes == {"InvalidEnvelope": 2 * len(env)}
