"""Compressed data packets (RFC 4880 section 5.6): ZIP, ZLIB and BZip2, inflated under a cap."""

from __future__ import annotations

import bz2
import zlib

from .registry import COMP_BZIP2, COMP_NONE, COMP_ZIP, COMP_ZLIB, Malformed


def compress(algo: int, data: bytes) -> bytes:
    """Compress for a compressed data packet body (without the algorithm octet)."""
    if algo == COMP_ZIP:
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    if algo == COMP_ZLIB:
        return zlib.compress(data, 6)
    raise ValueError("unsupported compression")


def decompress(body: bytes, *, cap: int) -> tuple[int, bytes]:
    """Inflate a compressed data packet with at most ``cap`` bytes of output.

    The cap is enforced while inflating (``max_length``), so a bomb costs at most ``cap``
    bytes and the time to produce them. A stream that is over the cap, truncated, or followed
    by other bytes is refused, never cut.
    """
    if not body:
        raise Malformed("empty compressed packet")
    algo, data = body[0], body[1:]
    if algo == COMP_NONE:
        if len(data) > cap:
            raise Malformed("over the cap")
        return algo, data
    out: bytes
    try:
        if algo in (COMP_ZIP, COMP_ZLIB):
            z = zlib.decompressobj(-zlib.MAX_WBITS if algo == COMP_ZIP else zlib.MAX_WBITS)
            out = z.decompress(data, cap + 1)
            done, rest = z.eof, z.unused_data or z.unconsumed_tail
        elif algo == COMP_BZIP2:
            b = bz2.BZ2Decompressor()
            out = b.decompress(data, cap + 1)
            done, rest = b.eof, b.unused_data
        else:
            raise Malformed("unsupported compression")
    except (zlib.error, OSError, EOFError, ValueError):
        raise Malformed("corrupt compressed data") from None
    if len(out) > cap or not done or rest:
        raise Malformed("compressed data over the cap, truncated or trailed")
    return algo, out
