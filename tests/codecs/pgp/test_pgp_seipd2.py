"""RFC 9580 encrypted data on open: v6 PKESKs and SEIPD v2 (chunked AEAD: OCB, GCM, EAX).

Correctness is anchored on the RFC's own sample messages (tests/vectors/rfc9580/); the messages
to our RSA keys are written by `pgp_fixtures.encrypt_raw_v2`, which the same samples check,
and by OpenPGP.js 6 in tests/interop/test_pgp_openpgpjs.py.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from pgp_fixtures import encrypt_raw, encrypt_raw_v2, packets_of, repack, seipd2_packet
from pgp_messages import MSG, signed_inner

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_encode
from gpay_envelope.codecs.pgp import _codec
from gpay_envelope.codecs.pgp import wire as op

SAMPLES = json.loads(
    (Path(__file__).parents[2] / "vectors" / "rfc9580" / "seipd2_samples.json").read_text()
)["samples"]
MODES = {"EAX": op.AEAD_EAX, "OCB": op.AEAD_OCB, "GCM": op.AEAD_GCM}


def _seipd_of(armored: str) -> bytes:
    [(kind, raw)] = op.dearmor(armored.encode(), max_blocks=1, strict=False)
    assert kind == "MESSAGE"
    [body] = [body for tag, body in op.read_packets(raw, max_packets=4) if tag == op.TAG_SEIPD]
    return body


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["section"] for s in SAMPLES])
def test_rfc9580_samples_decrypt(sample) -> None:
    body = _seipd_of(sample["message"])
    assert op.seipd2_params(body) == (op.SYM_AES128, MODES[sample["aead"]])
    session_key = bytes.fromhex(sample["session_key"])
    key, iv = op.message_key(session_key, body)
    assert (key.hex(), iv.hex()) == (sample["message_key"], sample["iv"])
    plain = op.decrypt_seipd2(session_key, body)
    assert plain == bytes.fromhex(sample["literal"] + sample["padding"])
    packets = op.read_packets(plain, max_packets=4)
    assert [tag for tag, _ in packets] == [op.TAG_LITERAL, op.TAG_PADDING]
    assert op.parse_literal(packets[0][1])[1] == b"Hello, world!"


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["section"] for s in SAMPLES])
def test_rfc9580_samples_refuse_a_wrong_key_and_any_flip(sample) -> None:
    body = _seipd_of(sample["message"])
    session_key = bytes.fromhex(sample["session_key"])
    assert op.decrypt_seipd2(bytes(16), body) is None
    for i in range(len(body)):
        bad = body[:i] + bytes((body[i] ^ 0x01,)) + body[i + 1 :]
        params = op.seipd2_params(bad)
        assert params is None or op.decrypt_seipd2(session_key, bad) is None, i


def test_the_writer_matches_the_samples() -> None:
    """The tests' SEIPD v2 writer, given a sample's key and salt, writes its very bytes."""
    for sample in SAMPLES:
        body = _seipd_of(sample["message"])
        key = bytes.fromhex(sample["session_key"])
        plain = bytes.fromhex(sample["literal"] + sample["padding"])
        written = seipd2_packet(
            key, plain, aead=body[2], cipher=body[1], chunk_octet=body[3], salt=body[4:36]
        )
        assert op.read_packets(written, max_packets=1) == [(op.TAG_SEIPD, body)]


def test_eax_detects_any_change_before_decrypting() -> None:
    eax = op.EAX(bytes(range(16)))
    nonce, ad = bytes(16), b"header"
    sealed = eax.encrypt(nonce, b"attack at dawn", ad)
    assert eax.decrypt(nonce, sealed, ad) == b"attack at dawn"
    from cryptography.exceptions import InvalidTag

    for i in range(len(sealed)):
        with pytest.raises(InvalidTag):
            eax.decrypt(nonce, sealed[:i] + bytes((sealed[i] ^ 0x80,)) + sealed[i + 1 :], ad)
    with pytest.raises(InvalidTag):
        eax.decrypt(nonce, sealed, b"other header")
    with pytest.raises(InvalidTag):
        eax.decrypt(bytes(15) + b"\x01", sealed, ad)


# -- through ge.open, to our RSA keys -----------------------------------------------------------
def _v2(pgp_keys, *, to=("p1",), by=("g1",), **kw) -> bytes:
    signers = [pgp_keys.keys[n] for n in by]
    inner = signed_inner(signers, MSG)
    return encrypt_raw_v2(inner, [pgp_keys.keys[n] for n in to], **kw)


def _open(pgp_keys, env: bytes, ids=("p1",), senders=("g1",)) -> ge.OpenResult:
    return ge.open_detailed(
        env, identities=pgp_keys.secret(*ids), senders=pgp_keys.public(*senders)
    )


@pytest.mark.parametrize("mode", ["OCB", "GCM", "EAX"])
@pytest.mark.parametrize("cipher", [op.SYM_AES128, op.SYM_AES192, op.SYM_AES256])
def test_opens_and_verifies(pgp_keys, mode, cipher) -> None:
    env = _v2(pgp_keys, aead=MODES[mode], cipher=cipher)
    result = _open(pgp_keys, env)
    assert result.plaintext == MSG
    assert result.decrypted_with == pgp_keys.kid("p1")
    assert result.verified_by == (pgp_keys.kid("g1"),)
    assert result.algorithms[:3] == ("RSA", op.SYMMETRIC_NAMES[cipher], mode)
    # The same bytes as padded web-safe base64 and as ASCII armor open alike.
    assert _open(pgp_keys, b64url_encode(env)).plaintext == MSG
    assert _open(pgp_keys, op.armor("MESSAGE", env)).plaintext == MSG


@pytest.mark.parametrize("chunk_octet", [0, 1, 16])
@pytest.mark.parametrize("size", [1, 56, 57, 120, 1000, 5000])
def test_chunk_boundaries(pgp_keys, chunk_octet, size) -> None:
    """Chunks of 64 octets to 4 MiB around their edges: with the 8-octet literal header, 56
    and 120 octets of data fill one and two 64-octet chunks exactly, 57 spills one octet."""
    data = (bytes(range(256)) * 20)[:size]
    inner = op.literal_packet(data, when=0)
    env = encrypt_raw_v2(inner, [pgp_keys.keys["p1"]], chunk_octet=chunk_octet)
    result = ge.open_detailed(
        env, identities=pgp_keys.secret("p1"), senders=pgp_keys.public("g1"), allow_unsigned=True
    )
    assert result.plaintext == data


def _chunks(env: bytes) -> tuple[list[tuple[int, bytes]], bytes, list[bytes], bytes]:
    packets = packets_of(env)
    body = packets[-1][1]
    size = (1 << (body[3] + 6)) + 16
    data = body[36:-16]
    return packets[:-1], body[:36], [data[i : i + size] for i in range(0, len(data), size)], body[
        -16:
    ]


def _rebuilt(head_packets, header: bytes, chunks: list[bytes], final: bytes) -> bytes:
    return repack([*head_packets, (op.TAG_SEIPD, header + b"".join(chunks) + final)])


def test_reordered_dropped_duplicated_or_truncated_chunks_are_refused(pgp_keys) -> None:
    env = _v2(pgp_keys, chunk_octet=0)
    assert _open(pgp_keys, env).plaintext == MSG
    pkesks, header, chunks, final = _chunks(env)
    assert len(chunks) >= 4
    variants = {
        "swapped": [chunks[1], chunks[0], *chunks[2:]],
        "dropped last": chunks[:-1],
        "dropped first": chunks[1:],
        "duplicated": [chunks[0], *chunks],
        "last chunk cut": [*chunks[:-1], chunks[-1][:-1]],
    }
    for name, changed in variants.items():
        with pytest.raises(ge.InvalidEnvelope):
            _open(pgp_keys, _rebuilt(pkesks, header, changed, final))
        assert name
    for cut in range(1, 40):
        with pytest.raises(ge.InvalidEnvelope):
            _open(pgp_keys, env[:-cut])
    # A final tag from another message (same key, other length) does not fit either.
    other = _chunks(_v2(pgp_keys, chunk_octet=0))
    with pytest.raises(ge.InvalidEnvelope):
        _open(pgp_keys, _rebuilt(pkesks, header, chunks, other[3]))


def test_every_flip_and_truncation_fails(pgp_keys) -> None:
    """Every single-bit change fails, except one that leaves what the packets say unchanged:
    the bit count of the PKESK's MPI is not covered by anything, and its lowest bits do not
    change how many octets the value has (true of SEIPD v1 messages alike)."""
    env = _v2(pgp_keys, aead=op.AEAD_OCB)
    assert _open(pgp_keys, env).plaintext == MSG
    assert env[0] == 0xC0 | op.TAG_PKESK and 192 <= env[1] < 224  # a 3-octet packet header
    bit_count = 3 + 3 + 20 + 1  # then version, size, key version, fingerprint, algorithm
    opened = []
    for i in range(len(env)):
        for mask in (0x01, 0x80):
            bad = env[:i] + bytes((env[i] ^ mask,)) + env[i + 1 :]
            try:
                _open(pgp_keys, bad)
            except ge.InvalidEnvelope as exc:
                assert exc.__cause__ is None and exc.__context__ is None
            else:
                opened.append((i, mask))
    assert opened in ([], [(bit_count + 1, 0x01)])
    for n in range(len(env)):
        with pytest.raises(ge.InvalidEnvelope):
            _open(pgp_keys, env[:n])


@pytest.fixture
def rsa_calls(monkeypatch) -> list[object]:
    """Every PGP private-key operation on a PKESK, as it happens."""
    calls: list[object] = []
    real = _codec._rsa_decrypt

    def counting(key, value):
        calls.append(key)
        return real(key, value)

    monkeypatch.setattr(_codec, "_rsa_decrypt", counting)
    return calls


def test_routes_by_fingerprint_and_tries_anonymous_recipients_within_the_budget(
    pgp_keys, rsa_calls
) -> None:
    env = _v2(pgp_keys, to=("p2",))
    result = _open(pgp_keys, env, ids=("p1", "p2"))
    assert result.decrypted_with == pgp_keys.kid("p2") and len(rsa_calls) == 1
    rsa_calls.clear()
    with pytest.raises(ge.InvalidEnvelope):
        _open(pgp_keys, _v2(pgp_keys, to=("g2",)), ids=("p1", "p2"))
    assert rsa_calls == []  # names a key that is not ours: no private-key operation
    env = _v2(pgp_keys, to=("p2",), anonymous=True)
    result = _open(pgp_keys, env, ids=("p1", "p2"))
    assert result.decrypted_with == pgp_keys.kid("p2") and len(rsa_calls) == 2


def test_versions_must_pair_as_the_rfc_says(pgp_keys) -> None:
    """A v3 PKESK never opens a SEIPD v2, nor a v6 PKESK a SEIPD v1 (RFC 9580 10.3.2.1)."""
    inner = signed_inner([pgp_keys.keys["g1"]], MSG)
    key = bytes(range(32))
    v1 = packets_of(encrypt_raw(inner, [pgp_keys.keys["p1"]], session_key=key))
    v2 = packets_of(encrypt_raw_v2(inner, [pgp_keys.keys["p1"]], session_key=key))
    assert _open(pgp_keys, repack(v1)).plaintext == MSG
    assert _open(pgp_keys, repack(v2)).plaintext == MSG
    for mixed in ([v1[0], v2[1]], [v2[0], v1[1]]):
        with pytest.raises(ge.InvalidEnvelope):
            _open(pgp_keys, repack(mixed))


@pytest.mark.parametrize(
    ("offset", "value"),
    [(1, 1), (1, 3), (1, 10), (2, 0), (2, 4), (3, 17), (3, 255)],
    ids=["idea", "3des", "twofish", "aead-0", "aead-4", "chunk-17", "chunk-255"],
)
def test_refused_parameters(pgp_keys, rsa_calls, offset, value) -> None:
    """Ciphers other than AES, unknown AEAD modes and chunk size octets over 16 are refused
    before any private-key operation."""
    pkesks, header, chunks, final = _chunks(_v2(pgp_keys))
    changed = header[:offset] + bytes((value,)) + header[offset + 1 :]
    with pytest.raises(ge.InvalidEnvelope):
        _open(pgp_keys, _rebuilt(pkesks, changed, chunks, final))
    assert rsa_calls == []


def test_padding_packets_are_ignored(pgp_keys) -> None:
    padding = op.packet(op.TAG_PADDING, bytes(32))
    inner = signed_inner([pgp_keys.keys["g1"]], MSG) + padding
    env = encrypt_raw_v2(inner, [pgp_keys.keys["p1"]])
    assert _open(pgp_keys, padding + env).plaintext == MSG


def test_seal_still_writes_seipd_v1(pgp_keys) -> None:
    env = ge.seal(
        MSG, recipients=pgp_keys.public("g1"), signer=pgp_keys.secret("p1"), codec="pgp"
    )
    packets = packets_of(env)
    assert [(tag, body[0]) for tag, body in packets] == [(op.TAG_PKESK, 3), (op.TAG_SEIPD, 1)]


def test_v6_signatures_do_not_count(pgp_keys) -> None:
    """A v6 signature (made only by v6 keys, which we do not hold) is never trusted: a message
    signed only that way is refused, signed also by a v4 key it opens."""
    ops, literal, sig = op.read_packets(signed_inner([pgp_keys.keys["g1"]], MSG), max_packets=4)
    v6 = (op.TAG_SIGNATURE, b"\x06" + sig[1][1:])

    def inner(*packets: tuple[int, bytes]) -> bytes:
        return b"".join(op.packet(tag, body) for tag, body in packets)

    with pytest.raises(ge.InvalidSignature):
        _open(pgp_keys, encrypt_raw_v2(inner(ops, literal, v6), [pgp_keys.keys["p1"]]))
    env = encrypt_raw_v2(inner(ops, ops, literal, sig, v6), [pgp_keys.keys["p1"]])
    assert _open(pgp_keys, env).verified_by == (pgp_keys.kid("g1"),)


def test_chunk_size_never_exceeds_the_input(pgp_keys) -> None:
    """A 4 MiB chunk size on a small message is only a number: the chunks are slices of the
    received bytes, so nothing larger than the envelope is buffered."""
    env = _v2(pgp_keys, chunk_octet=16)
    assert len(env) < 2048
    assert _open(pgp_keys, env).plaintext == MSG
    body = packets_of(env)[-1][1]
    assert struct.unpack(">B", body[3:4]) == (16,)
