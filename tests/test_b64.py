"""Web-safe base64: strict alphabet, optional padding, one spelling per byte string."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpay_envelope._b64 import (
    b64url_decode,
    b64url_encode,
    decode_segment,
    is_b64url,
    split_compact,
)


def reference(data: bytes) -> bytes:
    """A slow, obviously-correct decoder to compare against."""
    if not re.fullmatch(rb"[A-Za-z0-9_-]*={0,2}", data):
        raise ValueError
    body = data.rstrip(b"=")
    pad = len(data) - len(body)
    if len(body) % 4 == 1 or (pad and (len(body) % 4 + pad) % 4):
        raise ValueError
    raw = base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != body:
        raise ValueError
    return raw


@given(st.binary(max_size=64))
def test_round_trip_padded_and_unpadded(raw: bytes) -> None:
    assert b64url_decode(b64url_encode(raw)) == raw
    assert b64url_decode(b64url_encode(raw, pad=False)) == raw


@given(st.binary(max_size=12).map(lambda b: bytes(c for c in b if c in b"ABab09-_=+/ .Q\n")))
def test_agrees_with_the_reference(data: bytes) -> None:
    try:
        expected: bytes | None = reference(data)
    except ValueError:
        expected = None
    try:
        got: bytes | None = b64url_decode(data)
    except ValueError:
        got = None
    assert got == expected


@pytest.mark.parametrize(
    "bad",
    [b"ab+c", b"ab/c", b"abc===", b"a", b"ab=c", b"AB==", b"AAB=", b"QR==", b" QQ==", b"QQ=\n"],
)
def test_refused(bad: bytes) -> None:
    with pytest.raises(ValueError, match="not web-safe base64"):
        b64url_decode(bad)


def test_is_b64url() -> None:
    assert is_b64url(b"abc-_9==") and is_b64url(b"")
    assert not is_b64url(b"abc+") and not is_b64url(b"ab===")


def _decode_compact(value: bytes, parts: int) -> list[bytes] | None:
    segments = split_compact(value, parts)
    return None if segments is None else [decode_segment(s) for s in segments]


@given(st.binary(max_size=12).map(lambda b: bytes(c for c in b if c in b"ABab09-_=+/ .Q\n")))
def test_compact_segments_agree_with_the_reference(data: bytes) -> None:
    # A compact serialization's segments are unpadded: the reference without any "=".
    parts = data.count(b".") + 1
    try:
        expected: list[bytes] | None = (
            None if b"=" in data else [reference(s) for s in data.split(b".")]
        )
    except ValueError:
        expected = None
    try:
        got = _decode_compact(data, parts)
    except ValueError:
        got = None
    assert got == expected


@pytest.mark.parametrize(
    ("value", "parts"),
    [(b"ab.cd", 3), (b"ab.cd.ef.gh", 3), (b"ab.c=.ef", 3), (b"ab.c+.ef", 3), (b"ab.c d.ef", 3)],
)
def test_split_compact_refuses(value: bytes, parts: int) -> None:
    assert split_compact(value, parts) is None


@pytest.mark.parametrize("size", [0, 1, 2, 3, 49151, 49152, 49153, 49154, 200_001, 1 << 20])
def test_long_segments_decode_across_piece_boundaries(size: int) -> None:
    raw = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    text = base64.urlsafe_b64encode(raw).rstrip(b"=")
    assert _decode_compact(text + b"." + text, 2) == [raw, raw]


def test_non_canonical_segment_refused() -> None:
    (segment,) = split_compact(b"QR", 1) or [None]
    assert segment is not None
    with pytest.raises(ValueError, match="not web-safe base64"):
        decode_segment(segment)
