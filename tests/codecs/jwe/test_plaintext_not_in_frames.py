"""A failed JWE open leaves no plaintext where a traceback can reach it (the frames' locals and
the chained exceptions, what error trackers record)."""

from __future__ import annotations

import traceback
import zlib

import pytest
from jwe_craft import craft_raw

import gpay_envelope as ge

SECRET = b'{"pan":"4111111111111111","cvc":"123"}'


def _reachable_bytes(exc: BaseException) -> list[bytes]:
    """Every bytes object in the locals of every frame the exception (and its chain) holds."""
    found: list[bytes] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        for frame, _ in traceback.walk_tb(e.__traceback__):
            for value in frame.f_locals.values():
                if isinstance(value, (bytes, bytearray)):
                    found.append(bytes(value))
                elif hasattr(value, "plaintext") and isinstance(value.plaintext, bytes):
                    found.append(value.plaintext)
        e = e.__cause__ or e.__context__
    return found


def test_no_plaintext_reachable_from_invalid_signature(partner, google) -> None:
    env = ge.seal(SECRET, recipients=google.public_enc, signer=partner.signer, codec="jwe")
    with pytest.raises(ge.InvalidSignature) as info:
        ge.open(env, identities=google.identities, senders=google.public_sig)
    assert info.value.__context__ is None and info.value.__cause__ is None
    assert not [b for b in _reachable_bytes(info.value) if SECRET in b]


def test_no_plaintext_reachable_after_a_failed_inflate(google) -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = c.compress(SECRET * 10) + c.flush()
    token = craft_raw(
        {"alg": "RSA1_5", "enc": "A256CBC-HS512", "zip": "DEF", "kid": "google-enc-1"},
        stream + b"trailing garbage",
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidEnvelope) as info:
        ge.open(token, identities=google.identities, senders=None, allow_unsigned=True)
    assert info.value.__context__ is None
    assert not [b for b in _reachable_bytes(info.value) if SECRET in b]
