"""`wire.compression`: inflation under a cap, a ratio and, for BZip2, an input and block bound."""

from __future__ import annotations

import bz2
import os
import zlib
from itertools import cycle

import pytest

from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp.wire import compression

KIB, MIB = 1 << 10, 1 << 20
CAP = 4 * MIB + 256 * KIB  # what the codec passes: max_plaintext + room for the packets


def _body(algo: int, data: bytes) -> bytes:
    if algo == op.COMP_BZIP2:
        return bytes((algo,)) + bz2.compress(data, 9)
    return bytes((algo,)) + op.compress(algo, data)


def test_the_limit_is_the_floor_plus_16_per_compressed_byte_under_the_cap() -> None:
    assert compression.inflate_limit(0, CAP) == 256 * KIB
    assert compression.inflate_limit(1000, CAP) == 256 * KIB + 16_000
    assert compression.inflate_limit(MIB, CAP) == CAP
    assert compression.inflate_limit(10, 100) == 100


ALGOS = [op.COMP_ZIP, op.COMP_ZLIB, op.COMP_BZIP2]


@pytest.mark.parametrize("algo", ALGOS)
def test_output_at_the_cap_inflates_and_one_byte_more_is_refused(algo: int) -> None:
    data = bytes(200 * KIB)
    body = _body(algo, data)
    assert compression.decompress(body, cap=len(data)) == (algo, data)
    with pytest.raises(op.Malformed):
        compression.decompress(body, cap=len(data) - 1)


def _one_in_sixteen(n: int) -> bytes:
    """About 10:1 with ZIP: a random byte in every 16."""
    return b"".join(os.urandom(1) + bytes(15) for _ in range(n // 16))


@pytest.mark.parametrize("algo", ALGOS)
def test_past_the_floor_the_ratio_decides(algo: int) -> None:
    zeros = _body(algo, bytes(2 * MIB))  # 1000:1 and more
    with pytest.raises(op.Malformed):
        compression.decompress(zeros, cap=CAP)
    data = _one_in_sixteen(2 * MIB)
    body = _body(algo, data)
    assert 2 * MIB < 16 * (len(body) - 1)
    assert compression.decompress(body, cap=CAP) == (algo, data)


def test_incompressible_data_up_to_the_cap_inflates() -> None:
    data = os.urandom(CAP)
    assert compression.decompress(_body(op.COMP_ZIP, data), cap=CAP)[1] == data


def test_a_bzip2_stream_over_256_kib_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []
    real = bz2.BZ2Decompressor
    monkeypatch.setattr(compression.bz2, "BZ2Decompressor", lambda: made.append(1) or real())
    under = _body(op.COMP_BZIP2, os.urandom(250 * KIB))
    assert len(under) - 1 <= compression.BZIP2_MAX_INPUT
    compression.decompress(under, cap=CAP)
    over = _body(op.COMP_BZIP2, os.urandom(257 * KIB))
    assert len(over) - 1 > compression.BZIP2_MAX_INPUT
    with pytest.raises(op.Malformed):
        compression.decompress(over, cap=CAP)
    assert made == [1]


def _runs_of_four(n: int) -> bytes:
    """n bytes in runs of exactly four: the initial run-length step turns each run into five
    symbols, the most symbols per byte a BZip2 block can have (1.25)."""
    letters = cycle(range(97, 123))
    return b"".join(bytes((next(letters),)) * 4 for _ in range(n // 4))


def test_the_block_size_digit_is_lowered_to_what_the_limit_needs() -> None:
    stream = bz2.compress(b"hello", 9)
    assert stream[:4] == b"BZh9"
    assert compression.bzip2_block_bound(stream, 256 * KIB)[:4] == b"BZh4"  # 327,680 symbols
    assert compression.bzip2_block_bound(stream, 4 * MIB) == stream
    assert compression.bzip2_block_bound(bz2.compress(b"hello", 2), 256 * KIB)[:4] == b"BZh2"
    for junk in (b"", b"BZ", b"BZh0xxxx", b"BZhAxxxx", b"\x00" * 8):
        assert compression.bzip2_block_bound(junk, 0) == junk


def test_a_stream_within_the_limit_decodes_the_same_with_the_lowered_digit() -> None:
    data = _runs_of_four(400_000)  # one block of 500,000 symbols
    stream = bz2.compress(data, 9)
    lowered = compression.bzip2_block_bound(stream, len(data))
    assert lowered[:4] == b"BZh6"
    assert bz2.BZ2Decompressor().decompress(lowered) == data


def test_libbz2_refuses_a_block_over_the_lowered_digit_before_any_output() -> None:
    """What the digit buys: a block too long for the limit is refused when libbz2 reaches its
    end, instead of being decoded (900,000 symbols from 40 bytes) and then cut by the cap."""
    data = _runs_of_four(400_000)
    stream = bz2.compress(data, 9)
    assert len(bz2.BZ2Decompressor().decompress(stream, 1)) == 1  # the whole block decoded
    with pytest.raises(OSError, match="Invalid data stream"):
        bz2.BZ2Decompressor().decompress(compression.bzip2_block_bound(stream, 300_000), 1)


def test_corrupt_truncated_and_trailed_streams_are_refused() -> None:
    good = _body(op.COMP_ZLIB, b"x" * 1000)
    for bad in (good[:-3], good + b"\x00", good[:5] + b"\xff" + good[6:], b"\x07abc", b""):
        with pytest.raises(op.Malformed):
            compression.decompress(bad, cap=CAP)
    raw = zlib.compress(b"y")
    assert compression.decompress(b"\x02" + raw, cap=CAP) == (op.COMP_ZLIB, b"y")
