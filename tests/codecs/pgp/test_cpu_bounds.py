"""Bounded CPU per PGP envelope: content anybody holding our public key can encrypt to us.

Each case here was a small envelope that cost hundreds of normal opens (see
benchmarks/bench_pgp_worst.py and docs/hardening.md, "CPU per envelope"). The assertions are on
outcomes and on counted work (subpacket headers read, bytes inflated), never on time.
"""

from __future__ import annotations

import bz2
import os
import random
import struct
import time
from collections.abc import Callable

import pytest
from pgp_fixtures import Party, encrypt_raw, pgp_party

import gpay_envelope as ge
from gpay_envelope.codecs.pgp import wire as op

MIB = 1 << 20
MSG = b'{"amount": "1", "currency": "EUR"}'


@pytest.fixture(scope="module")
def party() -> Party:
    return pgp_party()


def _now() -> int:
    return int(time.time())


def _signed(
    party: Party, data: bytes, *, hashed_extra: bytes = b"", unhashed: bytes = b""
) -> bytes:
    """OPS, literal, signature by p1 over ``data``: valid, whatever the extra subpackets."""
    part, private = party.keys["p1"].material.signing_part(_now())  # type: ignore[attr-defined]
    hashed = (
        op.subpacket(op.SUB_CREATED, struct.pack(">I", _now()))
        + op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + part.fingerprint)
        + hashed_extra
    )
    body = op.signature_body(
        private, sigtype=op.SIG_BINARY, hashalg=op.HASH_SHA384, hashed=hashed,
        unhashed=unhashed, data=(data,),
    )  # fmt: skip
    return (
        op.ops_packet(hashalg=op.HASH_SHA384, keyid=part.keyid, last=True)
        + op.literal_packet(data, when=_now())
        + op.packet(op.TAG_SIGNATURE, body)
    )


def _open(party: Party, inner: bytes) -> bytes:
    env = encrypt_raw(inner, [party.keys["g1"]])
    return ge.open(env, identities=party.secret("g1"), senders=party.public("p1"))


def _compressed(algo: int, inner: bytes) -> bytes:
    body = bz2.compress(inner, 9) if algo == op.COMP_BZIP2 else op.compress(algo, inner)
    return op.packet(op.TAG_COMPRESSED, bytes((algo,)) + body)


@pytest.fixture
def subpackets_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per subpacket length the signature parser reads."""
    seen: list[int] = []
    real = op.signatures.read_length

    def counting(data: bytes | memoryview, pos: int, *, partial: bool) -> tuple[int, int, bool]:
        seen.append(1)
        return real(data, pos, partial=partial)

    monkeypatch.setattr(op.signatures, "read_length", counting)
    return seen


@pytest.fixture
def inflated(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """Bytes out of every decompression, None for one that was refused."""
    seen: list[int | None] = []
    real = op.decompress

    def spy(body: bytes, *, cap: int) -> tuple[int, bytes]:
        try:
            algo, out = real(body, cap=cap)
        except op.Malformed:
            seen.append(None)
            raise
        seen.append(len(out))
        return algo, out

    monkeypatch.setattr(op, "decompress", spy)
    return seen


# -- signatures -------------------------------------------------------------------------------
def _flood_signature(area: int) -> bytes:
    """A v4 signature whose two areas are ``area`` bytes of one-octet unknown subpackets, with a
    creation time first (so it reaches the checks) and no issuer (so every sender is tried)."""
    created = op.subpacket(op.SUB_CREATED, struct.pack(">I", _now()))
    hashed = created + b"\x01\x65" * ((area - len(created)) // 2)
    unhashed = b"\x01\x65" * (area // 2)
    body = bytes((4, op.SIG_BINARY, op.PK_RSA, op.HASH_SHA512))
    body += struct.pack(">H", len(hashed)) + hashed + struct.pack(">H", len(unhashed)) + unhashed
    return op.packet(op.TAG_SIGNATURE, body + b"\x00\x00" + op.mpi((1 << 2047) + 1))


def _flood(area: int) -> bytes:
    """16 one-pass signatures, a literal, 16 flood signatures: the most an envelope may carry."""
    ops = b"".join(
        op.ops_packet(hashalg=op.HASH_SHA512, keyid=b"\x00" * 8, last=i == 15) for i in range(16)
    )
    return ops + op.literal_packet(MSG, when=_now()) + _flood_signature(area) * 16


@pytest.mark.parametrize("area", [0xFFFF, 10_000])
def test_a_flood_of_tiny_subpackets_is_read_a_bounded_number_of_times(
    party: Party, subpackets_read: list[int], area: int
) -> None:
    """32,000 subpackets a signature were parsed; now an area over 10,000 bytes is refused
    unread, and one with more than 64 subpackets after the 65th."""
    with pytest.raises(ge.InvalidSignature):
        _open(party, _flood(area))
    assert len(subpackets_read) <= 16 * 65


def test_a_flood_of_tiny_subpackets_in_a_few_kb_of_zip_is_not_inflated(
    party: Party, subpackets_read: list[int], inflated: list[int | None]
) -> None:
    """The same 2 MiB of signatures in 3.7 KB of ZIP (it took 300 ms to open): refused at
    inflation, over 256 KiB + 16 x the compressed size."""
    inner = _compressed(op.COMP_ZIP, _flood(0xFFFF))
    assert len(inner) < 4096
    with pytest.raises(ge.InvalidEnvelope):
        _open(party, inner)
    assert inflated == [None] and subpackets_read == []


def _notation(total: int) -> bytes:
    """One notation subpacket (RFC 4880 5.2.3.16) of exactly ``total`` bytes, five-octet length."""
    name = b"note@example.org"
    size = total - 6 - 8 - len(name)
    value = b"\x80\x00\x00\x00" + struct.pack(">HH", len(name), size) + name + b"v" * size
    return b"\xff" + struct.pack(">I", len(value) + 1) + bytes((20,)) + value


def _outcome(party: Party, inner: bytes) -> str:
    try:
        assert _open(party, inner) == MSG
    except ge.InvalidSignature:
        return "InvalidSignature"
    return "opened"


#: What `_signed` puts in the hashed area besides the extra subpackets: creation time (6
#: bytes) and issuer fingerprint (23 bytes).
BASE_AREA = 6 + 23


@pytest.mark.parametrize(("count", "outcome"), [(64, "opened"), (65, "InvalidSignature")])
def test_a_signature_counts_with_64_hashed_subpackets_and_not_65(
    party: Party, count: int, outcome: str
) -> None:
    """gpg writes 3 to 6 subpackets in a message signature (one more per --sig-notation),
    Sequoia 4 (a salt notation among them), self-signatures carry about 10."""
    notes = _notation(30) * (count - 2)
    assert _outcome(party, _signed(party, MSG, hashed_extra=notes)) == outcome


@pytest.mark.parametrize(("count", "outcome"), [(64, "opened"), (65, "InvalidSignature")])
def test_a_signature_counts_with_64_unhashed_subpackets_and_not_65(
    party: Party, count: int, outcome: str
) -> None:
    keyid = party.keys["p1"].material.signing_part(_now())[0].keyid  # type: ignore[attr-defined]
    inner = _signed(party, MSG, unhashed=op.subpacket(op.SUB_ISSUER, keyid) * count)
    assert _outcome(party, inner) == outcome


@pytest.mark.parametrize("where", ["hashed", "unhashed"])
@pytest.mark.parametrize(("size", "outcome"), [(10_000, "opened"), (10_001, "InvalidSignature")])
def test_a_signature_counts_with_10000_byte_areas_and_not_more(
    party: Party, where: str, size: int, outcome: str
) -> None:
    """gpg's own bound (g10/parse-packet.c refuses longer areas); one large notation fills it."""
    if where == "hashed":
        inner = _signed(party, MSG, hashed_extra=_notation(size - BASE_AREA))
    else:
        inner = _signed(party, MSG, unhashed=_notation(size))
    assert _outcome(party, inner) == outcome


# -- inflation --------------------------------------------------------------------------------
def _periodic(n: int) -> bytes:
    """Sorts into a handful of BZip2 runs (tiny compressed) with no runs of equal bytes."""
    return (b"abcdefghijklmnopqrstuvwxyz0123456789" * (n // 36 + 1))[:n]


ALGOS = [op.COMP_ZIP, op.COMP_ZLIB, op.COMP_BZIP2]


@pytest.mark.parametrize("algo", ALGOS)
def test_a_signed_message_inflating_more_than_16_to_1_past_256_kib_is_refused(
    party: Party, inflated: list[int | None], algo: int
) -> None:
    """3 MiB that compress to a few KB: within max_plaintext, and it used to open (after
    inflating 3 MiB and hashing them); now the inflation stops at 256 KiB + 16 x the input."""
    inner = _compressed(algo, _signed(party, _periodic(3 * MIB)))
    assert len(inner) < 64 << 10
    with pytest.raises(ge.InvalidEnvelope):
        _open(party, inner)
    assert inflated == [None]


def _text(n: int, seed: int) -> bytes:
    """JSON-ish records: ZIP/ZLIB about 4:1, BZip2 about 5:1, like real payloads."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < n:
        out += b'{"id": %d, "amount": "%d.%02d", "ref": "%s"},' % (
            rng.randrange(10**9), rng.randrange(10**4), rng.randrange(100),
            rng.randbytes(6).hex().encode(),
        )  # fmt: skip
    return bytes(out[:n])


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    "data",
    [lambda: bytes(200 << 10), lambda: _text(MIB, 1)],
    ids=["200-KiB-of-zeros", "1-MiB-of-records"],
)
def test_real_compressed_messages_still_open(
    party: Party, inflated: list[int | None], algo: int, data: Callable[[], bytes]
) -> None:
    """Under the floor any ratio goes; above it, real text compresses far less than 16:1."""
    payload = data()
    assert _open(party, _compressed(algo, _signed(party, payload))) == payload
    assert inflated[0] is not None and inflated[0] > len(payload)


def test_bzip2_input_over_256_kib_is_refused(party: Party, inflated: list[int | None]) -> None:
    """BZip2 decoding costs about 40 ns per compressed byte, 6 to 10 times the rest of an open:
    a stream over 256 KiB is refused before decoding (a 4 MiB one took 0.2 s to open)."""
    inner = _compressed(op.COMP_BZIP2, _signed(party, os.urandom(260 << 10)))
    assert len(inner) > op.compression.BZIP2_MAX_INPUT
    with pytest.raises(ge.InvalidEnvelope):
        _open(party, inner)
    assert inflated == [None]


def test_bzip2_just_under_its_input_bound_opens(party: Party) -> None:
    payload = os.urandom(250 << 10)
    assert _open(party, _compressed(op.COMP_BZIP2, _signed(party, payload))) == payload


def test_the_canonical_text_is_made_once_per_message(
    party: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text signatures with SHA256, SHA384 and SHA512 over one payload: three hashes, one
    canonicalisation (it was one per digest, 3 x a 4 MiB copy and rewrite)."""
    from gpay_envelope.codecs.pgp import _codec

    calls: list[int] = []
    real = _codec._canonical
    monkeypatch.setattr(_codec, "_canonical", lambda inner: calls.append(1) or real(inner))
    part, private = party.keys["p1"].material.signing_part(_now())  # type: ignore[attr-defined]
    text = b"line one\nline two\r\n"
    hashed = op.subpacket(op.SUB_CREATED, struct.pack(">I", _now())) + op.subpacket(
        op.SUB_ISSUER_FINGERPRINT, b"\x04" + part.fingerprint
    )
    canonical = text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    sigs = [
        op.packet(op.TAG_SIGNATURE, op.signature_body(
            private, sigtype=op.SIG_TEXT, hashalg=h, hashed=hashed, unhashed=b"",
            data=(canonical,),
        ))
        for h in (op.HASH_SHA256, op.HASH_SHA384, op.HASH_SHA512)
    ]  # fmt: skip
    ops = b"".join(
        op.ops_packet(hashalg=op.HASH_SHA256, keyid=part.keyid, last=i == 2) for i in range(3)
    )
    inner = ops + op.literal_packet(text, when=_now()) + b"".join(sigs)
    assert _open(party, inner) == text
    assert calls == [1]
