"""Packet framing (RFC 4880 sections 4.2 and 4.2.2), MPIs (3.2) and literal data (5.9).

Every parser here is iterative, bounded by its input and by explicit counts; nothing
backtracks and nothing recurses on input.
"""

from __future__ import annotations

import struct
from typing import Final

from .registry import TAG_COMPRESSED, TAG_LITERAL, TAG_SED, TAG_SEIPD, Malformed

# Data packets may use partial body lengths; everything else must say its length up front.
_PARTIAL_OK: Final = frozenset({TAG_COMPRESSED, TAG_SED, TAG_LITERAL, TAG_SEIPD})


def encode_length(n: int) -> bytes:
    """A new-format packet (and subpacket) body length, in its shortest form."""
    if n < 192:
        return bytes((n,))
    if n < 8384:
        n -= 192
        return bytes(((n >> 8) + 192, n & 0xFF))
    return b"\xff" + struct.pack(">I", n)


def packet(tag: int, body: bytes) -> bytes:
    """One packet with a new-format header and a definite length."""
    return bytes((0xC0 | tag,)) + encode_length(len(body)) + body


def read_length(data: bytes | memoryview, pos: int, *, partial: bool) -> tuple[int, int, bool]:
    """Read a new-format length at ``pos`` (RFC 4880 sections 4.2.2 and 5.2.3.1).

    Returns the length, the position after it, and whether it is a partial body length. With
    ``partial`` false (subpackets, which have no partial lengths) first octets 224 to 254 are
    the two-octet form too.
    """
    if pos >= len(data):
        raise Malformed("truncated length")
    first = data[pos]
    if first < 192:
        return first, pos + 1, False
    if first < 224 or (first < 255 and not partial):
        if pos + 2 > len(data):
            raise Malformed("truncated length")
        return ((first - 192) << 8) + data[pos + 1] + 192, pos + 2, False
    if first == 255:
        if pos + 5 > len(data):
            raise Malformed("truncated length")
        return int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5, False
    return 1 << (first & 0x1F), pos + 1, True


def read_packets(data: bytes, *, max_packets: int) -> list[tuple[int, bytes]]:
    """Split ``data`` into ``(tag, body)`` pairs, both header formats, partial lengths joined.

    Bounds: at most ``max_packets`` packets, and at most one partial-length chunk per 256 bytes
    of input on average (gpg writes chunks of 8 KiB and more), so a stream of tiny chunks cannot
    make the loop or the memory grow faster than the input.
    """
    view = memoryview(data)
    pos = 0
    chunk_budget = 64 + len(view) // 256
    out: list[tuple[int, bytes]] = []
    while pos < len(view):
        if len(out) >= max_packets:
            raise Malformed("too many packets")
        ctb = view[pos]
        if not ctb & 0x80:
            raise Malformed("not a packet header")
        if ctb & 0x40:
            tag = ctb & 0x3F
            body, pos, chunk_budget = _new_format_body(view, pos + 1, tag, chunk_budget)
        else:
            tag = (ctb >> 2) & 0x0F
            body, pos = _old_format_body(view, pos + 1, tag, ctb & 0x03)
        out.append((tag, body))
    return out


def _new_format_body(
    view: memoryview, pos: int, tag: int, chunk_budget: int
) -> tuple[bytes, int, int]:
    """The body of a new-format packet whose length starts at ``pos``, its partial chunks
    joined; the position after it; the partial chunks still allowed."""
    end = len(view)
    chunks: list[memoryview] = []
    # Partial chunks are read here, not by read_length: this loop runs once per chunk, up to
    # one per 256 input bytes, and a call each would make it half again as slow.
    while pos < end and 224 <= view[pos] < 255:
        if tag not in _PARTIAL_OK:
            raise Malformed("partial length on a non-data packet")
        chunk_budget -= 1
        if chunk_budget < 0:
            raise Malformed("too many partial chunks")
        start, pos = pos + 1, pos + 1 + (1 << (view[pos] & 0x1F))
        if pos > end:
            raise Malformed("truncated body")
        chunks.append(view[start:pos])
    size, pos, _partial = read_length(view, pos, partial=True)
    if pos + size > end:
        raise Malformed("truncated body")
    if not chunks:
        return bytes(view[pos : pos + size]), pos + size, chunk_budget
    chunks.append(view[pos : pos + size])
    return b"".join(chunks), pos + size, chunk_budget


def _old_format_body(view: memoryview, pos: int, tag: int, kind: int) -> tuple[bytes, int]:
    """The body of an old-format packet of length type ``kind`` whose length starts at
    ``pos``, and the position after it."""
    end = len(view)
    if kind == 3:
        # Indeterminate length: to the end of the enclosing data. gpg writes its compressed
        # packets this way.
        if tag not in _PARTIAL_OK:
            raise Malformed("indeterminate length on a non-data packet")
        size = end - pos
    else:
        width = 1 << kind
        if pos + width > end:
            raise Malformed("truncated header")
        size = int.from_bytes(view[pos : pos + width], "big")
        pos += width
    if pos + size > end:
        raise Malformed("truncated body")
    return bytes(view[pos : pos + size]), pos + size


def mpi(value: int) -> bytes:
    """An OpenPGP multiprecision integer."""
    bits = value.bit_length()
    return struct.pack(">H", bits) + value.to_bytes((bits + 7) // 8, "big")


def read_mpi(body: bytes, pos: int) -> tuple[bytes, int]:
    """Read one MPI at ``pos``; return its magnitude bytes and the next position."""
    if pos + 2 > len(body):
        raise Malformed("truncated MPI")
    bits = (body[pos] << 8) | body[pos + 1]
    size = (bits + 7) // 8
    pos += 2
    if pos + size > len(body):
        raise Malformed("truncated MPI")
    return body[pos : pos + size], pos + size


def literal_packet(data: bytes, *, when: int) -> bytes:
    """A binary literal data packet with no file name."""
    return packet(TAG_LITERAL, b"b\x00" + struct.pack(">I", when & 0xFFFFFFFF) + data)


_LITERAL_FORMATS: Final = frozenset(b"btum")


def parse_literal(body: bytes) -> tuple[int, bytes]:
    """Return (format octet, data) of a literal data packet."""
    if len(body) < 6 or body[0] not in _LITERAL_FORMATS:
        raise Malformed("bad literal data")
    start = 2 + body[1] + 4
    if start > len(body):
        raise Malformed("bad literal data")
    return body[0], body[start:]
