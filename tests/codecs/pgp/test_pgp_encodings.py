"""The encodings of a PGP envelope: seal writes padded web-safe base64; open reads it, binary
and ASCII armor as real writers make it, and nothing else. The armor parser is linear and
bounded, its CRC24 is checked on keys only, and armored junk costs what base64url junk costs."""

from __future__ import annotations

import base64
import os
import re
import time

import pytest
from pgp_fixtures import (
    Party,
)
from pgp_messages import (
    MSG,
    open_,
    seal,
)

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode, b64url_encode
from gpay_envelope.codecs.pgp import key_to_pgp, keys_from_pgp
from gpay_envelope.codecs.pgp import wire as op


def test_output_is_padded_web_safe_base64(pgp_keys: Party) -> None:
    for _ in range(3):  # lengths vary with the MPIs; padding must always be there
        env = seal(pgp_keys, ("g1",), ("p1",))
        assert re.fullmatch(rb"[A-Za-z0-9_-]+={0,2}", env) and len(env) % 4 == 0


def test_open_accepts_every_encoding(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), ("p1",))
    binary = b64url_decode(env)
    armored = op.armor("MESSAGE", binary).replace(b"\n\n", b"\nComment: test\n\n", 1)
    for form in (
        env,
        env.rstrip(b"="),
        env.decode(),
        env + b"\r\n",
        binary,
        armored,
        armored.replace(b"\n", b"\r\n"),
        armored.replace(b"\n=", b"\n#").split(b"\n#")[0] + b"\n-----END PGP MESSAGE-----\n",
    ):
        assert open_(pgp_keys, form, ("g1",), ("p1",)).plaintext == MSG


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: base64.b64encode(b),  # standard alphabet (the body has '+' or '/')
        lambda b: base64.urlsafe_b64encode(b) + b"A",  # impossible length
        lambda b: base64.urlsafe_b64encode(b)[:40] + b"\n" + base64.urlsafe_b64encode(b)[40:],
        lambda b: op.armor("PUBLIC KEY BLOCK", b),
        lambda b: op.armor("MESSAGE", b).replace(b"-----END", b"junk\n-----END"),
        lambda b: b"preamble\n" + op.armor("MESSAGE", b),
        lambda b: op.armor("MESSAGE", b) * 2,
        lambda b: b"",
        lambda b: b"   ",
        lambda b: b"\x00" + b,
    ],
)
def test_open_refuses_other_encodings(pgp_keys: Party, mangle: object) -> None:
    for _ in range(8):
        binary = b64url_decode(seal(pgp_keys, ("g1",), ("p1",)))
        if b"+" in base64.b64encode(binary) or b"/" in base64.b64encode(binary):
            break
    with pytest.raises(ge.InvalidEnvelope):
        open_(pgp_keys, mangle(binary), ("g1",), ("p1",))  # type: ignore[operator]


def test_armor_checksum_is_checked_for_keys_and_ignored_for_messages(pgp_keys: Party) -> None:
    """RFC 9580 6.1: the CRC24 footer is optional and a mismatch must not reject a message
    (the MDC authenticates it; computing the CRC in Python cost 0.5 s per 8 MiB of junk).
    Key files are small and not otherwise checksummed: their footer is checked."""
    armored = op.armor("MESSAGE", b64url_decode(seal(pgp_keys, ("g1",), ("p1",))))
    crc = re.search(rb"\n=(....)\n", armored)
    assert crc is not None
    for footer in (b"\n=AAAA\n", b"\n=!!!!\n"):
        bad = armored.replace(crc.group(0), footer)
        assert open_(pgp_keys, bad, ("g1",), ("p1",)).plaintext == MSG
    key = key_to_pgp(pgp_keys.keys["p1"])
    crc = re.search(rb"\n=(....)\n", key)
    assert crc is not None
    for footer in (b"\n=AAAA\n", b"\n=!!!!\n"):
        with pytest.raises(ge.KeySetError):
            keys_from_pgp(key.replace(crc.group(0), footer))
    # Tampered content is still refused, by the MDC rather than the CRC: a character three
    # quarters in is inside the SEIPD packet (the last one).
    i = len(armored) * 3 // 4
    while not armored[i : i + 1].isalnum():
        i += 1
    flipped = b"B" if armored[i : i + 1] != b"B" else b"C"
    tampered = armored[:i] + flipped + armored[i + 1 :]
    with pytest.raises(ge.InvalidEnvelope):
        open_(pgp_keys, tampered, ("g1",), ("p1",))


def test_armor_parser_is_linear() -> None:
    """pgpy's armor regex takes 27 s on 114 bytes of this shape (measured with pgpy 0.6);
    ours reads each line once."""
    evil = b"-----BEGIN PGP SIGNED MESSAGE-----\n" + b"a\r\n" * 200_000
    with pytest.raises(op.Malformed):
        op.dearmor(evil, max_blocks=1, strict=True)
    evil = b"-----BEGIN PGP MESSAGE-----\n" + b"Hash: a\r\n" * 200_000
    with pytest.raises(op.Malformed):
        op.dearmor(evil, max_blocks=1, strict=True)


def test_armor_as_real_writers_make_it_still_opens(pgp_keys: Party) -> None:
    """64 or 76 columns, CRLF, trailing whitespace, headers, no blank line, no checksum."""
    env = ge.seal(MSG, recipients=pgp_keys.public("g1"), signer=pgp_keys.secret("p1"))
    body = base64.b64encode(b64url_decode(env))

    def wrap(width: int, eol: bytes = b"\n", headers: bytes = b"\n") -> bytes:
        lines = [body[i : i + width] for i in range(0, len(body), width)]
        return (
            b"-----BEGIN PGP MESSAGE-----"
            + eol
            + headers
            + eol.join(lines)
            + eol
            + b"-----END PGP MESSAGE-----"
            + eol
        )

    forms = [
        wrap(64),
        wrap(76),
        wrap(64, b"\r\n", b"Version: x\r\nComment: y\r\n\r\n"),
        wrap(64, b" \t\n"),
        wrap(64, headers=b"Comment: no blank line\n"),
        b"\n  " + wrap(64) + b"\n\n",
    ]
    for form in forms:
        assert ge.open(form, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p1")) == MSG


def test_armor_bounds() -> None:
    data = os.urandom(3000)
    good = op.armor("MESSAGE", data)
    assert op.dearmor(good, max_blocks=1, strict=True) == [("MESSAGE", data)]
    head, rest = good.split(b"\n\n", 1)
    cases = {
        "17 headers": head + b"\n" + b"A: b\n" * 17 + b"\n" + rest,
        "long header": head + b"\nComment: " + b"x" * 5000 + b"\n\n" + rest,
        "short lines": head + b"\n\n" + _rewrap(rest, 8),
        "text on the END line": good.replace(b"-----END", b"AAAA-----END"),
        "text after END": good.replace(b"MESSAGE-----\n", b"MESSAGE----- x\n").replace(
            b"BEGIN PGP MESSAGE----- x", b"BEGIN PGP MESSAGE-----"
        ),
        "checksum not last": good.replace(b"\n-----END", b"\nAAAA\n-----END"),
        "unterminated": good.replace(b"-----END PGP MESSAGE-----", b""),
        "BEGIN inside a line": b"x " + good,
    }
    assert cases["short lines"].count(b"\n") > len(cases["short lines"]) // 48 + 64
    for name, text in cases.items():
        with pytest.raises(op.Malformed):
            op.dearmor(text, max_blocks=1, strict=True)
            pytest.fail(name)
    # Key files: text around the blocks is skipped (a BEGIN inside a line is not a block),
    # and the checksum is checked.
    assert op.dearmor(
        b"x -----BEGIN PGP MESSAGE-----\n" + good + b"x\n", max_blocks=2, strict=False
    ) == [("MESSAGE", data)]
    crc = good.rsplit(b"\n=", 1)[1][:4]
    with pytest.raises(op.Malformed):
        op.dearmor(good.replace(b"=" + crc, b"=AAAA"), max_blocks=1, strict=False)


def _rewrap(armor_body: bytes, width: int) -> bytes:
    """The base64 lines of an armor body (after the blank line) re-wrapped at ``width``."""
    data, tail = armor_body.split(b"\n=", 1)
    flat = data.replace(b"\n", b"")
    lines = [flat[i : i + width] for i in range(0, len(flat), width)]
    return b"\n".join(lines) + b"\n=" + tail


def test_armored_junk_costs_about_what_base64url_junk_costs(pgp_keys: Party) -> None:
    raw = op.packet(op.TAG_PKESK, b"\x03" + b"\x11" * 8 + b"\x01" + op.mpi(12345))
    raw += op.packet(op.TAG_SEIPD, b"\x01" + os.urandom(((8 << 20) * 3 // 4) - 150_000))
    armored, b64 = op.armor("MESSAGE", raw), b64url_encode(raw)
    assert len(armored) <= ge.DEFAULT_LIMITS.max_envelope

    def cost(env: bytes) -> float:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            with pytest.raises(ge.InvalidEnvelope):
                ge.open(env, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p1"))
            best = min(best, time.perf_counter() - start)
        return best

    assert cost(armored) < 4 * cost(b64) + 0.05
