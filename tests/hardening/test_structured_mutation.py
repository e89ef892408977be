"""Structure-aware mutation with hypothesis: valid envelopes with one field changed.

Byte flips (test_tamper.py, the fuzzer) rarely produce a *well-formed* envelope with one
meaningful change; these tests do, and each knows the exact outcome:

- JWE: any change of a protected-header member (alg, enc, zip, kid, cty, unknown members,
  duplicates, non-objects) is InvalidEnvelope (the header is the AAD), and costs no private-key
  operation unless the changed header still passes the allow-list and names a usable key
  (then one; without a kid, at most max_trials). Other segments replaced: InvalidEnvelope,
  at most one operation. Nested JWS header changes: InvalidSignature.
- PGP, outside the encryption: every valid re-encoding of the packet headers (old and new
  format, 1/2/4/5-octet lengths, indeterminate length, partial-length chunks on the SEIPD)
  opens to the same result; partial lengths on a PKESK, wrong lengths and changed tags are
  InvalidEnvelope before any private-key operation (the marker tag on somebody else's PKESK
  excepted: that message still opens).
- PGP, inside the encryption (made the way anybody holding our public key can): the
  compression algorithm octet, recompression with each algorithm, partial-length literal
  data, the literal's format and name-length octets, one-pass signature fields and the
  signature's hashed area, each with its one right outcome.
"""

from __future__ import annotations

import base64
import bz2
import json
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from conftest import JWEParty
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from joserfc.jwk import RSAKey
from pgp_fixtures import Party, encrypt_raw

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode
from gpay_envelope.codecs.jwe import _codec as jwe_mod
from gpay_envelope.codecs.jwe import _direct
from gpay_envelope.codecs.jwe import _joserfc as jx
from gpay_envelope.codecs.pgp import _codec as pgp
from gpay_envelope.codecs.pgp import wire as op

MSG = b'{"requestHeader":{"requestId":"mutation"},"amount":"7.00"}'
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@contextmanager
def private_ops() -> Iterator[list[int]]:
    """Count RSA private-key operations in both codecs (per hypothesis example)."""
    calls: list[int] = []
    real_get = RSAKey.get_op_key
    real_pgp = pgp._rsa_decrypt

    class Counting:
        def __init__(self, key: Any) -> None:
            self._key = key

        def decrypt(self, ciphertext: bytes, pad: Any) -> bytes:
            calls.append(1)
            return self._key.decrypt(ciphertext, pad)  # type: ignore[no-any-return]

    def get_op_key(self: RSAKey, operation: str) -> Any:
        key = real_get(self, operation)  # type: ignore[arg-type]
        return Counting(key) if operation == "decrypt" else key

    def pgp_decrypt(key: Any, value: bytes) -> bytes | None:
        calls.append(1)
        return real_pgp(key, value)

    real_gcm = _direct.decrypt_gcm

    def decrypt_gcm(ops: Any, *args: Any) -> bytes:
        return real_gcm(Counting(ops), *args)

    with (
        mock.patch.object(RSAKey, "get_op_key", get_op_key),
        mock.patch.object(_direct, "decrypt_gcm", decrypt_gcm),
        mock.patch.object(pgp, "_rsa_decrypt", pgp_decrypt),
    ):
        yield calls


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


# -- JWE ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jwe_envelopes(partner: JWEParty, google: JWEParty) -> dict[str, bytes]:
    out = {}
    for profile in ("signed", "legacy"):
        out[profile] = ge.seal(
            MSG, recipients=google.public_enc, signer=partner.signer, codec="jwe", profile=profile
        )
    return out


MEMBERS = ["alg", "enc", "zip", "kid", "cty", "typ", "crit", "x5u", "jku", "jwk", "epk", "b64"]
VALUES = {
    "alg": ["RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "dir", "none", "A128KW", "RSA-OAEP-384", ""],
    "enc": ["A128GCM", "A192GCM", "A256GCM", "A128CBC-HS256", "A256CBC-HS512", "A128CBC", ""],
    "zip": ["DEF", "def", "GZIP", ""],
    "kid": ["google-enc-1", "google-enc-2", "partner-enc-1", "nobody", ""],
    "cty": ["JWT", "jwt", "JOSE", "application/json", ""],
    "typ": ["JOSE", "JWT"],
}
JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=12),
    st.lists(st.text(max_size=5), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@st.composite
def header_change(draw: st.DrawFn) -> tuple[str, str, Any]:
    name = draw(st.sampled_from(MEMBERS))
    action = draw(st.sampled_from(["set", "set", "delete", "duplicate"]))
    value = draw(st.one_of(st.sampled_from(VALUES.get(name, ["x"])), JSON_VALUES))
    return name, action, value


def _changed_header(segment: bytes, name: str, action: str, value: Any) -> bytes:
    head = json.loads(b64url_decode(segment))
    if action == "delete":
        head.pop(name, None)
        text = json.dumps(head)
    elif action == "duplicate":  # a second member of the same name: json keeps the last
        text = json.dumps(head)[:-1] + f", {json.dumps(name)}: {json.dumps(value)}}}"
    else:
        head[name] = value
        text = json.dumps(head)
    return _b64(text.encode())


def _max_jwe_ops(segment: bytes, identities: ge.KeySet) -> int:
    """The private-key operations the policy allows for this header: none unless it passes
    the allow-list and names a usable key; at most one for a named key; at most the trial
    bound without a kid."""
    try:
        head = json.loads(b64url_decode(segment))
    except ValueError:
        return 0
    if not isinstance(head, dict) or not set(head) <= jwe_mod.JWE_HEADERS:
        return 0
    alg, enc, kid = head.get("alg"), head.get("enc"), head.get("kid")
    if (
        not isinstance(alg, str)
        or not isinstance(enc, str)
        or alg not in jwe_mod.OPEN_ALGS
        or enc not in jwe_mod.OPEN_ENCS
        or head.get("zip", "DEF") != "DEF"
    ):
        return 0
    if kid is None:
        return ge.DEFAULT_LIMITS.max_trials
    if not isinstance(kid, str) or kid not in identities:
        return 0
    # At most one: joserfc's own header checks may still refuse it before the RSA step.
    return 1 if alg in identities.get(kid).algorithms else 0


@SETTINGS
@given(change=header_change(), profile=st.sampled_from(["signed", "legacy"]))
def test_jwe_header_member_changed(
    jwe_envelopes: dict[str, bytes],
    google: JWEParty,
    partner: JWEParty,
    change: tuple[str, str, Any],
    profile: str,
) -> None:
    env = jwe_envelopes[profile]
    head, *rest = env.split(b".")
    new = _changed_header(head, *change)
    assume(new != head)
    with private_ops() as ops, pytest.raises(ge.InvalidEnvelope) as info:
            ge.open(b".".join([new, *rest]), identities=google.identities,
                    senders=partner.public_sig)  # fmt: skip
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert len(ops) <= _max_jwe_ops(new, google.identities), (change, ops)


@SETTINGS
@given(
    header=st.one_of(
        st.just(b"[]"), st.just(b'"RSA1_5"'), st.just(b"null"), st.just(b"{"),
        st.binary(max_size=40), st.just(b'{"alg":"RSA1_5","enc":"A256CBC-HS512"}' * 2),
    ),
)  # fmt: skip
def test_jwe_header_not_an_object(
    jwe_envelopes: dict[str, bytes], google: JWEParty, header: bytes
) -> None:
    _head, *rest = jwe_envelopes["legacy"].split(b".")
    with private_ops() as ops, pytest.raises(ge.InvalidEnvelope):
        ge.open(b".".join([_b64(header), *rest]), identities=google.identities, senders=None,
                allow_unsigned=True)  # fmt: skip
    assert ops == []


@SETTINGS
@given(
    index=st.integers(1, 4),
    how=st.sampled_from(["random", "truncate", "extend", "empty", "flip"]),
    data=st.data(),
)
def test_jwe_other_segment_changed(
    jwe_envelopes: dict[str, bytes],
    google: JWEParty,
    partner: JWEParty,
    index: int,
    how: str,
    data: st.DataObject,
) -> None:
    segs = jwe_envelopes[data.draw(st.sampled_from(["signed", "legacy"]))].split(b".")
    raw = b64url_decode(segs[index])
    if how == "random":
        new = data.draw(st.binary(min_size=len(raw), max_size=len(raw)))
    elif how == "truncate":
        new = raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif how == "extend":
        new = raw + data.draw(st.binary(min_size=1, max_size=64))
    elif how == "empty":
        new = b""
    else:
        bit = data.draw(st.integers(0, 8 * len(raw) - 1))
        new = bytearray(raw)
        new[bit // 8] ^= 1 << (bit % 8)
        new = bytes(new)
    assume(new != raw)
    segs[index] = _b64(new)
    with private_ops() as ops, pytest.raises(ge.InvalidEnvelope):
        ge.open(b".".join(segs), identities=google.identities, senders=partner.public_sig)
    assert len(ops) <= 1


@SETTINGS
@given(change=header_change())
def test_nested_jws_header_changed(
    partner: JWEParty, google: JWEParty, change: tuple[str, str, Any]
) -> None:
    """The JWS inside, re-encrypted the way anybody can: a changed JWS header is
    InvalidSignature (signature over the header), never anything else."""
    registry = jx.registries(1 << 20, 1 << 21)
    sk = partner.signer.primary
    jose = sk.material.jose  # type: ignore[attr-defined]
    jws = jwe_mod.jws.serialize_compact({"alg": "RS256", "kid": sk.kid}, MSG, jose,
                                        registry=registry.jws)  # fmt: skip
    head, payload, sig = jws.encode().split(b".")
    new = _changed_header(head, *change)
    assume(new != head)
    key = google.identities.primary
    token = jwe_mod.jwe.encrypt_compact(
        {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": key.kid, "cty": "JWT"},
        b".".join([new, payload, sig]),
        key.public().material.jose,  # type: ignore[attr-defined]
        registry=registry.jwe,
    ).encode()
    with pytest.raises(ge.InvalidSignature):
        ge.open(token, identities=google.identities, senders=partner.public_sig)


# -- PGP: packet framing -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def pgp_message(pgp_keys: Party) -> list[tuple[int, bytes]]:
    """PKESK (g2), PKESK (g1), SEIPD: g2 first, so our PKESK is not the first packet."""
    env = ge.seal(MSG, recipients=pgp_keys.public("g2", "g1"), signer=pgp_keys.secret("p1"))
    return op.read_packets(b64url_decode(env), max_packets=5)


def _new_header(tag: int, size: int, width: int) -> bytes | None:
    if width == 1 and size < 192:
        return bytes((0xC0 | tag, size))
    if width == 2 and 192 <= size < 8384:
        n = size - 192
        return bytes((0xC0 | tag, (n >> 8) + 192, n & 0xFF))
    if width == 5:
        return bytes((0xC0 | tag, 0xFF)) + struct.pack(">I", size)
    return None


def _old_header(tag: int, size: int, width: int) -> bytes | None:
    if tag > 15:
        return None
    kind = {1: 0, 2: 1, 4: 2}[width]
    if size >= 1 << (8 * width):
        return None
    return bytes((0x80 | (tag << 2) | kind,)) + size.to_bytes(width, "big")


def _partial(tag: int, body: bytes, exps: list[int]) -> bytes:
    out = [bytes((0xC0 | tag,))]
    pos = 0
    for e in exps:
        if len(body) - pos <= 1 << e:
            break
        out.append(bytes((224 + e,)) + body[pos : pos + (1 << e)])
        pos += 1 << e
    rest = body[pos:]
    header = _new_header(tag, len(rest), 1) or _new_header(tag, len(rest), 2) or b""
    if not header:
        header = _new_header(tag, len(rest), 5) or b""
    out.append(header[1:] + rest)
    return b"".join(out)


@st.composite
def packet_encoding(draw: st.DrawFn, tag: int, body: bytes, last: bool) -> bytes:
    """One valid spelling of a packet; partial lengths only for data packets."""
    styles = ["new1", "new2", "new5", "old1", "old2", "old4"]
    if tag in (op.TAG_SEIPD, op.TAG_LITERAL, op.TAG_COMPRESSED):
        styles.append("partial")
        if last and tag < 16:
            styles.append("indeterminate")
    while True:
        style = draw(st.sampled_from(styles))
        if style == "partial":
            exps = draw(st.lists(st.integers(0, 12), min_size=1, max_size=6))
            return _partial(tag, body, exps)
        if style == "indeterminate":
            return bytes((0x80 | (tag << 2) | 3,)) + body
        width = int(style[-1])
        make = _new_header if style.startswith("new") else _old_header
        header = make(tag, len(body), width)
        if header is not None:
            return header + body
        styles.remove(style)


@SETTINGS
@given(data=st.data())
def test_every_valid_packet_encoding_opens(
    pgp_keys: Party, pgp_message: list[tuple[int, bytes]], data: st.DataObject
) -> None:
    last = len(pgp_message) - 1
    raw = b"".join(
        data.draw(packet_encoding(tag, body, i == last))
        for i, (tag, body) in enumerate(pgp_message)
    )
    with private_ops() as ops:
        res = ge.open_detailed(raw, identities=pgp_keys.secret("g1"),
                               senders=pgp_keys.public("p1"))  # fmt: skip
    assert res.plaintext == MSG and res.verified_by == (pgp_keys.kid("p1"),)
    assert len(ops) == 1


@SETTINGS
@given(index=st.integers(0, 2), exps=st.lists(st.integers(0, 8), min_size=1, max_size=4))
def test_partial_lengths_only_on_data_packets(
    pgp_keys: Party, pgp_message: list[tuple[int, bytes]], index: int, exps: list[int]
) -> None:
    tag, body = pgp_message[index]
    packets = [op.packet(t, b) for t, b in pgp_message]
    packets[index] = _partial(tag, body, exps)
    assume(packets[index] != op.packet(tag, body))
    with private_ops() as ops:
        if tag == op.TAG_SEIPD:
            assert ge.open(b"".join(packets), identities=pgp_keys.secret("g1"),
                           senders=pgp_keys.public("p1")) == MSG  # fmt: skip
            assert len(ops) == 1
        else:
            with pytest.raises(ge.InvalidEnvelope):
                ge.open(b"".join(packets), identities=pgp_keys.secret("g1"),
                        senders=pgp_keys.public("p1"))  # fmt: skip
            assert ops == []


@SETTINGS
@given(
    index=st.integers(0, 2),
    delta=st.one_of(st.integers(-300, 300), st.sampled_from([1 << 31, (1 << 32) - 1])),
    width=st.sampled_from([2, 5]),
)
def test_wrong_packet_lengths_are_refused(
    pgp_keys: Party, pgp_message: list[tuple[int, bytes]], index: int, delta: int, width: int
) -> None:
    tag, body = pgp_message[index]
    size = len(body) + delta
    assume(delta != 0 and 0 <= size < 1 << 32)
    header = _new_header(tag, size, width) or _new_header(tag, size, 5)
    assert header is not None
    packets = [op.packet(t, b) for t, b in pgp_message]
    packets[index] = header + body
    with private_ops() as ops, pytest.raises(ge.InvalidEnvelope):
        ge.open(b"".join(packets), identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p1"))
    assert ops == []


@SETTINGS
@given(index=st.integers(0, 2), tag=st.integers(0, 63))
@example(index=0, tag=10)  # marker
@example(index=0, tag=21)  # padding
@example(index=1, tag=21)
def test_changed_packet_tags(
    pgp_keys: Party, pgp_message: list[tuple[int, bytes]], index: int, tag: int
) -> None:
    assume(tag != pgp_message[index][0])
    packets = [op.packet(t, b) for t, b in pgp_message]
    packets[index] = op.packet(tag, pgp_message[index][1])
    args = {"identities": pgp_keys.secret("g1"), "senders": pgp_keys.public("p1")}
    with private_ops() as ops:
        # g2's PKESK became a marker or a padding packet, both of which a reader skips
        if index == 0 and tag in (op.TAG_MARKER, op.TAG_PADDING):
            assert ge.open(b"".join(packets), **args) == MSG
            assert len(ops) == 1
        else:
            with pytest.raises(ge.InvalidEnvelope):
                ge.open(b"".join(packets), **args)
            assert ops == []  # refused while reading the packets, before any RSA


# -- PGP: inside the encryption ----------------------------------------------------------------
@pytest.fixture(scope="module")
def inner(pgp_keys: Party) -> list[tuple[int, bytes]]:
    """One-pass signature, literal data, signature (p1, SHA384), as seal writes them."""
    env = ge.seal(MSG, recipients=pgp_keys.public("g1"), signer=pgp_keys.secret("p1"))
    (_, pkesk), (_, seipd) = op.read_packets(b64url_decode(env), max_packets=5)
    keyid, _algo, value = op.parse_pkesk(pkesk)  # type: ignore[misc]
    private = pgp_keys.keys["g1"].material.decryption_key(keyid)  # type: ignore[attr-defined]
    plain = pgp._rsa_decrypt(private, value)
    assert plain is not None
    content = op.decrypt_seipd(plain[1:33], seipd)
    assert content is not None
    return op.read_packets(content, max_packets=5)


def _open_inner(party: Party, content: bytes) -> str:
    try:
        envelope = encrypt_raw(content, [party.keys["g1"]])
        res = ge.open_detailed(envelope, identities=party.secret("g1"), senders=party.public("p1"))
    except (ge.InvalidEnvelope, ge.InvalidSignature) as exc:
        return type(exc).__name__
    assert res.plaintext == MSG and res.verified_by == (party.kid("p1"),)
    return "opened"


def _compress(algo: int, data: bytes) -> bytes:
    if algo == op.COMP_ZIP:
        c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        return c.compress(data) + c.flush()
    if algo == op.COMP_ZLIB:
        return zlib.compress(data)
    if algo == op.COMP_BZIP2:
        return bz2.compress(data)
    return data


@SETTINGS
@given(algo=st.integers(0, 255), made_with=st.sampled_from([0, 1, 2, 3]))
def test_compression_algorithm_octet(
    pgp_keys: Party, inner: list[tuple[int, bytes]], algo: int, made_with: int
) -> None:
    """Opens iff the octet names the algorithm the body was made with (any of the four)."""
    plain = b"".join(op.packet(t, b) for t, b in inner)
    packet = op.packet(op.TAG_COMPRESSED, bytes((algo,)) + _compress(made_with, plain))
    assert _open_inner(pgp_keys, packet) == ("opened" if algo == made_with else "InvalidEnvelope")


@SETTINGS
@given(
    exps=st.lists(st.integers(0, 10), min_size=1, max_size=5),
    wrap=st.sampled_from([None, 0, 1, 2, 3]),
    data=st.data(),
)
def test_partial_length_literal_and_compressed_packets_open(
    pgp_keys: Party, inner: list[tuple[int, bytes]], exps: list[int], wrap: int | None,
    data: st.DataObject,
) -> None:  # fmt: skip
    (ops_tag, ops_body), (lit_tag, lit_body), (sig_tag, sig_body) = inner
    plain = op.packet(ops_tag, ops_body) + _partial(lit_tag, lit_body, exps) + op.packet(
        sig_tag, sig_body
    )
    if wrap is not None:
        body = bytes((wrap,)) + _compress(wrap, plain)
        plain = data.draw(packet_encoding(op.TAG_COMPRESSED, body, True))
    assert _open_inner(pgp_keys, plain) == "opened"


@SETTINGS
@given(fmt=st.integers(0, 255), name_len=st.one_of(st.none(), st.integers(0, 255)))
def test_literal_format_and_name_length(
    pgp_keys: Party, inner: list[tuple[int, bytes]], fmt: int, name_len: int | None
) -> None:
    (ops_tag, ops_body), (lit_tag, lit_body), (sig_tag, sig_body) = inner
    name = lit_body[1:2] if name_len is None else bytes((name_len,))
    body = bytes((fmt,)) + name + lit_body[2:]
    content = b"".join(
        (op.packet(ops_tag, ops_body), op.packet(lit_tag, body), op.packet(sig_tag, sig_body))
    )
    if fmt not in b"btum" or 2 + body[1] + 4 > len(body):
        want = "InvalidEnvelope"
    elif body[1] != lit_body[1]:
        want = "InvalidSignature"  # the data starts elsewhere: not what p1 signed
    else:
        want = "opened"
    assert _open_inner(pgp_keys, content) == want


@SETTINGS
@given(offset=st.integers(0, 12), value=st.integers(0, 255))
def test_one_pass_signature_fields(
    pgp_keys: Party, inner: list[tuple[int, bytes]], offset: int, value: int
) -> None:
    """Only the version octet of a one-pass signature is checked; the rest are hints (the
    signature packet decides), so changing them changes nothing."""
    (ops_tag, ops_body), (lit_tag, lit_body), (sig_tag, sig_body) = inner
    body = ops_body[:offset] + bytes((value,)) + ops_body[offset + 1 :]
    content = b"".join(
        (op.packet(ops_tag, body), op.packet(lit_tag, lit_body), op.packet(sig_tag, sig_body))
    )
    want = "InvalidEnvelope" if offset == 0 and value != 3 else "opened"
    assert _open_inner(pgp_keys, content) == want


@SETTINGS
@given(data=st.data())
def test_signature_hashed_area_changed(
    pgp_keys: Party, inner: list[tuple[int, bytes]], data: st.DataObject
) -> None:
    """Any change of the hashed area (its length included) or of the signature value:
    InvalidSignature. The content is authenticated by then, so a signature that is bad or
    no longer parses is not counted, never an InvalidEnvelope and never an open."""
    (ops_tag, ops_body), (lit_tag, lit_body), (sig_tag, sig_body) = inner
    hlen = int.from_bytes(sig_body[4:6], "big")
    end = len(sig_body)
    pos = data.draw(st.integers(4, 6 + hlen - 1) | st.integers(end - 20, end - 1))
    value = data.draw(st.integers(0, 255))
    assume(value != sig_body[pos])
    body = sig_body[:pos] + bytes((value,)) + sig_body[pos + 1 :]
    content = b"".join(
        (op.packet(ops_tag, ops_body), op.packet(lit_tag, lit_body), op.packet(sig_tag, body))
    )
    assert _open_inner(pgp_keys, content) == "InvalidSignature"
