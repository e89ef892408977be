"""`wire.signatures`: v4 signature parsing in named steps, and its bounds on subpacket areas."""

from __future__ import annotations

import struct

import pytest

from gpay_envelope.codecs.pgp import wire as op
from gpay_envelope.codecs.pgp.wire import signatures


def _body(hashed: bytes, unhashed: bytes = b"") -> bytes:
    head = bytes((4, op.SIG_BINARY, op.PK_RSA, op.HASH_SHA256))
    return (
        head + struct.pack(">H", len(hashed)) + hashed + struct.pack(">H", len(unhashed))
        + unhashed + b"\xab\xcd" + op.mpi(12345)
    )  # fmt: skip


def _tiny(count: int) -> bytes:
    return b"\x01\x65" * count  # length 1, type 101 (unknown, not critical)


def test_every_field_is_read_from_the_area_it_may_come_from() -> None:
    fpr = bytes(range(20))
    hashed = b"".join((
        op.subpacket(op.SUB_CREATED, struct.pack(">I", 1000)),
        op.subpacket(op.SUB_SIG_EXPIRES, struct.pack(">I", 60)),
        op.subpacket(op.SUB_KEY_EXPIRES, struct.pack(">I", 70)),
        op.subpacket(op.SUB_KEY_FLAGS, b"\x03"),
        op.subpacket(op.SUB_PRIMARY_UID, b"\x01"),
        op.subpacket(op.SUB_ISSUER_FINGERPRINT, b"\x04" + fpr),
        op.subpacket(op.SUB_INTENDED_RECIPIENT, b"\x04" + fpr),
        op.subpacket(op.SUB_CREATED, b"\x00"),  # wrong length: ignored
        op.subpacket(99, b"", critical=True),
    ))  # fmt: skip
    unhashed = b"".join((
        op.subpacket(op.SUB_ISSUER, fpr[-8:]),
        op.subpacket(op.SUB_EMBEDDED_SIGNATURE, b"embedded"),
        op.subpacket(op.SUB_KEY_FLAGS, b"\x0c"),  # not signed: ignored
        op.subpacket(op.SUB_SIG_EXPIRES, struct.pack(">I", 1)),  # not signed: ignored
    ))  # fmt: skip
    sig = op.parse_signature(_body(hashed, unhashed))
    assert sig is not None
    assert (sig.created, sig.expires_after, sig.key_expires_after) == (1000, 60, 70)
    assert (sig.key_flags, sig.primary_uid, sig.critical_unknown) == (3, True, True)
    assert sig.issuer_fprs == (fpr,) and sig.issuer_ids == (fpr[-8:],)
    assert sig.embedded == (b"embedded",) and sig.intended_recipients == (b"\x04" + fpr,)
    assert (sig.left16, sig.value, sig.hashed) == (b"\xab\xcd", (12345).to_bytes(2, "big"), hashed)


def test_other_versions_are_ignored_and_broken_bodies_refused() -> None:
    assert op.parse_signature(b"\x03" + bytes(30)) is None
    good = _body(_tiny(3))
    for bad in (b"", good[:5], good[:-1], good + b"\x00", good[:4] + b"\x00\x07" + good[6:]):
        with pytest.raises(op.Malformed):
            op.parse_signature(bad)


def _parses(area: bytes, where: str) -> bool:
    """Whether a signature with ``area`` as its hashed or unhashed area parses."""
    body = _body(area) if where == "hashed" else _body(b"", area)
    try:
        return op.parse_signature(body) is not None
    except op.Malformed:
        return False


@pytest.mark.parametrize("where", ["hashed", "unhashed"])
def test_an_area_of_10000_bytes_is_read_and_10001_refused(where: str) -> None:
    def area(size: int) -> bytes:
        value = b"v" * (size - 6)
        return b"\xff" + struct.pack(">I", len(value) + 1) + b"\x14" + value

    bound = signatures.MAX_SUBPACKET_AREA
    assert _parses(area(bound), where) and not _parses(area(bound + 1), where)


@pytest.mark.parametrize("where", ["hashed", "unhashed"])
def test_64_subpackets_are_read_and_the_65th_refuses_the_signature(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[int] = []
    real = signatures.read_length
    monkeypatch.setattr(
        signatures, "read_length", lambda *a, **k: reads.append(1) or real(*a, **k)
    )
    assert _parses(_tiny(signatures.MAX_SUBPACKETS), where)
    assert len(reads) == signatures.MAX_SUBPACKETS
    reads.clear()
    assert not _parses(_tiny(5000), where)  # 10,000 bytes: within the area bound
    assert len(reads) == signatures.MAX_SUBPACKETS
