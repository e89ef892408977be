"""ASCII armor (RFC 4880 section 6, RFC 9580 section 6) and its CRC24 checksum."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from .registry import Malformed

_CRC24_INIT: Final = 0xB704CE
_CRC24_POLY: Final = 0x1864CFB


def _crc24_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
        table.append(crc & 0xFFFFFF)
    return tuple(table)


_CRC24_TABLE: Final = _crc24_table()


def crc24(data: bytes) -> int:
    """The armor checksum."""
    crc = _CRC24_INIT
    table = _CRC24_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFF) ^ table[(crc >> 16) ^ byte]
    return crc


_ARMOR_KINDS: Final = frozenset(
    {"MESSAGE", "PUBLIC KEY BLOCK", "PRIVATE KEY BLOCK", "SIGNATURE", "SECRET KEY BLOCK"}
)
_BEGIN: Final = b"-----BEGIN PGP "
#: What ``bytes.strip()`` removes; the base64 body may carry it anywhere (gpg skips it too).
_WHITESPACE: Final = b" \t\r\n\x0b\x0c"
_NOT_WHITESPACE: Final = re.compile(rb"[^ \t\r\n\x0b\x0c]")
#: Armor headers ("Version: ...", "Comment: ...") are skipped; real writers put 0 to 3.
_MAX_HEADER_LINES: Final = 16
_MAX_HEADER_LINE: Final = 4096
#: A BEGIN line is at most "-----BEGIN PGP PRIVATE KEY BLOCK-----" and some trailing spaces;
#: a checksum line is "=" and 4 characters.
_MAX_BEGIN_LINE: Final = 128
_MAX_CHECKSUM_LINE: Final = 64
#: Writers wrap the base64 at 64 (gpg, BouncyCastle, OpenPGP.js, Sequoia) to 76 columns (the
#: RFC's maximum): a body with more than one line break per 48 bytes, plus some slack for the
#: last line, blank lines and the checksum, was not written by one of them.
_MIN_AVERAGE_LINE: Final = 48
_LINE_SLACK: Final = 64


def armor(kind: str, data: bytes) -> bytes:
    """ASCII armor with 64-column lines and the CRC24 checksum, as gpg writes it."""
    body = base64.b64encode(data)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    crc = base64.b64encode(crc24(data).to_bytes(3, "big"))
    return b"\n".join(
        [
            f"-----BEGIN PGP {kind}-----".encode(),
            b"",
            *lines,
            b"=" + crc,
            f"-----END PGP {kind}-----".encode(),
            b"",
        ]
    )


def _blank(text: bytes, start: int, end: int) -> bool:
    """True when ``text[start:end]`` is only whitespace (no copy is made)."""
    return start >= end or _NOT_WHITESPACE.search(text, start, end) is None


def _line_end(text: bytes, pos: int) -> int:
    """Index of the line feed ending the line at ``pos``, or the end of ``text``."""
    nl = text.find(b"\n", pos)
    return len(text) if nl < 0 else nl


def _line_start(text: bytes, floor: int, pos: int) -> int:
    """Index where the line holding ``pos`` starts, not before ``floor``."""
    return text.rfind(b"\n", floor, pos) + 1 or floor


def dearmor(text: bytes, *, max_blocks: int, strict: bool) -> list[tuple[str, bytes]]:
    """Decode every armored block in ``text``, in time and memory linear in the input.

    The text is walked with ``find``, never split into lines: the BEGIN line, at most 16 header
    lines (skipped), then the END line is searched for and the body between them is decoded in
    one piece, its whitespace (line breaks, CRs, trailing spaces) deleted first. Extra memory is
    about twice the body. A body with absurdly many line breaks is refused.

    ``strict`` (messages): only whitespace outside the block, and the CRC24 line is not
    computed: the MDC authenticates the content, and RFC 9580 section 6.1 makes the checksum
    optional and says not to reject on it. Otherwise (key files) other lines around the blocks
    are skipped, as gpg does, and the CRC24 line, when present, must match.
    """
    blocks: list[tuple[str, bytes]] = []
    pos = 0  # always the start of a line
    while (found := _next_begin(text, pos, strict=strict)) is not None:
        kind, pos = found
        if len(blocks) >= max_blocks:
            raise Malformed("too many armored blocks")
        pos = _skip_headers(text, pos)
        body_end, eol = _find_end(text, pos, kind)
        checksum, body_end = _split_checksum(text, pos, body_end)
        blocks.append((kind, _decode_body(text[pos:body_end], checksum, strict=strict)))
        pos = eol + 1
    return blocks


def _next_begin(text: bytes, pos: int, *, strict: bool) -> tuple[str, int] | None:
    """The kind of the next armored block at or after ``pos`` and the start of the line after
    its BEGIN line; None when there is none. "-----BEGIN PGP " inside some other line is not
    armor and is skipped (refused when ``strict``, like any text outside the armor)."""
    size = len(text)
    while True:
        begin = text.find(_BEGIN, pos)
        if begin < 0:
            if strict and not _blank(text, pos, size):
                raise Malformed("text outside the armor")
            return None
        eol = _line_end(text, begin)
        if strict and not _blank(text, pos, begin):
            raise Malformed("text outside the armor")
        if not _blank(text, _line_start(text, pos, begin), begin):
            pos = eol + 1
            continue
        line = text[begin : min(eol, begin + _MAX_BEGIN_LINE + 1)].rstrip()
        if eol - begin > _MAX_BEGIN_LINE or not line.endswith(b"-----"):
            if strict:
                raise Malformed("text outside the armor")
            pos = eol + 1
            continue
        kind = line[len(_BEGIN) : -5].decode("ascii", "replace")
        if kind not in _ARMOR_KINDS:
            raise Malformed("unknown armor kind")
        return kind, eol + 1


def _skip_headers(text: bytes, pos: int) -> int:
    """Skip the armor headers ("Key: value") at ``pos``; return where the body starts.

    They run up to a blank line. A missing blank line is tolerated: base64 never holds a colon.
    """
    headers = 0
    while pos < len(text):
        eol = _line_end(text, pos)
        if text.find(b":", pos, eol) < 0 or text.startswith(b"=", pos):
            break
        headers += 1
        if headers > _MAX_HEADER_LINES or eol - pos > _MAX_HEADER_LINE:
            raise Malformed("armor headers over a bound")
        pos = eol + 1
    return pos


def _find_end(text: bytes, pos: int, kind: str) -> tuple[int, int]:
    """Where the body starting at ``pos`` ends (the start of the END line) and where the END
    line ends. Refuses other text on the END line and a body with absurdly many lines."""
    end_line = f"-----END PGP {kind}-----".encode()
    end = text.find(end_line, pos)
    if end < 0:
        raise Malformed("unterminated armor")
    body_end = _line_start(text, pos, end)
    eol = _line_end(text, end)
    if not _blank(text, body_end, end) or not _blank(text, end + len(end_line), eol):
        raise Malformed("not base64")  # other text on the END line
    if text.count(b"\n", pos, body_end) > (body_end - pos) // _MIN_AVERAGE_LINE + _LINE_SLACK:
        raise Malformed("too many lines in the armor")
    return body_end, eol


def _split_checksum(text: bytes, pos: int, body_end: int) -> tuple[bytes | None, int]:
    """The checksum ("=" and 4 base64 characters, without the "=") when it is the last line of
    the body ``text[pos:body_end]``, and where the base64 before it ends. A checksum line
    anywhere else stays in the base64, where padding in the middle fails to decode."""
    if body_end > pos:
        last = _line_start(text, pos, body_end - 1)
        if body_end - last <= _MAX_CHECKSUM_LINE:
            candidate = text[last:body_end].strip()
            if len(candidate) == 5 and candidate.startswith(b"="):
                return candidate[1:], last
    return None, body_end


def _decode_body(body: bytes, checksum: bytes | None, *, strict: bool) -> bytes:
    """The base64 ``body`` decoded, whitespace deleted; the checksum checked unless ``strict``."""
    try:
        # validate=True is binascii's strict mode: alphabet, padding only at the end.
        raw = base64.b64decode(body.translate(None, _WHITESPACE), validate=True)
        crc = None
        if checksum is not None and not strict:
            crc = base64.b64decode(checksum, validate=True)
    except binascii.Error:
        raise Malformed("bad base64 in armor") from None
    if crc is not None and int.from_bytes(crc, "big") != crc24(raw):
        raise Malformed("armor checksum mismatch")
    return raw
