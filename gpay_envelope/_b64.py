"""Web-safe base64 (RFC 4648 section 5): a strict alphabet, padding optional on input."""

from __future__ import annotations

import binascii
from typing import cast

__all__ = [
    "Segment",
    "b64url_decode",
    "b64url_encode",
    "decode_segment",
    "is_b64url",
    "split_compact",
]

#: One segment of a compact serialization, as `split_compact` returns it.
Segment = bytes | memoryview

_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")
_INDEX = {
    c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
_SPARE_BITS = {2: 0x0F, 3: 0x03}
# By length mod 4: the padding an unpadded segment needs, and the last characters whose spare
# bits are set (a non-canonical spelling); a remainder of 1 is never base64.
_PAD = (b"", b"", b"==", b"=")
_NON_CANONICAL = (
    frozenset[int](),
    frozenset[int](),
    *(frozenset(c for c, i in _INDEX.items() if i & _SPARE_BITS[rem]) for rem in (2, 3)),
)
# Segments longer than this are decoded piece by piece; a multiple of 4.
_SEGMENT_CHUNK = 1 << 16
# Values up to this size are split into copies (one C call; the copies are small), longer
# ones into views, so a large envelope is not held twice.
_SPLIT_COPY_MAX = 1 << 16


def b64url_encode(data: bytes, *, pad: bool = True) -> bytes:
    """Encode ``data`` with the URL-safe alphabet, padded with ``=`` unless ``pad`` is false."""
    # What base64.urlsafe_b64encode does, without its two Python-level calls: a seal encodes
    # six segments.
    out = binascii.b2a_base64(data, newline=False).translate(_TO_URL)
    return out if pad else out.rstrip(b"=")


def is_b64url(data: bytes) -> bool:
    """Tell whether ``data`` is made only of URL-safe base64 characters (and final padding)."""
    body = data.rstrip(b"=")
    return len(data) - len(body) <= 2 and not body.translate(None, _CHARS)


def b64url_decode(data: bytes) -> bytes:
    """Decode URL-safe base64, padded or not.

    Raises ``ValueError`` for characters outside the URL-safe alphabet (``+`` and ``/``
    included), misplaced or excess padding, a length that cannot be base64, and non-canonical
    trailing bits, so that one byte string has exactly one accepted spelling.
    """
    body = data.rstrip(b"=")
    pad = len(data) - len(body)
    rem = len(body) % 4
    if pad > 2 or body.translate(None, _CHARS) or rem == 1 or (pad and (rem + pad) % 4 != 0):
        raise ValueError("not web-safe base64")
    # Non-canonical spellings leave set bits in the last character that decode to nothing.
    if rem and body[-1] in _NON_CANONICAL[rem]:
        raise ValueError("not web-safe base64")
    try:
        # Every character is known to be in the URL-safe alphabet here, so mapping it to the
        # standard one and decoding with the C decoder accepts exactly the same strings.
        return binascii.a2b_base64(body.translate(_TO_STD) + b"=" * (-len(body) % 4))
    except binascii.Error:
        raise ValueError("not web-safe base64") from None


def split_compact(value: bytes, parts: int) -> list[Segment] | None:
    """The ``parts`` dot-separated segments of a JOSE compact serialization (RFC 7515 section
    7.1, RFC 7516 section 7.1), or None unless ``value`` is made of URL-safe base64
    characters (no padding) and exactly ``parts - 1`` dots.

    One pass over ``value`` checks both, since what is left after deleting the alphabet must
    be the dots. Segments of a value over 64 KiB are views into it: no large segment is
    copied.
    """
    if value.translate(None, _CHARS) != b"." * (parts - 1):
        return None
    if len(value) <= _SPLIT_COPY_MAX:
        return cast("list[Segment]", value.split(b"."))
    view = memoryview(value)
    segments: list[Segment] = []
    start = 0
    for _ in range(parts - 1):
        end = value.index(b".", start)
        segments.append(view[start:end])
        start = end + 1
    segments.append(view[start:])
    return segments


def decode_segment(segment: Segment) -> bytes:
    """Decode one segment `split_compact` returned (URL-safe base64, unpadded), once.

    Raises ``ValueError`` for a length that cannot be base64 and for non-canonical trailing
    bits, as `b64url_decode` does; the alphabet was checked by `split_compact`.
    """
    size = len(segment)
    rem = size & 3
    if rem and (rem == 1 or segment[-1] in _NON_CANONICAL[rem]):
        raise ValueError("not web-safe base64")
    if size <= _SEGMENT_CHUNK:
        return binascii.a2b_base64(bytes(segment).translate(_TO_STD) + _PAD[rem])
    pad = _PAD[rem]
    # Piece by piece: at most one piece of the text is copied at a time, and the decoded
    # pieces are joined once, so decoding holds no full-size copy of the text.
    last = size - (size % 4 or 4)
    pieces = [
        binascii.a2b_base64(bytes(segment[at : min(at + _SEGMENT_CHUNK, last)]).translate(_TO_STD))
        for at in range(0, last, _SEGMENT_CHUNK)
    ]
    pieces.append(binascii.a2b_base64(bytes(segment[last:]).translate(_TO_STD) + pad))
    return b"".join(pieces)
