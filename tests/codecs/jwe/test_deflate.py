"""JWE ``zip: "DEF"``: strict raw DEFLATE inflated under an exact cap, refused when truncated,
wrapped or followed by bytes, and a 1 GiB bomb refused with little memory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest
from jwe_craft import craft_raw

import gpay_envelope as ge
from gpay_envelope.codecs.jwe import _joserfc as jx

PAYLOAD = json.dumps({"requestHeader": {"requestId": "r-1"}, "amount": "12.34"}).encode()


def _deflate(data: bytes, level: int = 6) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(data) + c.flush()


def test_strict_deflate_cap_is_exact() -> None:
    cap = 256_000
    model = jx.StrictDeflate(cap)
    assert model.decompress(_deflate(b"a" * cap)) == b"a" * cap
    # The sizes where joserfc's own DEFLATE model silently truncated.
    for extra in range(1, 400, 7):
        with pytest.raises(jx.AfterAuth):
            model.decompress(_deflate(b"a" * (cap + extra)))


@pytest.mark.parametrize(
    "stream",
    [
        _deflate(b"hello world" * 100)[:-3],  # truncated
        _deflate(b"hello world") + b"trailing",  # bytes after the end
        zlib.compress(b"hello world"),  # RFC 1950 wrapper: not what RFC 7516 says
        b"\xff\xff\xff",  # not DEFLATE at all
    ],
)
def test_strict_deflate_refuses_bad_streams(stream) -> None:
    with pytest.raises(jx.AfterAuth):
        jx.StrictDeflate(1 << 20).decompress(stream)


def test_truncated_deflate_inside_a_valid_jwe_is_refused(google, attempts) -> None:
    half = _deflate(PAYLOAD * 50)[:40]
    token = craft_raw(
        {"alg": "RSA1_5", "enc": "A256CBC-HS512", "zip": "DEF", "kid": "google-enc-1"},
        half,
        google.identities.primary,
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(token, identities=google.identities, senders=None, allow_unsigned=True)
    assert attempts == ["google-enc-1"]  # authenticated, then refused: no further trial


BOMB_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import gpay_envelope as ge

    def hwm_kib():
        # VmHWM belongs to this process's own memory map; ru_maxrss would also count the
        # parent's size at fork time, which Linux carries across exec.
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    keys = ge.KeySet.from_jwks(open(sys.argv[2]).read(), legacy=True)
    token = open(sys.argv[1], "rb").read()
    before = hwm_kib()
    t = time.perf_counter()
    try:
        ge.open(token, identities=keys, senders=None, allow_unsigned=True)
        outcome = "opened"
    except ge.InvalidEnvelope:
        outcome = "InvalidEnvelope"
    took = time.perf_counter() - t
    peak = hwm_kib()
    print(json.dumps({"outcome": outcome, "seconds": took, "rss_before_kib": before,
                      "peak_kib": peak}))
    """
)


def make_bomb(key: ge.Key, size: int = 1 << 30) -> bytes:
    """A zip=DEF JWE whose plaintext inflates to ``size`` zero bytes, sealed to ``key``."""
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    body = b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()
    return craft_raw(
        {"alg": "RSA1_5", "enc": "A256CBC-HS512", "zip": "DEF", "kid": key.kid}, body, key
    )


@pytest.mark.slow
def test_one_gib_deflate_bomb_is_refused_with_small_memory(google, tmp_path: Path) -> None:
    token = make_bomb(google.identities.primary.public())
    assert len(token) < 2 << 20  # about 1.4 MB on the wire
    (tmp_path / "bomb.jwe").write_bytes(token)
    (tmp_path / "keys.json").write_text(json.dumps(google.identities.to_jwks(include_private=True)))
    out = subprocess.run(
        [sys.executable, "-c", BOMB_CHILD, str(tmp_path / "bomb.jwe"), str(tmp_path / "keys.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["outcome"] == "InvalidEnvelope"
    assert result["peak_kib"] < 64 * 1024, result


def test_unsigned_envelope_inflates_no_further_than_the_plaintext_cap(google, monkeypatch):
    caps: list[int] = []
    real = jx.StrictDeflate.decompress

    def spy(self: Any, s: bytes) -> bytes:
        caps.append(self.cap)
        return real(self, s)

    monkeypatch.setattr(jx.StrictDeflate, "decompress", spy)
    limits = ge.Limits(max_plaintext=1000)
    env = ge.seal(
        b"a" * 1001,
        recipients=google.public_enc,
        signer=None,
        codec="jwe",
        profile="legacy",
        allow_unsigned=True,
    )
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=google.identities, senders=None, allow_unsigned=True, limits=limits)
    assert caps == [1000]
