"""Web-safe base64 (RFC 4648 section 5): a strict alphabet, padding optional on input."""

from __future__ import annotations

import base64
import binascii

__all__ = ["b64url_decode", "b64url_encode", "is_b64url"]

_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STD = bytes.maketrans(b"-_", b"+/")
_INDEX = {
    c: i for i, c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
_SPARE_BITS = {2: 0x0F, 3: 0x03}


def b64url_encode(data: bytes, *, pad: bool = True) -> bytes:
    """Encode ``data`` with the URL-safe alphabet, padded with ``=`` unless ``pad`` is false."""
    out = base64.urlsafe_b64encode(data)
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
    if rem and _INDEX[body[-1]] & _SPARE_BITS[rem]:
        raise ValueError("not web-safe base64")
    try:
        # Every character is known to be in the URL-safe alphabet here, so mapping it to the
        # standard one and decoding with the C decoder accepts exactly the same strings.
        return binascii.a2b_base64(body.translate(_TO_STD) + b"=" * (-len(body) % 4))
    except binascii.Error:
        raise ValueError("not web-safe base64") from None
