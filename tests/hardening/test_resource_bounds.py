"""Resource bounds with numbers (docs/hardening.md: a bomb refused in under 1 s, under 64 MiB).

- 1 GiB inflation bombs in both codecs (PGP ZIP, ZLIB, BZip2, nested and deeply nested
  compressed packets, a partial-length literal; JWE ``zip: "DEF"`` on the signed path),
  each refused with a peak under 64 MiB measured in a child process (VmHWM of the child, not
  ru_maxrss). Outcome and memory are asserted; the seconds are printed (``-s``) for
  docs/hardening.md, never asserted. codecs/jwe/test_deflate.py and
  codecs/pgp/test_pgp_memory_bounds.py already refuse a 1 GiB RSA1_5 + DEF JWE and 256 MiB PGP
  bombs; these extend them, they do not repeat them.
- Memory amplification by a single envelope within ``max_envelope``: many-segment compact
  serialisations and short-line armor.
- Deeply nested and very long packet streams: refused by counts, before any private-key
  operation where the structure is outside the encryption.
- The envelope size cap: a payload of exactly ``max_plaintext`` fits ``max_envelope`` in
  every profile; an envelope of exactly ``max_envelope`` bytes is parsed and opens; one byte
  more is refused before the codec sees it.
- Private-key operations per open, counted at the RSA call, against ``limits.max_trials``:
  JWE without kid, PGP wildcard and many-PKESK messages; and signature checks per signature.
- PKCS#1 v1.5 failure classes (JWE RSA1_5 and PGP PKESK) do the same work and end the same
  way. The timing statistics are in benchmarks/timing_rsa1_5.py; the start-up refusal of a
  backend without implicit rejection is tested in codecs/jwe/test_rsa1_5.py
  (test_backend_without_implicit_rejection_refuses_rsa1_5).

Bombs are built once per session, in O(distinct pieces): each piece is deflated once and ends
with a full flush, so copies of it concatenate into one valid stream. The BZip2 bomb cannot be
built that way (bit-aligned blocks) and is cached in pytest's cache directory.
"""

from __future__ import annotations

import base64
import bz2
import json
import secrets
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import JWEParty
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc.jwk import RSAKey
from jwe_craft import craft_raw
from pgp_fixtures import Party, encrypt_raw

import gpay_envelope as ge
from gpay_envelope._b64 import b64url_decode, b64url_encode
from gpay_envelope.codecs.jwe import _codec as jwe_mod
from gpay_envelope.codecs.jwe import _direct
from gpay_envelope.codecs.jwe import _joserfc as jx
from gpay_envelope.codecs.pgp import _codec as pgp
from gpay_envelope.codecs.pgp import key_to_pgp
from gpay_envelope.codecs.pgp import wire as op

MIB = 1 << 20
GIB = 1 << 30
#: docs/hardening.md: a bomb is refused with under 64 MiB peak.
PEAK_LIMIT_KIB = 64 * 1024
LIMITS = ge.DEFAULT_LIMITS
MSG = b'{"requestHeader":{"requestId":"resources"},"amount":"1.00"}'

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc (Linux)"
)


# -- measuring in a child process ------------------------------------------------------------
# VmHWM of the child itself: ru_maxrss would carry the pytest parent's high-water mark across
# fork and exec. The child records its peak after loading keys, then resets the mark
# (clear_refs 5) so the peak of the open() call alone is known too.
_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import gpay_envelope as ge

    def status(name):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])

    codec, keyfile, envfile = sys.argv[1:4]
    if codec == "jwe":
        # Bound like the fixture keys it was exported from (both paddings, on purpose).
        keys = ge.KeySet.from_jwks(
            open(keyfile).read(), algorithms=["RSA-OAEP-256", "RSA-OAEP", "RSA1_5"]
        )
    else:
        keys = ge.KeySet.from_pgp(open(keyfile, "rb").read())
    envelope = open(envfile, "rb").read()
    setup_peak = status("VmHWM")
    rss_before = status("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    start = time.perf_counter()
    try:
        ge.open(envelope, identities=keys, senders=keys.public())
        outcome = "opened"
    except ge.OpenError as exc:
        outcome = type(exc).__name__
    seconds = time.perf_counter() - start
    open_peak = status("VmHWM")
    print(json.dumps({
        "outcome": outcome,
        "seconds": seconds,
        "envelope_bytes": len(envelope),
        "rss_before_kib": rss_before,
        "open_peak_kib": open_peak,
        "peak_kib": max(setup_peak, open_peak),
    }))
    """
)


def measure(codec: str, keys: bytes, envelope: bytes, tmp_path: Path, name: str) -> dict[str, Any]:
    """Open ``envelope`` in a fresh interpreter; return outcome, seconds and peak memory."""
    keyfile, envfile = tmp_path / f"{name}.keys", tmp_path / f"{name}.env"
    keyfile.write_bytes(keys)
    envfile.write_bytes(envelope)
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, codec, str(keyfile), str(envfile)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    print(
        f"\n[resources] {name}: {result['outcome']} in {result['seconds']:.3f} s, "
        f"envelope {result['envelope_bytes']} B, peak {result['peak_kib'] / 1024:.1f} MiB "
        f"(open() from {result['rss_before_kib'] / 1024:.1f} to "
        f"{result['open_peak_kib'] / 1024:.1f} MiB)"
    )
    return result


# -- bombs -------------------------------------------------------------------------------------
def deflate_pieces(pieces: Sequence[tuple[bytes, int]]) -> bytes:
    """A raw DEFLATE stream of ``data * times`` for each piece, compressed once per piece.

    Each piece is compressed by a fresh compressor and ended with a full flush: byte-aligned,
    no back-reference before its start, so copies concatenate. An empty final block ends it.
    """
    out = []
    for data, times in pieces:
        c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        out.append((c.compress(data) + c.flush(zlib.Z_FULL_FLUSH)) * times)
    out.append(zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush())
    return b"".join(out)


def zlib_pieces(pieces: Sequence[tuple[bytes, int]]) -> bytes:
    """The same as an RFC 1950 stream: header, raw DEFLATE, Adler-32 of everything."""
    adler = 1
    for data, times in pieces:
        for _ in range(times):
            adler = zlib.adler32(data, adler)
    return b"\x78\xda" + deflate_pieces(pieces) + adler.to_bytes(4, "big")


_ZEROS = bytes(MIB)
#: A junk signature: the bombs must be refused before any verification.
_JUNK_SIG = op.packet(
    op.TAG_SIGNATURE, bytes((4, 0, 1, op.HASH_SHA384, 0, 0, 0, 0, 0, 0, 0, 8)) + b"U"
)
_OPS = op.ops_packet(hashalg=op.HASH_SHA384, keyid=b"\x11" * 8, last=True)


def _literal_header(size: int) -> bytes:
    """New-format literal data header with a five-octet length: binary, no name, no date."""
    return b"\xcb\xff" + struct.pack(">I", size + 6) + b"b\x00\0\0\0\0"


def _gib_pieces() -> list[tuple[bytes, int]]:
    return [(_OPS + _literal_header(GIB), 1), (_ZEROS, GIB // MIB), (_JUNK_SIG, 1)]


def _partial_literal_pieces() -> list[tuple[bytes, int]]:
    """The 1 GiB literal as gpg streams it: 1 MiB partial-length chunks (0xf4 = 2**20)."""
    last = _literal_header(0)[:1] + b"\x00"  # a final zero-length part
    head = _OPS + b"\xcb\xeb" + b"b\x00\0\0\0\0" + bytes((1 << 11) - 6)  # first part: 2 KiB
    return [(head, 1), (b"\xf4" + _ZEROS, GIB // MIB), (last[1:], 1), (_JUNK_SIG, 1)]


def _bzip2_bomb(cache: Path) -> bytes:
    path = cache / "bzip2-1GiB-v1.bin"
    if path.is_file():
        return path.read_bytes()
    c = bz2.BZ2Compressor(9)
    parts = [c.compress(_OPS + _literal_header(GIB))]
    parts += [c.compress(_ZEROS) for _ in range(GIB // MIB)]
    parts += [c.compress(_JUNK_SIG), c.flush()]
    data = b"".join(parts)
    path.write_bytes(data)
    return data


@pytest.fixture(scope="session")
def pgp_bombs(request: pytest.FixtureRequest) -> dict[str, bytes]:
    """Compressed-packet contents inflating to 1 GiB (one compressed packet each)."""
    cache_plugin = getattr(request.config, "cache", None)  # absent with -p no:cacheprovider
    if cache_plugin is not None:
        cache = Path(cache_plugin.mkdir("gpay-bombs"))
    else:
        cache = request.getfixturevalue("tmp_path_factory").mktemp("gpay-bombs")
    zip_stream = deflate_pieces(_gib_pieces())
    zip_packet = op.packet(op.TAG_COMPRESSED, bytes((op.COMP_ZIP,)) + zip_stream)
    nested = zip_packet
    for _ in range(3):  # ZIP(ZIP(ZIP(ZIP(1 GiB)))): each level inflates to the one inside
        c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        nested = op.packet(op.TAG_COMPRESSED, b"\x01" + c.compress(nested) + c.flush())
    return {
        "zip": zip_packet,
        "zlib": op.packet(op.TAG_COMPRESSED, b"\x02" + zlib_pieces(_gib_pieces())),
        "bzip2": op.packet(op.TAG_COMPRESSED, b"\x03" + _bzip2_bomb(cache)),
        "nested": nested,
        "partial-literal": op.packet(
            op.TAG_COMPRESSED, b"\x01" + deflate_pieces(_partial_literal_pieces())
        ),
    }


def test_bomb_builders_really_inflate_to_a_gib() -> None:
    """The fast builders make valid streams of the announced size (streamed check)."""
    for algo, stream in ((1, deflate_pieces(_gib_pieces())), (2, zlib_pieces(_gib_pieces()))):
        d = zlib.decompressobj(-zlib.MAX_WBITS if algo == 1 else zlib.MAX_WBITS)
        total, data = 0, stream
        while data:
            total += len(d.decompress(data, 64 * MIB))
            data = d.unconsumed_tail
        total += len(d.flush())
        assert d.eof and not d.unused_data
        assert total == len(_OPS) + 6 + 6 + GIB + len(_JUNK_SIG)
        assert len(stream) < 2 * MIB


@needs_proc
@pytest.mark.parametrize("kind", ["zip", "zlib", "bzip2", "nested", "partial-literal"])
def test_pgp_gib_bomb_is_refused_under_64_mib(
    pgp_keys: Party, pgp_bombs: dict[str, bytes], tmp_path: Path, kind: str
) -> None:
    g1 = pgp_keys.keys["g1"]
    envelope = b64url_encode(encrypt_raw(pgp_bombs[kind], [g1]))
    assert len(envelope) < LIMITS.max_envelope
    result = measure("pgp", key_to_pgp(g1, include_private=True), envelope, tmp_path, f"pgp-{kind}")
    assert result["outcome"] == "InvalidEnvelope"
    assert result["peak_kib"] < PEAK_LIMIT_KIB, result


def test_nested_compression_inflates_one_level_only(
    pgp_keys: Party, pgp_bombs: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = op.decompress

    def spy(body: bytes, *, cap: int) -> tuple[int, bytes]:
        algo, out = real(body, cap=cap)
        sizes.append(len(out))
        return algo, out

    monkeypatch.setattr(op, "decompress", spy)
    g1 = pgp_keys.keys["g1"]
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(encrypt_raw(pgp_bombs["nested"], [g1]), identities=pgp_keys.secret("g1"),
                senders=pgp_keys.public("p1"))  # fmt: skip
    assert len(sizes) == 1 and sizes[0] < 2 * MIB  # the outer level: the next packet, no more


@needs_proc
def test_jwe_gib_bomb_on_the_signed_path_is_refused_under_64_mib(
    google: JWEParty, tmp_path: Path
) -> None:
    """RSA-OAEP-256 + A256GCM + DEF with cty JWT: the path with the larger inflation cap
    (a JWS around max_plaintext); codecs/jwe/test_deflate.py covers RSA1_5 + DEF,
    unsigned."""
    key = google.identities.primary
    head = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF", "cty": "JWT", "kid": key.kid}
    token = craft_raw(head, deflate_pieces([(_ZEROS, GIB // MIB)]), key.public())
    keys = json.dumps(google.identities.to_jwks(include_private=True)).encode()
    result = measure("jwe", keys, token, tmp_path, "jwe-def-signed-path")
    assert result["outcome"] == "InvalidEnvelope"
    assert result["peak_kib"] < PEAK_LIMIT_KIB, result


# -- one envelope, many objects ----------------------------------------------------------------
def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


@needs_proc
def test_jwe_envelope_of_many_segments_stays_under_64_mib(
    google: JWEParty, tmp_path: Path
) -> None:
    envelope = (b"aa." * (LIMITS.max_envelope // 3 + 1))[: LIMITS.max_envelope]
    keys = json.dumps(google.identities.to_jwks(include_private=True)).encode()
    result = measure("jwe", keys, envelope, tmp_path, "jwe-many-segments")
    assert result["outcome"] == "InvalidEnvelope"
    assert result["peak_kib"] < PEAK_LIMIT_KIB, result


@needs_proc
def test_nested_jws_of_many_segments_stays_under_64_mib(google: JWEParty, tmp_path: Path) -> None:
    key = google.identities.primary
    inner = _b64(b'{"alg":"RS256"}') + b"." + b"aa." * ((5 * MIB) // 3) + b"aa"
    c = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "zip": "DEF", "cty": "JWT", "kid": key.kid}
    token = craft_raw(head, c.compress(inner) + c.flush(), key.public())
    assert len(token) < 16 * 1024
    keys = json.dumps(google.identities.to_jwks(include_private=True)).encode()
    result = measure("jwe", keys, token, tmp_path, "jwe-nested-jws-many-segments")
    assert result["outcome"] == "InvalidSignature"
    assert result["peak_kib"] < PEAK_LIMIT_KIB, result


@needs_proc
def test_armored_envelope_of_short_lines_stays_under_64_mib(
    pgp_keys: Party, tmp_path: Path
) -> None:
    """An armor parser that splits the text into lines keeps one bytes object per line: an
    8 MiB envelope of 'aa' lines peaked at ~214 MiB (found here; dearmor now walks the text
    with find())."""
    head = b"-----BEGIN PGP MESSAGE-----\n"
    envelope = (head + b"aa\n" * (LIMITS.max_envelope // 3))[: LIMITS.max_envelope]
    key = key_to_pgp(pgp_keys.keys["g1"], include_private=True)
    result = measure("pgp", key, envelope, tmp_path, "pgp-armor-short-lines")
    assert result["outcome"] == "InvalidEnvelope"
    assert result["peak_kib"] < PEAK_LIMIT_KIB, result


# -- counting ----------------------------------------------------------------------------------
@pytest.fixture
def rsa_ops(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every RSA private-key operation, in either codec: one entry per call.

    JWE: the RSA key joserfc hands its key-management models (RSA1_5, AES-CBC-HMAC) and the
    one `_direct.decrypt_gcm` gets (RSA-OAEP with AES-GCM) are wrapped; PGP: the codec's one
    private-key call, `pgp._rsa_decrypt`.
    """
    calls: list[int] = []
    real_get = RSAKey.get_op_key

    class Counting:
        def __init__(self, key: Any) -> None:
            self._key = key

        def decrypt(self, ciphertext: bytes, pad: Any) -> bytes:
            calls.append(1)
            return self._key.decrypt(ciphertext, pad)  # type: ignore[no-any-return]

        def __getattr__(self, name: str) -> Any:
            return getattr(self._key, name)

    def get_op_key(self: RSAKey, operation: str) -> Any:
        key = real_get(self, operation)  # type: ignore[arg-type]
        return Counting(key) if operation == "decrypt" else key

    real_pgp = pgp._rsa_decrypt

    def pgp_decrypt(key: Any, value: bytes) -> bytes | None:
        calls.append(1)
        return real_pgp(key, value)

    real_gcm = _direct.decrypt_gcm

    def decrypt_gcm(ops: Any, *args: Any) -> bytes:
        return real_gcm(Counting(ops), *args)

    monkeypatch.setattr(RSAKey, "get_op_key", get_op_key)
    monkeypatch.setattr(_direct, "decrypt_gcm", decrypt_gcm)
    monkeypatch.setattr(pgp, "_rsa_decrypt", pgp_decrypt)
    return calls


@pytest.fixture
def seipd_keys(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Length of the session key of every SEIPD decryption (PGP)."""
    seen: list[int] = []
    real = op.decrypt_seipd

    def spy(key: bytes, body: bytes) -> bytes | None:
        seen.append(len(key))
        return real(key, body)

    monkeypatch.setattr(op, "decrypt_seipd", spy)
    return seen


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every public-key signature check (PGP `op.rsa_verify`, JWE `jx.verify_signature` and
    `_direct.verify_rsa`)."""
    calls: list[int] = []
    real_pgp = op.rsa_verify
    real_jws = jx.verify_signature

    def pgp_verify(*args: Any) -> bool:
        calls.append(1)
        return real_pgp(*args)

    def jws_verify(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        return real_jws(*args, **kwargs)

    real_rsa = _direct.verify_rsa

    def rsa_verify(*args: Any) -> bool:
        calls.append(1)
        return real_rsa(*args)

    monkeypatch.setattr(op, "rsa_verify", pgp_verify)
    monkeypatch.setattr(jx, "verify_signature", jws_verify)
    monkeypatch.setattr(_direct, "verify_rsa", rsa_verify)
    return calls


# -- deep nesting and long streams -------------------------------------------------------------
def _signed_inner(party: Party) -> bytes:
    """ops + literal + signature by p1, as seal makes them (taken from a real envelope)."""
    env = ge.seal(MSG, recipients=party.public("g1"), signer=party.secret("p1"), codec="pgp")
    raw = b64url_decode(env)
    (_, pkesk), (_, seipd) = op.read_packets(raw, max_packets=5)
    keyid, _algo, value = op.parse_pkesk(pkesk)  # type: ignore[misc]
    private = party.keys["g1"].material.decryption_key(keyid)  # type: ignore[attr-defined]
    plain = pgp._rsa_decrypt(private, value)
    assert plain is not None
    content = op.decrypt_seipd(plain[1:33], seipd)
    assert content is not None
    return content


@pytest.mark.parametrize("algo", [op.COMP_NONE, op.COMP_ZIP])
def test_deeply_nested_compressed_packets(
    pgp_keys: Party, rsa_ops: list[int], monkeypatch: pytest.MonkeyPatch, algo: int
) -> None:
    """2,000 levels of compressed packets around a valid signed message: one private-key
    operation, one level inflated, no recursion, refused."""
    calls: list[int] = []
    real = op.decompress
    monkeypatch.setattr(op, "decompress", lambda b, cap: calls.append(1) or real(b, cap=cap))
    inner = _signed_inner(pgp_keys)
    assert ge.open(encrypt_raw(inner, [pgp_keys.keys["g1"]]), identities=pgp_keys.secret("g1"),
                   senders=pgp_keys.public("p1")) == MSG  # fmt: skip
    for _ in range(2000):
        if algo == op.COMP_ZIP:
            c = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
            inner = op.packet(op.TAG_COMPRESSED, b"\x01" + c.compress(inner) + c.flush())
        else:
            inner = op.packet(op.TAG_COMPRESSED, b"\x00" + inner)
    rsa_ops.clear()
    calls.clear()
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(encrypt_raw(inner, [pgp_keys.keys["g1"]]), identities=pgp_keys.secret("g1"),
                senders=pgp_keys.public("p1"))  # fmt: skip
    assert rsa_ops == [1] and calls == [1]


def _real_message(party: Party) -> tuple[bytes, bytes]:
    raw = b64url_decode(ge.seal(MSG, recipients=party.public("g1"), signer=party.secret("p1")))
    (_, pkesk), (_, seipd) = op.read_packets(raw, max_packets=5)
    return op.packet(op.TAG_PKESK, pkesk), seipd


def test_long_top_level_packet_streams_cost_no_private_key_operation(
    pgp_keys: Party, rsa_ops: list[int]
) -> None:
    pkesk, seipd = _real_message(pgp_keys)
    marker = op.packet(op.TAG_MARKER, b"PGP")
    budget = LIMITS.max_envelope - len(pkesk) - len(seipd) - 16
    cases = {
        # 1.6 million marker packets before a valid message (binary, 8 MiB)
        "markers": marker * (budget // len(marker)) + pkesk + op.packet(op.TAG_SEIPD, seipd),
        # 33 PKESKs: one more than MAX_RECIPIENTS
        "pkesks": pkesk * (pgp.MAX_RECIPIENTS + 1) + op.packet(op.TAG_SEIPD, seipd),
        # the SEIPD as one-byte partial chunks, to the envelope cap
        "chunks": pkesk + b"\xd2" + b"\xe0\x00" * (budget // 2) + b"\x01\x00",
    }
    for name, envelope in cases.items():
        assert len(envelope) <= LIMITS.max_envelope, name
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(envelope, identities=pgp_keys.secret("g1"), senders=pgp_keys.public("p1"))
        assert rsa_ops == [], name


def test_long_inner_packet_streams_are_refused_before_any_signature_check(
    pgp_keys: Party, rsa_ops: list[int], verifications: list[int]
) -> None:
    inner = _signed_inner(pgp_keys)
    ops_packet, literal, sig = (op.packet(t, b) for t, b in op.read_packets(inner, max_packets=5))
    cases = {
        "100k one-pass signatures": ops_packet * 100_000 + literal + sig,
        "17 signatures": ops_packet * 17 + literal + sig * 17,
        "50k literals": literal * 50_000,
        "literal in one-byte chunks": b"\xcb" + b"\xe0x" * 200_000 + b"\x00",
    }
    for name, content in cases.items():
        assert len(content) < LIMITS.max_envelope // 2, name
        rsa_ops.clear()
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(encrypt_raw(content, [pgp_keys.keys["g1"]]), identities=pgp_keys.secret("g1"),
                    senders=pgp_keys.public("p1"))  # fmt: skip
        assert rsa_ops == [1], name
        assert verifications == [], name


# -- the envelope size cap ---------------------------------------------------------------------
class _Counting:
    """A codec wrapper counting open() calls: proves a refusal happened before the codec."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.profiles = inner, inner.name, inner.profiles
        self.opened = 0

    def seal(self, request: Any) -> bytes:
        return self.inner.seal(request)  # type: ignore[no-any-return]

    def open(self, request: Any) -> Any:
        self.opened += 1
        return self.inner.open(request)


def _registry(codec: str) -> tuple[ge.CodecRegistry, _Counting]:
    counting = _Counting(ge.default_registry.get(codec))
    reg = ge.CodecRegistry()
    reg.register(codec, lambda: counting)
    return reg, counting


@pytest.fixture(scope="module")
def max_payload() -> bytes:
    """max_plaintext incompressible bytes: the worst case for the envelope's size."""
    return secrets.token_bytes(LIMITS.max_plaintext)


def _parties(codec: str, jwe_party: tuple[JWEParty, JWEParty], pgp_keys: Party) -> dict[str, Any]:
    partner, google = jwe_party
    if codec == "jwe":
        return {"recipients": google.public_enc, "signer": partner.signer,
                "identities": google.identities, "senders": partner.public_sig}  # fmt: skip
    return {"recipients": pgp_keys.public("g1"), "signer": pgp_keys.secret("p1"),
            "identities": pgp_keys.secret("g1"), "senders": pgp_keys.public("p1")}  # fmt: skip


SIZE_CASES = [("jwe", "signed"), ("jwe", "legacy"), ("pgp", "default"), ("pgp", "zip")]


@pytest.mark.parametrize(("codec", "profile"), SIZE_CASES)
def test_max_plaintext_fits_max_envelope_and_the_cap_is_exact(
    partner: JWEParty,
    google: JWEParty,
    pgp_keys: Party,
    max_payload: bytes,
    codec: str,
    profile: str,
) -> None:
    """The largest payload seal accepts makes an envelope open accepts, in every profile; an
    envelope of exactly max_envelope bytes (padded with the whitespace open ignores) is
    parsed and opens; one byte more is refused before the codec is called."""
    keys = _parties(codec, (partner, google), pgp_keys)
    env = ge.seal(max_payload, recipients=keys["recipients"], signer=keys["signer"],
                  codec=codec, profile=profile)  # fmt: skip
    print(f"\n[resources] {codec}/{profile}: a {len(max_payload)}-byte payload makes a "
          f"{len(env)}-byte envelope (cap {LIMITS.max_envelope})")  # fmt: skip
    assert len(env) <= LIMITS.max_envelope
    reg, counting = _registry(codec)
    exact = env + b" " * (LIMITS.max_envelope - len(env))
    opened = ge.open(exact, identities=keys["identities"], senders=keys["senders"], registry=reg)
    assert opened == max_payload and counting.opened == 1
    with pytest.raises(ge.InvalidEnvelope) as info:
        ge.open(exact + b" ", identities=keys["identities"], senders=keys["senders"],
                registry=reg)  # fmt: skip
    assert counting.opened == 1  # refused before the codec saw a byte
    assert info.value.__cause__ is None and info.value.__context__ is None
    # The same for a str envelope, and for a custom cap.
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env.decode() + " " * (LIMITS.max_envelope + 1 - len(env)),
                identities=keys["identities"], senders=keys["senders"], registry=reg)  # fmt: skip
    assert counting.opened == 1
    small = ge.Limits(max_envelope=len(env))
    ge.open(env, identities=keys["identities"], senders=keys["senders"], limits=small,
            registry=reg)  # fmt: skip
    assert counting.opened == 2


@pytest.mark.parametrize("codec", ["jwe", "pgp"])
def test_a_payload_one_byte_over_max_plaintext_never_opens(
    partner: JWEParty, google: JWEParty, pgp_keys: Party, codec: str
) -> None:
    keys = _parties(codec, (partner, google), pgp_keys)
    over = secrets.token_bytes(LIMITS.max_plaintext + 1)
    with pytest.raises(ge.SealError, match="over the limit"):
        ge.seal(over, recipients=keys["recipients"], signer=keys["signer"], codec=codec)
    bigger = ge.Limits(max_plaintext=LIMITS.max_plaintext + 1)
    env = ge.seal(over, recipients=keys["recipients"], signer=keys["signer"], codec=codec,
                  limits=bigger)  # fmt: skip
    assert ge.open(env, identities=keys["identities"], senders=keys["senders"],
                   limits=bigger) == over  # fmt: skip
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(env, identities=keys["identities"], senders=keys["senders"])


# -- private-key operations per open -----------------------------------------------------------
@pytest.fixture(scope="module")
def six_jwe_identities(partner: JWEParty, spare_keys: tuple[ge.Key, ...]) -> ge.KeySet:
    keys = [*partner.identities, *spare_keys]
    return ge.KeySet(keys, primary=keys[0].kid)


@pytest.mark.parametrize("alg", ["RSA1_5", "RSA-OAEP-256"])
def test_jwe_without_kid_costs_at_most_max_trials(
    six_jwe_identities: ge.KeySet, rsa_ops: list[int], alg: str
) -> None:
    """No kid, six candidate keys, the right one last: exactly min(max_trials, 6) RSA
    operations, and it opens only when the bound reaches it. Garbage costs the same."""
    last = list(six_jwe_identities)[-1]
    enc = "A256CBC-HS512" if alg == "RSA1_5" else "A256GCM"
    token = craft_raw({"alg": alg, "enc": enc}, MSG, last.public())
    head, _ek, *rest = token.split(b".")
    garbage = b".".join([head, _b64(secrets.token_bytes(256)), *rest])
    for trials in range(1, 8):
        limits = ge.Limits(max_trials=trials)
        for envelope, opens in ((token, trials >= 6), (garbage, False)):
            rsa_ops.clear()
            if opens:
                res = ge.open_detailed(envelope, identities=six_jwe_identities, senders=None,
                                       allow_unsigned=True, limits=limits)  # fmt: skip
                assert res.decrypted_with == last.kid
            else:
                with pytest.raises(ge.InvalidEnvelope):
                    ge.open(envelope, identities=six_jwe_identities, senders=None,
                            allow_unsigned=True, limits=limits)  # fmt: skip
            assert len(rsa_ops) == min(trials, 6), (trials, opens)


def test_jwe_kid_costs_one_operation_whatever_the_ciphertext(
    six_jwe_identities: ge.KeySet, rsa_ops: list[int]
) -> None:
    target = list(six_jwe_identities)[3]
    token = craft_raw({"alg": "RSA1_5", "enc": "A256CBC-HS512", "kid": target.kid}, MSG,
                      target.public())  # fmt: skip
    head, _ek, *rest = token.split(b".")
    for ek in (secrets.token_bytes(256), b"\x00" * 256, b"\xff" * 256, b"", b"x" * 512):
        rsa_ops.clear()
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(b".".join([head, _b64(ek), *rest]), identities=six_jwe_identities,
                    senders=None, allow_unsigned=True, limits=ge.Limits(max_trials=6))  # fmt: skip
        assert len(rsa_ops) <= 1
    unknown = craft_raw({"alg": "RSA1_5", "enc": "A256CBC-HS512", "kid": "nobody"}, MSG,
                        target.public())  # fmt: skip
    rsa_ops.clear()
    with pytest.raises(ge.InvalidEnvelope):
        ge.open(unknown, identities=six_jwe_identities, senders=None, allow_unsigned=True)
    assert rsa_ops == []


def test_jws_without_kid_costs_at_most_max_trials_checks(
    partner: JWEParty, google: JWEParty, verifications: list[int]
) -> None:
    signers = [ge.generate_key(kid=f"jws-{i}", use="sig", size=2048) for i in range(4)]
    senders = ge.KeySet([k.public() for k in signers], primary="jws-0")
    registry = jx.registries(1 << 20, 1 << 21).jws
    jose = signers[3].material.jose  # type: ignore[attr-defined]
    inner = jwe_mod.jws.serialize_compact({"alg": "RS256"}, MSG, jose, registry=registry)
    key = google.identities.primary
    token = craft_raw({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT", "kid": key.kid},
                      inner.encode(), key.public())  # fmt: skip
    for trials in range(1, 6):
        verifications.clear()
        limits = ge.Limits(max_trials=trials)
        if trials >= 4:
            assert ge.open(token, identities=google.identities, senders=senders,
                           limits=limits) == MSG  # fmt: skip
        else:
            with pytest.raises(ge.InvalidSignature):
                ge.open(token, identities=google.identities, senders=senders, limits=limits)
        assert len(verifications) == min(trials, 4)


def _pkesk(keyid: bytes) -> bytes:
    value = int.from_bytes(secrets.token_bytes(256), "big") >> 1
    return op.packet(op.TAG_PKESK, b"\x03" + keyid + b"\x01" + op.mpi(value))


def _enc_keyid(key: ge.Key) -> bytes:
    (part,) = [p for p in key.material.parts if p.can_encrypt()]  # type: ignore[attr-defined]
    return part.keyid  # type: ignore[no-any-return]


PGP_NAMES = ("g1", "g2", "g3", "p1", "p2", "u1")


@pytest.mark.parametrize("trials", [1, 3, 7])
def test_pgp_many_pkesks_cost_at_most_max_trials(
    pgp_keys: Party, rsa_ops: list[int], seipd_keys: list[int], trials: int
) -> None:
    """32 PKESKs (the most a message may carry), none of them decrypting, six identity keys:
    never more than max_trials private-key operations, each followed by a full SEIPD
    decryption with a 32-byte key (RFC 3218: every failure costs what a wrong key costs)."""
    ids = pgp_keys.secret(*PGP_NAMES)
    limits = ge.Limits(max_trials=trials)
    _, seipd = _real_message(pgp_keys)
    body = op.packet(op.TAG_SEIPD, seipd)
    named = [_enc_keyid(pgp_keys.keys[n]) for n in PGP_NAMES]
    n = pgp.MAX_RECIPIENTS
    cases = {
        # (PKESKs, private-key operations expected)
        "32 wildcards": (b"".join(_pkesk(b"\0" * 8) for _ in range(n)), min(trials, 6 * n)),
        "32 naming g1": (b"".join(_pkesk(named[0]) for _ in range(n)), min(trials, n)),
        "32 naming our six keys": (
            b"".join(_pkesk(named[i % 6]) for i in range(n)), min(trials, n)),
        "31 unknown + 1 wildcard": (
            b"".join(_pkesk(secrets.token_bytes(8)) for _ in range(n - 1)) + _pkesk(b"\0" * 8),
            min(trials, 6)),
        "32 unknown": (b"".join(_pkesk(secrets.token_bytes(8)) for _ in range(n)), 0),
    }  # fmt: skip
    for name, (pkesks, expected) in cases.items():
        rsa_ops.clear()
        seipd_keys.clear()
        with pytest.raises(ge.InvalidEnvelope):
            ge.open(pkesks + body, identities=ids, senders=pgp_keys.public("p1"), limits=limits)
        assert len(rsa_ops) == expected, name
        assert seipd_keys == [32] * expected, name


def test_pgp_signature_checks_are_bounded_per_signature(
    pgp_keys: Party, verifications: list[int]
) -> None:
    """16 signatures (the most) naming no key, six sender keys: at most max_trials checks
    each, so at most MAX_SIGNATURES * max_trials for the message."""
    inner = _signed_inner(pgp_keys)
    ops_body, literal, sig_body = (b for _, b in op.read_packets(inner, max_packets=5))
    parsed = op.parse_signature(sig_body)
    assert parsed is not None
    # The same signature without issuer subpackets (hashed: creation time only).
    hashed = op.subpacket(op.SUB_CREATED, struct.pack(">I", parsed.created or 0))
    anonymous = (
        bytes((4, parsed.sigtype, parsed.pkalg, parsed.hashalg))
        + struct.pack(">H", len(hashed)) + hashed + b"\0\0" + parsed.left16 + op.mpi(1)
    )  # fmt: skip
    count = pgp.MAX_SIGNATURES
    content = (
        op.packet(op.TAG_OPS, ops_body) * count
        + op.packet(op.TAG_LITERAL, literal)
        + op.packet(op.TAG_SIGNATURE, anonymous) * count
    )
    senders = pgp_keys.public(*PGP_NAMES)
    for trials in (1, 3):
        verifications.clear()
        with pytest.raises(ge.InvalidSignature):
            ge.open(encrypt_raw(content, [pgp_keys.keys["g1"]]), identities=pgp_keys.secret("g1"),
                    senders=senders, limits=ge.Limits(max_trials=trials))  # fmt: skip
        assert 0 < len(verifications) <= count * trials


# -- PKCS#1 v1.5: every failure class does the same work -----------------------------------------
@pytest.fixture
def content_decryptions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """CEK length of every A256CBC-HS512 content decryption (JWE)."""
    seen: list[int] = []
    enc = jx.registries(LIMITS.max_plaintext, LIMITS.max_envelope).jwe.get_enc(
        "A256CBC-HS512"
    )
    real = enc.decrypt

    def spy(ciphertext: bytes, tag: bytes, cek: bytes, iv: bytes, aad: bytes) -> bytes:
        seen.append(len(cek))
        return real(ciphertext, tag, cek, iv, aad)

    monkeypatch.setattr(enc, "decrypt", spy)
    return seen


def rsa1_5_classes(key: ge.Key) -> dict[str, bytes]:
    """Encrypted-key values for each way an RSA1_5 CEK can be wrong (256-byte modulus)."""
    pub = key.material.native.public_key()  # type: ignore[attr-defined]
    pkcs1 = padding.PKCS1v15()
    n = pub.public_numbers().n
    return {
        "valid padding, wrong 64-byte CEK": pub.encrypt(secrets.token_bytes(64), pkcs1),
        "valid padding, 32-byte CEK": pub.encrypt(secrets.token_bytes(32), pkcs1),
        "valid padding, 65-byte CEK": pub.encrypt(secrets.token_bytes(65), pkcs1),
        "valid padding, empty CEK": pub.encrypt(b"", pkcs1),
        "invalid padding": pow(int.from_bytes(b"\x00\x03" + b"\xff" * 254, "big"), 65537, n)
        .to_bytes(256, "big"),
        "random bytes": (int.from_bytes(secrets.token_bytes(256), "big") % n).to_bytes(256, "big"),
    }


@pytest.mark.parametrize("kid", [True, False], ids=["kid", "no-kid"])
def test_rsa1_5_failure_classes_do_the_same_work(
    six_jwe_identities: ge.KeySet,
    rsa_ops: list[int],
    content_decryptions: list[int],
    kid: bool,
) -> None:
    """Same outcome, message, absent cause; the same number of RSA operations and of content
    decryptions, each with a CEK of the right size: nothing but time could tell the classes
    apart, and benchmarks/timing_rsa1_5.py measures that."""
    key = list(six_jwe_identities)[1 if kid else 0]
    head = {"alg": "RSA1_5", "enc": "A256CBC-HS512", **({"kid": key.kid} if kid else {})}
    good = craft_raw(head, MSG, key.public())
    h, _ek, *rest = good.split(b".")
    seen: dict[str, tuple[Any, ...]] = {}
    for name, ek in rsa1_5_classes(key).items():
        rsa_ops.clear()
        content_decryptions.clear()
        with pytest.raises(ge.InvalidEnvelope) as info:
            ge.open(b".".join([h, _b64(ek), *rest]), identities=six_jwe_identities, senders=None,
                    allow_unsigned=True)  # fmt: skip
        exc = info.value
        seen[name] = (type(exc), str(exc), exc.__cause__, exc.__context__, len(rsa_ops),
                      tuple(content_decryptions))  # fmt: skip
    expected_ops = 1 if kid else LIMITS.max_trials
    assert set(seen.values()) == {
        (ge.InvalidEnvelope, "invalid envelope", None, None, expected_ops, (64,) * expected_ops)
    }, seen
    rsa_ops.clear()
    assert ge.open(good, identities=six_jwe_identities, senders=None, allow_unsigned=True) == MSG


def pkesk_classes() -> dict[str, bytes]:
    """PKESK plaintexts for each way a PGP session key can be wrong."""
    sk = secrets.token_bytes(32)
    good = op.session_key_payload(op.SYM_AES256, sk)
    return {
        "valid, wrong session key": op.session_key_payload(op.SYM_AES256, secrets.token_bytes(32)),
        "bad checksum": good[:-2] + bytes((good[-2] ^ 1, good[-1])),
        "CAST5": op.session_key_payload(3, sk[:16]),
        "unknown algorithm": op.session_key_payload(200, sk),
        "AES256 with a 16-byte key": op.session_key_payload(op.SYM_AES256, sk[:16]),
        "one byte": b"\x09",
        "invalid padding": b"",
    }


def test_pkesk_failure_classes_do_the_same_work(
    pgp_keys: Party, rsa_ops: list[int], seipd_keys: list[int]
) -> None:
    g1 = pgp_keys.keys["g1"]
    (enc,) = [p for p in g1.material.parts if p.can_encrypt()]  # type: ignore[attr-defined]
    n = enc.public_key.public_numbers().n
    _, seipd = _real_message(pgp_keys)
    seen: dict[str, tuple[Any, ...]] = {}
    for name, payload in pkesk_classes().items():
        if payload:
            value = enc.public_key.encrypt(payload, padding.PKCS1v15())
        else:  # block type 3: never valid PKCS#1 v1.5
            value = pow(int.from_bytes(b"\x00\x03" + b"\xff" * 254, "big"), 65537, n).to_bytes(
                256, "big"
            )
        mpi = op.mpi(int.from_bytes(value, "big"))
        pkesk = op.packet(op.TAG_PKESK, b"\x03" + enc.keyid + b"\x01" + mpi)
        rsa_ops.clear()
        seipd_keys.clear()
        with pytest.raises(ge.InvalidEnvelope) as info:
            ge.open(pkesk + op.packet(op.TAG_SEIPD, seipd), identities=pgp_keys.secret("g1"),
                    senders=pgp_keys.public("p1"))  # fmt: skip
        exc = info.value
        seen[name] = (type(exc), str(exc), exc.__cause__, exc.__context__, len(rsa_ops),
                      tuple(seipd_keys))  # fmt: skip
    expected = (ge.InvalidEnvelope, "invalid envelope", None, None, 1, (32,))
    assert set(seen.values()) == {expected}, seen
