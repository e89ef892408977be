"""Compressed data packets (RFC 4880 section 5.6): ZIP, ZLIB and BZip2, inflated under a cap."""

from __future__ import annotations

import bz2
import zlib
from collections.abc import Callable
from functools import partial
from typing import Final

from .registry import COMP_BZIP2, COMP_NONE, COMP_ZIP, COMP_ZLIB, Malformed


def compress(algo: int, data: bytes) -> bytes:
    """Compress for a compressed data packet body (without the algorithm octet)."""
    if algo == COMP_ZIP:
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    if algo == COMP_ZLIB:
        return zlib.compress(data, 6)
    raise ValueError("unsupported compression")


#: Inflation allowed per compressed byte, above a floor (`inflate_limit`). What an open costs
#: after inflating grows with the bytes inflated (hashing them once per signature type and
#: digest, up to six times, the text canonicalisation, the copies), about 12 ns a byte, so
#: without this a few KB of ZIP or BZip2 that inflate to the 4 MiB cap cost 130 to 160
#: normal opens. The floor lets any message up to 256 KiB through whatever its ratio (Google
#: Pay payloads are a few KB); above it real payloads compress 3:1 to 10:1 (JSON), far from
#: 16:1, while zeros go 1000:1 with ZIP and much further with BZip2.
INFLATE_FLOOR: Final = 256 << 10
INFLATE_RATIO: Final = 16
#: Most compressed bytes of a BZip2 stream. Decoding BZip2 costs about 40 ns per compressed
#: byte of incompressible data (Huffman decoding and the inverse BWT), 6 to 10 times what the
#: rest of an open costs per envelope byte: a 4 MiB stream took 0.2 s, 500 normal opens. At
#: 256 KiB (about 1 MiB of JSON) the worst BZip2 envelope costs about 30 normal opens. Our
#: keys ask for ZIP, ZLIB or nothing (preferred compression), so no peer that reads them
#: sends BZip2 at all.
BZIP2_MAX_INPUT: Final = 256 << 10
_BZIP2_MAGIC: Final = b"BZh"
#: Most symbols one BZip2 block holds, per unit of the block-size digit of its header.
_BZIP2_BLOCK_UNIT: Final = 100_000


def inflate_limit(compressed: int, cap: int) -> int:
    """Most bytes ``compressed`` bytes may inflate to: ``cap``, or less for a small input."""
    return min(cap, INFLATE_FLOOR + INFLATE_RATIO * compressed)


def decompress(body: bytes, *, cap: int) -> tuple[int, bytes]:
    """Inflate a compressed data packet with at most ``cap`` bytes of output, and at most
    `inflate_limit` of its size.

    The limit is enforced while inflating (``max_length``), so a bomb costs at most the limit
    in bytes and the time to produce them. A stream that is over the limit, truncated, or
    followed by other bytes is refused, never cut; so is a BZip2 stream over
    `BZIP2_MAX_INPUT`, and a BZip2 block too large for the limit is refused before it is
    decoded (`bzip2_block_bound`).
    """
    if not body:
        raise Malformed("empty compressed packet")
    algo, data = body[0], body[1:]
    if algo == COMP_NONE:
        if len(data) > cap:
            raise Malformed("over the cap")
        return algo, data
    inflate = _INFLATERS.get(algo)
    if inflate is None:
        raise Malformed("unsupported compression")
    limit = inflate_limit(len(data), cap)
    try:
        out, done, rest = inflate(data, limit)
    except (zlib.error, OSError, EOFError, ValueError):
        raise Malformed("corrupt compressed data") from None
    if len(out) > limit or not done or rest:
        raise Malformed("compressed data over the limit, truncated or trailed")
    return algo, out


def _inflate_zlib(wbits: int, data: bytes, limit: int) -> tuple[bytes, bool, bytes]:
    """(output, stream ended, bytes left over) of a ZIP (raw DEFLATE) or ZLIB stream."""
    z = zlib.decompressobj(wbits)
    out = z.decompress(data, limit + 1)
    return out, z.eof, z.unused_data or z.unconsumed_tail


def _inflate_bzip2(data: bytes, limit: int) -> tuple[bytes, bool, bytes]:
    """The same for BZip2, refused over `BZIP2_MAX_INPUT`, blocks bounded by the limit."""
    if len(data) > BZIP2_MAX_INPUT:
        raise Malformed("BZip2 stream over its bound")
    b = bz2.BZ2Decompressor()
    out = b.decompress(bzip2_block_bound(data, limit), limit + 1)
    return out, b.eof, b.unused_data


_INFLATERS: Final[dict[int, Callable[[bytes, int], tuple[bytes, bool, bytes]]]] = {
    COMP_ZIP: partial(_inflate_zlib, -zlib.MAX_WBITS),
    COMP_ZLIB: partial(_inflate_zlib, zlib.MAX_WBITS),
    COMP_BZIP2: _inflate_bzip2,
}


def bzip2_block_bound(stream: bytes, limit: int) -> bytes:
    """``stream`` with the block-size digit of its header lowered to the least that holds
    every block of a stream inflating to at most ``limit`` bytes.

    The digit k (1 to 9) tells libbz2 that no block holds more than k x 100,000 symbols; it
    refuses a longer block as corrupt as soon as it gets there, and allocates k x 400 KB for
    decoding. A block's symbols are its data after the initial run-length step, which turns
    runs of 4 to 255 equal bytes into 5 symbols: a block of L symbols inflates to at least
    0.8 L bytes. So a stream inflating to at most ``limit`` bytes has no block over
    1.25 x ``limit`` symbols and decodes the same with the lowered digit, and a stream with a
    longer block was going to be refused anyway, over the limit: only the work of decoding
    such a block (up to 900,000 symbols out of a few dozen input bytes) is saved. The digit is
    covered by no checksum. Anything that is not a stream header is left for libbz2 to refuse.
    """
    if len(stream) < 4 or not stream.startswith(_BZIP2_MAGIC) or not 0x31 <= stream[3] <= 0x39:
        return stream
    needed = (limit * 5 // 4) // _BZIP2_BLOCK_UNIT + 1
    if needed >= stream[3] - 0x30:
        return stream
    return _BZIP2_MAGIC + bytes((0x30 + needed,)) + stream[4:]
