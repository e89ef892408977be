"""The packet structure open() accepts, outside and inside the encryption, and how it refuses
the rest: InvalidEnvelope or InvalidSignature only, with no cause or context attached."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pgp_fixtures import (
    Party,
    encrypt_raw,
)
from pgp_messages import (
    MSG,
    open_,
    seal,
    signed_inner,
)

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode
from gpay_envelope.codecs.pgp import _codec as pgp
from gpay_envelope.codecs.pgp import wire as op


def _inner_for(pgp_keys: Party, inner: bytes, **kw: object) -> bytes:
    return encrypt_raw(inner, [pgp_keys.keys["g1"]], **kw)  # type: ignore[arg-type]


def test_structure_rules(pgp_keys: Party) -> None:
    p1 = pgp_keys.keys["p1"]
    good = signed_inner([p1], MSG)
    packets = op.read_packets(good, max_packets=5)
    literal = op.literal_packet(MSG, when=0)
    ops_, sig = op.packet(*packets[0]), op.packet(*packets[2])
    nested = op.packet(op.TAG_COMPRESSED, b"\x01" + op.compress(1, good))
    cases = {
        "no literal": ops_ + sig,
        "two literals": literal + literal,
        "sig before literal": sig + literal,
        "ops without sig": ops_ + literal,
        "sig without ops": literal + sig,
        "trailing packet": good + literal,
        "nested compression": op.packet(op.TAG_COMPRESSED, b"\x01" + op.compress(1, nested)),
        "compressed then more": nested + literal,
        "unknown compression": op.packet(op.TAG_COMPRESSED, b"\x6e" + good),
        "corrupt deflate": op.packet(op.TAG_COMPRESSED, b"\x01" + b"\xff" * 40),
        "truncated deflate": op.packet(op.TAG_COMPRESSED, b"\x01" + op.compress(1, good)[:-4]),
        "deflate with trailer": op.packet(op.TAG_COMPRESSED, b"\x01" + op.compress(1, good) + b"x"),
        "encrypted inside": op.encrypt_seipd(b"k" * 32, good),
        "garbage": b"\x00\x01\x02",
        "empty": b"",
    }
    for name, inner in cases.items():
        with pytest.raises(ge.InvalidEnvelope):
            open_(pgp_keys, _inner_for(pgp_keys, inner), ("g1",), ("p1",))
            pytest.fail(name)
    for ok in (good, nested, op.packet(op.TAG_COMPRESSED, b"\x00" + good)):
        assert open_(pgp_keys, _inner_for(pgp_keys, ok), ("g1",), ("p1",)).plaintext == MSG


@pytest.mark.parametrize("cipher", [op.SYM_AES128, op.SYM_AES192])
def test_other_aes_sizes_open(pgp_keys: Party, cipher: int) -> None:
    env = _inner_for(pgp_keys, signed_inner([pgp_keys.keys["p1"]], MSG), cipher=cipher)
    assert open_(pgp_keys, env, ("g1",), ("p1",)).algorithms[1] == op.SYMMETRIC_NAMES[cipher]


def test_top_level_rules(pgp_keys: Party) -> None:
    env = b64url_decode(seal(pgp_keys, ("g1",), ("p1",)))
    pkesk, seipd = op.read_packets(env, max_packets=5)
    marker = op.packet(op.TAG_MARKER, b"PGP")
    assert open_(pgp_keys, marker + env, ("g1",), ("p1",)).plaintext == MSG
    cases = {
        "no pkesk": op.packet(*seipd),
        "no seipd": op.packet(*pkesk),
        "sed": op.packet(*pkesk) + op.packet(op.TAG_SED, seipd[1][1:]),
        "seipd v2": op.packet(*pkesk) + op.packet(op.TAG_SEIPD, b"\x02" + seipd[1][1:]),
        "skesk": op.packet(op.TAG_SKESK, b"\x04\x09\x03\x08" + b"s" * 9) + env,
        "trailing": env + op.packet(op.TAG_LITERAL, b"b\0\0\0\0\0x"),
        "two seipd": env + op.packet(*seipd),
        "too many pkesk": op.packet(*pkesk) * (pgp.MAX_RECIPIENTS + 1) + op.packet(*seipd),
        "truncated": env[:-1],
        "old-format indeterminate pkesk": b"\x87" + pkesk[1] + op.packet(*seipd),
        "partial pkesk": b"\xc1\xe1" + pkesk[1][:2] + op.packet(0, pkesk[1][2:])[1:],
    }
    for name, raw in cases.items():
        with pytest.raises(ge.InvalidEnvelope):
            open_(pgp_keys, raw, ("g1",), ("p1",))
            pytest.fail(name)


def test_partial_body_lengths_and_old_headers_are_read(pgp_keys: Party) -> None:
    env = b64url_decode(seal(pgp_keys, ("g1",), ("p1", "p2")))
    (_, pkesk), (_, seipd) = op.read_packets(env, max_packets=5)
    # SEIPD as 512 + 4 + rest, the way gpg streams; PKESK with an old two-octet header.
    chunked = b"\xd2\xe9" + seipd[:512] + b"\xe2" + seipd[512:516] + op.packet(0, seipd[516:])[1:]
    old = bytes((0x80 | (op.TAG_PKESK << 2) | 1,)) + len(pkesk).to_bytes(2, "big") + pkesk
    assert len(seipd) > 516
    assert open_(pgp_keys, old + chunked, ("g1",), ("p1",)).plaintext == MSG


def test_tiny_partial_chunks_are_bounded() -> None:
    body = b"\xd2" + b"\xe0x" * 5000 + b"\x01y"  # 5000 one-byte chunks
    with pytest.raises(op.Malformed):
        op.read_packets(body, max_packets=4)


def test_plaintext_cap(pgp_keys: Party) -> None:
    env = seal(pgp_keys, ("g1",), ("p1",))
    with pytest.raises(ge.InvalidEnvelope):
        open_(pgp_keys, env, ("g1",), ("p1",), limits=ge.Limits(max_plaintext=len(MSG) - 1))


def test_tampering_only_ever_raises_the_two_errors(pgp_keys: Party) -> None:
    """Every truncation and a bit flip at every 5th offset: InvalidEnvelope or
    InvalidSignature, never another exception; flips inside the encrypted data always fail."""
    raw = b64url_decode(seal(pgp_keys, ("g1", "g2"), ("p1", "p2"), profile="zip"))
    seipd_start = len(raw) - len(op.read_packets(raw, max_packets=5)[-1][1])
    outcomes: dict[str, int] = {}
    for i in range(len(raw)):
        candidates = [raw[:i]]
        if i % 5 == 0:
            candidates.append(raw[:i] + bytes((raw[i] ^ (1 << (i % 8)),)) + raw[i + 1 :])
        for bad in candidates:
            try:
                open_(pgp_keys, bad, ("g1",), ("p1", "p2"))
                outcome = "ok"
            except (ge.InvalidEnvelope, ge.InvalidSignature) as exc:
                outcome = type(exc).__name__
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if outcome == "ok":  # only a flip in g2's PKESK (not ours) can pass
                assert len(bad) == len(raw) and i < seipd_start
    assert outcomes["InvalidEnvelope"] > 0


def test_errors_carry_no_cause(pgp_keys: Party) -> None:
    with pytest.raises(ge.InvalidEnvelope) as info:
        open_(pgp_keys, b"\xc1\x01", ("g1",), ("p1",))
    err = info.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def test_open_failures_carry_no_context(pgp_keys: Party) -> None:

    from gpay_envelope.codecs import OpenRequest

    g1 = pgp_keys.keys["g1"]
    request = OpenRequest(
        envelope=encrypt_raw(op.literal_packet(MSG, when=0) + b"\xff", [g1]),  # malformed inside
        identities=(g1,),
        senders=(),
        allow_unsigned=True,
        now=datetime.now(timezone.utc),
        limits=ge.DEFAULT_LIMITS,
    )
    with pytest.raises(ge.InvalidEnvelope) as info:
        pgp.PGPCodec().open(request)
    assert info.value.__context__ is None and info.value.__cause__ is None
